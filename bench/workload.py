"""The benchmark's input: N AnalyticsWorkspaceBinding objects in the bindings namespace.

Bindings are spread over workspaces ``BINDINGS_PER_WORKSPACE`` at a time (an SDE has far fewer
workspaces than users), so the per-workspace connection group is exercised the way it is in
production. Writing the bindings is set-up, done outside every measured step, through the
kubernetes client (one POST per binding) rather than ``kubectl`` so 1,000 of them take seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from components import naming
from components.bindings import API_VERSION, GROUP, KIND, PLURAL, VERSION

BINDINGS_PER_WORKSPACE = 10
EXPIRES = "2099-12-31"
PREFIX = "bench"


def binding_name(index: int) -> str:
    return f"{PREFIX}-{index:05d}"


def workspace_name(index: int, per_workspace: int = BINDINGS_PER_WORKSPACE) -> str:
    return f"{PREFIX}-ws-{index // per_workspace:04d}"


def username(index: int) -> str:
    return f"user-{index:05d}@example.org"


def deployment_name(index: int) -> str:
    """The browser Deployment the program makes for binding ``index``."""
    return naming.deployment_name(workspace_name(index), username(index))


@dataclass(frozen=True)
class Workload:
    """N bindings in ``namespace``; the first one is the one the "change one" step scales."""

    size: int
    namespace: str
    per_workspace: int = BINDINGS_PER_WORKSPACE
    """Users per workspace (the sharded benchmark uses 20: 1,000 bindings in 50 workspaces)."""

    @property
    def names(self) -> list[str]:
        return [binding_name(index) for index in range(self.size)]

    @property
    def changed(self) -> str:
        """The binding whose ``spec.replicas`` goes 0 -> 1 in the "change one" step."""
        return self.names[0]

    def manifest(self, index: int, replicas: int = 0) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": binding_name(index), "namespace": self.namespace},
            "spec": {
                "workspace": workspace_name(index, self.per_workspace),
                "username": username(index),
                "expires": EXPIRES,
                "replicas": replicas,
            },
        }

    def manifests(self) -> list[dict[str, Any]]:
        return [self.manifest(index) for index in range(self.size)]

    @property
    def workspaces(self) -> int:
        return -(-self.size // self.per_workspace)


class BindingWriter:
    """Creates, rescales and removes the workload's bindings (set-up, never measured)."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = client.CustomObjectsApi(api)

    def create(self, workload: Workload) -> None:
        for body in workload.manifests():
            self._api.create_namespaced_custom_object(
                GROUP, VERSION, workload.namespace, PLURAL, body
            )

    def add(self, body: dict[str, Any]) -> None:
        """Create one binding (a merged "add a binding" edit)."""
        namespace = body["metadata"]["namespace"]
        self._api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    def ensure(self, workload: Workload) -> int:
        """Create the bindings that do not exist yet and put every existing one back to 0
        replicas (an interrupted run may have left a 1); returns how many were created."""
        listed = self._api.list_namespaced_custom_object(GROUP, VERSION, workload.namespace, PLURAL)
        existing = set()
        for item in listed.get("items", []):
            existing.add(item["metadata"]["name"])
            if (item.get("spec") or {}).get("replicas"):
                self.set_replicas(workload, item["metadata"]["name"], 0)
        missing = [i for i, name in enumerate(workload.names) if name not in existing]
        for index in missing:
            self._api.create_namespaced_custom_object(
                GROUP, VERSION, workload.namespace, PLURAL, workload.manifest(index)
            )
        return len(missing)

    def set_replicas(self, workload: Workload, name: str, replicas: int) -> None:
        self._api.patch_namespaced_custom_object(
            GROUP, VERSION, workload.namespace, PLURAL, name, {"spec": {"replicas": replicas}}
        )

    def reset(self, workload: Workload) -> None:
        """Back to the starting point: the changed binding at 0 replicas, no status anywhere."""
        self.set_replicas(workload, workload.changed, 0)
        for name in workload.names:
            self._api.patch_namespaced_custom_object_status(
                GROUP, VERSION, workload.namespace, PLURAL, name, {"status": None}
            )

    def delete_all(self, namespace: str, names: Iterable[str] | None = None) -> None:
        """Remove the named bindings (default: every benchmark binding in ``namespace``)."""
        if names is None:
            listed = self._api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
            names = [
                item["metadata"]["name"]
                for item in listed.get("items", [])
                if item["metadata"]["name"].startswith(f"{PREFIX}-")
            ]
        for name in names:
            try:
                self._api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            except ApiException as error:
                if error.status != 404:
                    raise
