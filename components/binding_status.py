"""Write the outcome back to each binding's status subresource.

What is written (a JSON merge patch of ``.status``; other status fields are left alone):

* provisioned: ``statusText: READY``, ``deploymentName``, ``replicas``: the Deployment's observed
  ``status.replicas`` (0 when it has none), which is what readers of the ``/scale`` subresource
  expect; the legacy operator never filled it. The write waits up to
  :data:`SETTLE_SECONDS` for the Deployment controller to reach the requested count, then writes
  what it observes;
* expired: ``statusText: EXPIRED``, ``replicas: 0`` (its browser objects are being removed);
* invalid but addressable: ``statusText: INVALID: <field>: <reason>``, ``replicas: 0``, the
  binding's text escaped (:mod:`components.inert`);
* for both, ``deploymentName`` is removed: the status must not name a Deployment that is gone,
  or one the legacy operator left that the revocation removes. The desired value is ``""``
  (``CLEARED``; the engine drops ``None`` inside maps), sent as a merge-patch ``null`` and read
  back as ``""`` when the field is absent.

Each write that changes what a reader cares about also posts a Kubernetes Event on the binding
(:func:`status_event`, :mod:`components.binding_events`): Created or Adopted, Scaled, Revoked,
Refused.

Deleting the resource (binding removed from the source, or ``writeBindingStatus`` turned off)
leaves the binding untouched: either it no longer exists, or the status was accurate when written.

The patch only happens when the desired status differs from the recorded one (``diff`` compares
exactly), so a no-op ``pulumi up`` makes no API calls. ``read`` fetches the live status, so
``pulumi refresh`` (or ``up --refresh``) notices a status someone else changed and rewrites it;
``status.replicas`` counts as unchanged while it equals the Deployment's observed count.

Kubernetes access is resolved in ``configure()`` from the ``kubeconfig`` setting or the
environment (see :mod:`components.kube_client`); nothing but the class reference is pickled
(:mod:`components.dynamic_provider`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from components import binding_events
from components.binding_events import BindingEvent, Reason
from components.bindings import GROUP, PLURAL, VERSION
from components.dynamic_provider import StatelessProvider, contains_unknown, is_unknown
from components.inert import escape, neutralise
from components.kube_client import client, new_api_client

PROJECT = "awms-browser-workspaces"
READY = "READY"
EXPIRED = "EXPIRED"
INVALID_PREFIX = "INVALID: "
STATUS_TEXT_MAX = 256
SETTLE_SECONDS = 10.0
_SETTLE_POLL = 0.25
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
    """``field`` and ``reason`` are raw binding text; they are escaped here."""
    detail = f"{escape(field)}: {escape(reason)}" if field else escape(reason)
    return {
        "statusText": neutralise(INVALID_PREFIX + detail, STATUS_TEXT_MAX),
        "replicas": 0,
        "deploymentName": CLEARED,
    }


def status_event(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], *, note: str, taken_over: bool
) -> BindingEvent | None:
    """The event a status write deserves (``old`` is ``None`` on the first write).

    ``note`` names the subject, already escaped: the browser workspace for READY, the expiry for
    EXPIRED, the field and reason for INVALID. A rewrite nobody needs to hear about (a status text
    repaired after drift) gets no event.
    """
    text = str(new.get("statusText") or "")
    before = old or {}
    old_text = str(before.get("statusText") or "")
    replicas = new.get("replicas")
    if text == READY:
        if old_text != READY or before.get("deploymentName") != new.get("deploymentName"):
            if taken_over and old is None:
                return BindingEvent(Reason.ADOPTED, f"took over {note}; replicas {replicas}")
            return BindingEvent(Reason.CREATED, f"provisioned {note}; replicas {replicas}")
        if before.get("replicas") != replicas:
            return BindingEvent(Reason.SCALED, f"scaled {note} to {replicas} replica(s)")
        return None
    if text == EXPIRED and old_text != EXPIRED:
        return BindingEvent(Reason.REVOKED, f"access revoked: {note}")
    if text.startswith(INVALID_PREFIX) and text != old_text:
        return BindingEvent(
            Reason.REFUSED, f"binding refused, no browser workspace is provisioned: {note}"
        )
    return None


def normalise_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """The engine hands numbers over as floats; the CRD wants ``replicas`` as an integer."""
    out = dict(status)
    if isinstance(out.get("replicas"), float):
        out["replicas"] = int(out["replicas"])
    return out


class BindingStatusProvider(StatelessProvider):
    """Patches ``/status`` of one AnalyticsWorkspaceBinding and posts its Events.

    Only the class reference is pickled: no kubeconfig path, no client, no lock.
    """

    _kubeconfig: str | None = None
    _api: client.CustomObjectsApi | None = None
    _apps: client.AppsV1Api | None = None
    _core: client.CoreV1Api | None = None
    _lock: threading.Lock | None = None

    def configure(self, req: ConfigureRequest) -> None:
        value = req.config.get(f"{PROJECT}:kubeconfig") or req.config.get("kubeconfig")
        self._kubeconfig = value if isinstance(value, str) and value else None
        self._api = self._apps = self._core = None
        self._lock = threading.Lock()

    def _connect(self) -> None:
        # Up to four gRPC worker threads share this provider instance.
        lock = self._lock or threading.Lock()
        self._lock = lock
        with lock:
            if self._api is None or self._apps is None or self._core is None:
                api_client = new_api_client(self._kubeconfig)
                self._api = self._api or client.CustomObjectsApi(api_client)
                self._apps = self._apps or client.AppsV1Api(api_client)
                self._core = self._core or client.CoreV1Api(api_client)

    def _custom_objects(self) -> client.CustomObjectsApi:
        if self._api is None:
            self._connect()
        assert self._api is not None
        return self._api

    def _deployments(self) -> client.AppsV1Api:
        if self._apps is None:
            self._connect()
        assert self._apps is not None
        return self._apps

    def _events(self) -> client.CoreV1Api:
        if self._core is None:
            self._connect()
        assert self._core is not None
        return self._core

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
        # ``deployment`` follows from status.deploymentName and the browser namespace (a change
        # of either replaces the Deployment too); ``note`` and ``takenOver`` only word Events.
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        namespace, name = props["bindingNamespace"], props["bindingName"]
        return CreateResult(id_=f"{namespace}/{name}", outs=self._write(props, None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old_status = olds.get("status") if isinstance(olds.get("status"), Mapping) else None
        return UpdateResult(outs=self._write(news, normalise_status(old_status or {})))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Leave the binding alone (see the module docstring)."""

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._live_status(props["bindingNamespace"], props["bindingName"])
        wanted = props.get("status") or {}
        # A vanished binding reads as an empty status, so the next up tries to write again.
        observed = {
            key: (live or {}).get(key, CLEARED if key in _CLEARABLE else None) for key in wanted
        }
        deployment = props.get("deployment")
        if live is not None and "replicas" in wanted and isinstance(deployment, Mapping):
            # The recorded value is the requested count; the binding is in sync while it shows
            # what the Deployment shows. Out of sync, record anything but the requested count,
            # so the next up rewrites it.
            actual = self._observed_replicas(deployment, None)
            shown = observed["replicas"]
            if shown == actual:
                observed["replicas"] = wanted["replicas"]
            elif shown == wanted["replicas"]:
                observed["replicas"] = None
        return ReadResult(id_, {**props, "status": observed, "patched": live is not None})

    def _write(self, props: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        status = normalise_status(props["status"])
        written = dict(status)
        deployment = props.get("deployment")
        if isinstance(deployment, Mapping):
            written["replicas"] = self._observed_replicas(deployment, status.get("replicas"))
        namespace, name = props["bindingNamespace"], props["bindingName"]
        body = {
            key: (None if key in _CLEARABLE and value == CLEARED else value)
            for key, value in written.items()
        }
        uid = self._patch(namespace, name, body)
        if uid is not None:
            event = status_event(
                old,
                status,
                note=str(props.get("note") or ""),
                taken_over=bool(props.get("takenOver")),
            )
            if event is not None:
                binding_events.post(self._events(), namespace, name, uid or None, event)
        return {
            **props,
            "status": status,
            "observedReplicas": written.get("replicas"),
            "patched": uid is not None,
        }

    def _observed_replicas(self, deployment: Mapping[str, Any], wanted: Any) -> int:
        """The Deployment's ``status.replicas`` (0 when absent or gone), waiting up to
        :data:`SETTLE_SECONDS` for it to reach ``wanted`` (``None``: do not wait)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            try:
                body = self._deployments().read_namespaced_deployment(
                    str(deployment["name"]),
                    str(deployment["namespace"]),
                    _request_timeout=_REQUEST_TIMEOUT,
                )
            except client.ApiException as error:
                if error.status == 404:
                    return 0
                raise
            observed = int((body.status.replicas if body.status else None) or 0)
            if wanted is None or observed == wanted or time.monotonic() >= deadline:
                return observed
            time.sleep(_SETTLE_POLL)

    def _patch(self, namespace: str, name: str, status: dict[str, Any]) -> str | None:
        """The binding's uid ("" if the answer had none), or ``None`` if it does not exist."""
        try:
            body = self._custom_objects().patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": status},
                _request_timeout=_REQUEST_TIMEOUT,
            )
        except client.ApiException as error:
            if error.status == 404:
                return None  # not in the cluster (file source, or deleted meanwhile)
            raise
        return binding_events.uid_of(body) or ""

    def _live_status(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            body = self._custom_objects().get_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=_REQUEST_TIMEOUT
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        status = body.get("status") if isinstance(body, Mapping) else None
        return dict(status) if isinstance(status, Mapping) else {}


class BindingStatus(pulumi.dynamic.Resource, module="awms", name="BindingStatus"):
    """The status one binding should show; written when it changes.

    ``deployment`` (``{"namespace", "name"}``) is the Deployment whose observed replicas the
    status mirrors; ``note`` (escaped) describes the subject in the binding's Events;
    ``taken_over`` says the binding's recorded status already named this workspace, so its first
    write reports an adoption rather than a creation.
    """

    patched: pulumi.Output[bool]
    status: pulumi.Output[dict[str, Any]]
    observedReplicas: pulumi.Output[int | None]  # noqa: N815 - the engine's property name

    def __init__(
        self,
        resource_name: str,
        *,
        binding_namespace: str,
        binding_name: str,
        status: pulumi.Input[Mapping[str, pulumi.Input[Any]]],
        deployment: Mapping[str, str] | None = None,
        note: str = "",
        taken_over: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            BindingStatusProvider(),
            resource_name,
            {
                "bindingNamespace": binding_namespace,
                "bindingName": binding_name,
                "status": status,
                "deployment": dict(deployment) if deployment else None,
                "note": note,
                "takenOver": taken_over,
                "observedReplicas": None,
                "patched": None,
            },
            opts,
        )
