"""Write the outcome back to each binding's status subresource.

What is written (a JSON merge patch of ``.status``; other status fields are left alone):

* provisioned: ``statusText: READY``, ``deploymentName``, ``replicas`` (the Deployment's
  ``spec.replicas``, so ``kubectl get awsb`` and the ``/scale`` subresource show it; the legacy
  operator never filled it);
* expired: ``statusText: EXPIRED``, ``replicas: 0`` (its browser objects are being removed);
* invalid but addressable: ``statusText: INVALID: <field>: <reason>``, ``replicas: 0``;
* for both, ``deploymentName`` is removed: the status must not name a Deployment that is gone,
  or one the legacy operator left that the revocation removes. The desired value is ``""``
  (``CLEARED``; the engine drops ``None`` inside maps), sent as a merge-patch ``null`` and read
  back as ``""`` when the field is absent.

Deleting the resource (binding removed from the source, or ``writeBindingStatus`` turned off)
leaves the binding untouched: either it no longer exists, or the status was accurate when written.

The patch only happens when the desired status differs from the recorded one (``diff`` compares
exactly), so a no-op ``pulumi up`` makes no API calls. ``read`` fetches the live status, so
``pulumi refresh`` (or ``up --refresh``) notices a status someone else changed and rewrites it.

Kubernetes access is resolved in ``configure()`` from the ``kubeconfig`` setting or the
environment (see :mod:`components.kube_client`); nothing but the class reference is pickled
(:mod:`components.dynamic_provider`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pulumi
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from components.bindings import GROUP, PLURAL, VERSION
from components.dynamic_provider import StatelessProvider, contains_unknown, is_unknown
from components.kube_client import new_api_client

PROJECT = "awms-browser-workspaces"
READY = "READY"
EXPIRED = "EXPIRED"
INVALID_PREFIX = "INVALID: "
STATUS_TEXT_MAX = 256
_REQUEST_TIMEOUT = (10, 30)
_IDENTITY = ("bindingNamespace", "bindingName")
CLEARED = ""
"""A desired ``deploymentName`` of ``""`` means: no such field in the live status."""
_CLEARABLE = ("deploymentName",)


def ready_status(deployment_name: str, replicas: pulumi.Input[int]) -> dict[str, Any]:
    return {"statusText": READY, "deploymentName": deployment_name, "replicas": replicas}


def expired_status() -> dict[str, Any]:
    return {"statusText": EXPIRED, "replicas": 0, "deploymentName": CLEARED}


def invalid_status(field: str, reason: str) -> dict[str, Any]:
    text = f"{INVALID_PREFIX}{field}: {reason}" if field else f"{INVALID_PREFIX}{reason}"
    if len(text) > STATUS_TEXT_MAX:
        text = text[: STATUS_TEXT_MAX - 3] + "..."
    return {"statusText": text, "replicas": 0, "deploymentName": CLEARED}


def normalise_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """The engine hands numbers over as floats; the CRD wants ``replicas`` as an integer."""
    out = dict(status)
    if isinstance(out.get("replicas"), float):
        out["replicas"] = int(out["replicas"])
    return out


class BindingStatusProvider(StatelessProvider):
    """Patches ``/status`` of one AnalyticsWorkspaceBinding.

    Only the class reference is pickled: no kubeconfig path, no client, no lock.
    """

    _kubeconfig: str | None = None
    _api: client.CustomObjectsApi | None = None
    _lock: threading.Lock | None = None

    def configure(self, req: ConfigureRequest) -> None:
        value = req.config.get(f"{PROJECT}:kubeconfig") or req.config.get("kubeconfig")
        self._kubeconfig = value if isinstance(value, str) and value else None
        self._api = None
        self._lock = threading.Lock()

    def _custom_objects(self) -> client.CustomObjectsApi:
        # Up to four gRPC worker threads share this provider instance.
        lock = self._lock or threading.Lock()
        self._lock = lock
        with lock:
            if self._api is None:
                self._api = client.CustomObjectsApi(new_api_client(self._kubeconfig))
            return self._api

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        # Values not known yet (preview) are checked when they are known.
        failures = [
            CheckFailure(key, "must be a non-empty string")
            for key in _IDENTITY
            if not is_unknown(news.get(key))
            and (not isinstance(news.get(key), str) or not news.get(key))
        ]
        status = news.get("status")
        if not is_unknown(status) and (
            not isinstance(status, Mapping)
            or not (is_unknown(status.get("statusText")) or status.get("statusText"))
        ):
            failures.append(CheckFailure("status", "must be an object with statusText"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Exact comparison; a value not known yet counts as a change (a replacement for the
        binding's identity), the way the engine expects a provider to answer during preview."""
        replaces = [
            key for key in _IDENTITY if is_unknown(news.get(key)) or olds.get(key) != news.get(key)
        ]
        new_status = news.get("status")
        changed = (
            bool(replaces)
            or contains_unknown(new_status)
            or normalise_status(olds.get("status") or {}) != normalise_status(new_status or {})
        )
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        namespace, name = props["bindingNamespace"], props["bindingName"]
        return CreateResult(id_=f"{namespace}/{name}", outs=self._write(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._write(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Leave the binding alone (see the module docstring)."""

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._live_status(props["bindingNamespace"], props["bindingName"])
        wanted = props.get("status") or {}
        # A vanished binding reads as an empty status, so the next up tries to write again.
        observed = {
            key: (live or {}).get(key, CLEARED if key in _CLEARABLE else None) for key in wanted
        }
        return ReadResult(id_, {**props, "status": observed, "patched": live is not None})

    def _write(self, props: dict[str, Any]) -> dict[str, Any]:
        status = normalise_status(props["status"])
        body = {
            key: (None if key in _CLEARABLE and value == CLEARED else value)
            for key, value in status.items()
        }
        patched = self._patch(props["bindingNamespace"], props["bindingName"], body)
        return {**props, "status": status, "patched": patched}

    def _patch(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        try:
            self._custom_objects().patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": status},
                _request_timeout=_REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 404:
                return False  # not in the cluster (file source, or deleted meanwhile)
            raise
        return True

    def _live_status(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            body = self._custom_objects().get_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=_REQUEST_TIMEOUT
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        status = body.get("status") if isinstance(body, Mapping) else None
        return dict(status) if isinstance(status, Mapping) else {}


class BindingStatus(pulumi.dynamic.Resource, module="awms", name="BindingStatus"):
    """The status one binding should show; written when it changes."""

    patched: pulumi.Output[bool]
    status: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        resource_name: str,
        *,
        binding_namespace: str,
        binding_name: str,
        status: pulumi.Input[Mapping[str, pulumi.Input[Any]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            BindingStatusProvider(),
            resource_name,
            {
                "bindingNamespace": binding_namespace,
                "bindingName": binding_name,
                "status": status,
                "patched": None,
            },
            opts,
        )
