"""Baseline, Kubernetes half: the program's objects written with the plain kubernetes client.

Per binding: POST a Secret, Deployment and Service (bodies from :mod:`bench.raw_objects`, i.e.
the program's own manifests), PATCH the binding's status; DELETE the three objects on removal.
Per workspace: POST its NetworkPolicy before its first binding's objects, DELETE it after its
last. State is read with one LIST per kind, by the label the program's objects carry, and one
LIST of bindings: the least a reconciler can read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench import raw_objects
from components import naming
from components.binding_status import ready_status
from components.bindings import GROUP, PLURAL, VERSION
from components.manifests import FIELD_MANAGER, MANAGED_BY_LABEL, PURPOSE, PURPOSE_LABEL
from components.planning import WorkspacePlan
from components.settings import Settings

SELECTOR = f"{PURPOSE_LABEL}={PURPOSE}"
SHARED_SELECTOR = f"{MANAGED_BY_LABEL}={FIELD_MANAGER}"
"""The workspaces' NetworkPolicies belong to no binding and carry this label instead."""
_TIMEOUT = (10, 60)


@dataclass
class KubeState:
    """Names present per kind, Deployment replicas, and each binding's recorded status."""

    deployments: dict[str, int]
    services: set[str]
    secrets: set[str]
    network_policies: set[str]
    statuses: dict[str, dict[str, Any]]


class KubeObjects:
    """Creates, reads, scales and deletes one namespace's browser objects."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self._core = client.CoreV1Api(api)
        self._apps = client.AppsV1Api(api)
        self._net = client.NetworkingV1Api(api)
        self._custom = client.CustomObjectsApi(api)

    def read(self, bindings_namespace: str) -> KubeState:
        """Four label-selected LISTs in the browser namespace and one LIST of bindings."""
        ns = self.namespace
        # Raw JSON: the client's model classes cost more than the request at 1,000 objects.
        options: dict[str, Any] = {
            "label_selector": SELECTOR,
            "_request_timeout": _TIMEOUT,
            "_preload_content": False,
        }
        deployments = _items(self._apps.list_namespaced_deployment(ns, **options))
        services = _items(self._core.list_namespaced_service(ns, **options))
        secrets = _items(self._core.list_namespaced_secret(ns, **options))
        policies = _items(
            self._net.list_namespaced_network_policy(
                ns, **{**options, "label_selector": SHARED_SELECTOR}
            )
        )
        bindings = self._custom.list_namespaced_custom_object(
            GROUP, VERSION, bindings_namespace, PLURAL, _request_timeout=_TIMEOUT
        )
        return KubeState(
            deployments={
                d["metadata"]["name"]: int(d["spec"].get("replicas") or 0) for d in deployments
            },
            services={s["metadata"]["name"] for s in services},
            secrets={s["metadata"]["name"] for s in secrets},
            network_policies={p["metadata"]["name"] for p in policies},
            statuses={
                f"{b['metadata']['namespace']}/{b['metadata']['name']}": b.get("status") or {}
                for b in bindings.get("items", [])
            },
        )

    def create(self, plan: WorkspacePlan, settings: Settings, password: str) -> None:
        ns = self.namespace
        self._core.create_namespaced_secret(
            ns, raw_objects.secret(plan, settings, password), _request_timeout=_TIMEOUT
        )
        self._apps.create_namespaced_deployment(
            ns, raw_objects.deployment(plan, settings), _request_timeout=_TIMEOUT
        )
        self._core.create_namespaced_service(
            ns, raw_objects.service(plan, settings), _request_timeout=_TIMEOUT
        )

    def create_network_policy(self, workspace: str, settings: Settings) -> None:
        self._net.create_namespaced_network_policy(
            self.namespace,
            raw_objects.network_policy(workspace, settings),
            _request_timeout=_TIMEOUT,
        )

    def delete_network_policy(self, name: str) -> None:
        try:
            self._net.delete_namespaced_network_policy(
                name, self.namespace, _request_timeout=_TIMEOUT
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def scale(self, name: str, replicas: int) -> None:
        self._apps.patch_namespaced_deployment(
            name, self.namespace, {"spec": {"replicas": replicas}}, _request_timeout=_TIMEOUT
        )

    def write_status(self, plan: WorkspacePlan) -> None:
        """The status the program's BindingStatus writes, to every binding of the workspace."""
        status = ready_status(plan.deployment_name, plan.replicas)
        for binding in plan.bindings:
            self._custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                binding.namespace,
                PLURAL,
                binding.name,
                {"status": status},
                _request_timeout=_TIMEOUT,
            )

    def delete(self, name: str, state: KubeState) -> None:
        """Remove whichever of the three objects of deployment ``name`` exist."""
        ns = self.namespace
        deletions: list[tuple[bool, Callable[[str, str], Any], str]] = [
            (name in state.deployments, self._apps.delete_namespaced_deployment, name),
            (
                naming.service_name(name) in state.services,
                self._core.delete_namespaced_service,
                naming.service_name(name),
            ),
            (
                naming.vnc_secret_name(name) in state.secrets,
                self._core.delete_namespaced_secret,
                naming.vnc_secret_name(name),
            ),
        ]
        for present, delete, object_name in deletions:
            if not present:
                continue
            try:
                delete(object_name, ns)
            except ApiException as error:
                if error.status != 404:
                    raise


def _items(response: Any) -> list[dict[str, Any]]:
    """The ``items`` of a LIST response read with ``_preload_content=False``."""
    items: list[dict[str, Any]] = json.loads(response.data).get("items") or []
    return items
