"""Which Deployments the stack manages, read from its state (``pulumi stack export``).

The login fast path may only scale a Deployment this stack created or adopted, never one it
merely shares a name with. The state is the authority: every ``kubernetes:apps/v1:Deployment``
parented under a ``BrowserWorkspace`` component is one of ours, and its recorded ``uid`` pins the
exact object (a Deployment deleted and re-created by someone else has another uid and is left
alone). Pure: the caller passes the ``deployment`` object of an export.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.watch.targets import BROWSER_WORKSPACE_TYPE

DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"


@dataclass(frozen=True)
class ManagedDeployment:
    """One Deployment the stack manages, as recorded by the last run that touched it."""

    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def managed_deployments(deployment: Mapping[str, Any] | None) -> dict[str, ManagedDeployment]:
    """Deployment name -> the managed Deployment, for every browser workspace in the state.

    Resources pending deletion and Deployments without a recorded uid (never created, or a
    failed create) are left out: the fast path must not act on them.
    """
    resources = [
        r
        for r in (deployment or {}).get("resources") or []
        if isinstance(r, Mapping) and r.get("urn") and not r.get("delete")
    ]
    components = {str(r["urn"]) for r in resources if r.get("type") == BROWSER_WORKSPACE_TYPE}
    managed: dict[str, ManagedDeployment] = {}
    for resource in resources:
        if resource.get("type") != DEPLOYMENT_TYPE or resource.get("parent") not in components:
            continue
        outputs = resource.get("outputs")
        metadata = outputs.get("metadata") if isinstance(outputs, Mapping) else None
        if not isinstance(metadata, Mapping):
            continue
        name, namespace, uid = (metadata.get(k) for k in ("name", "namespace", "uid"))
        if all(isinstance(v, str) and v for v in (name, namespace, uid)):
            managed[str(name)] = ManagedDeployment(str(namespace), str(name), str(uid))
    return managed
