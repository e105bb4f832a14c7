"""Who has access now, read from the stack's state (``pulumi stack export``), without I/O.

Access is a Guacamole login ``{workspace}@{username}``: each ``BrowserWorkspace`` in the state
holds one (the user its ``GuacamoleConnection`` carries; a ``GuacamoleUser`` of its own in
states from before the two were one resource), next to the Deployment whose ``spec.replicas``
it runs with.
Which bindings grant it, and until when, comes from the stack output ``workspaces`` (keyed by
binding) and from the ``BindingStatus`` resources; the output is missing for a binding after a
watcher's scoped run or on a stack last updated before the output carried ``expires``, and then
the expiry is simply unknown (no expiry change is claimed for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from components.manifests import USERNAME_ANNOTATION, WORKSPACE_ANNOTATION

WORKSPACE_TYPE = "awms:index:BrowserWorkspace"
_DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"
_STACK_TYPE = "pulumi:pulumi:Stack"
_LOGIN_TYPES = ("guacamole:Connection", "guacamole:User")
"""Resources whose ``username`` input is the login (the connection; the user of older states)."""


@dataclass(frozen=True)
class RecordedBinding:
    key: str
    expires: date | None


@dataclass(frozen=True)
class CurrentGrant:
    """One login that exists now, and the bindings recorded as granting it."""

    workspace: str
    username: str
    deployment_name: str
    replicas: int | None
    bindings: tuple[RecordedBinding, ...]

    @property
    def identity(self) -> tuple[str, str]:
        return (self.workspace, self.username)


@dataclass(frozen=True)
class CurrentAccess:
    grants: tuple[CurrentGrant, ...]

    def by_identity(self) -> dict[tuple[str, str], CurrentGrant]:
        return {grant.identity: grant for grant in self.grants}


def current_access(deployment: Mapping[str, Any] | None) -> CurrentAccess:
    """The logins a stack state (its ``deployment`` part) holds, sorted by workspace and user."""
    resources = [
        r
        for r in (deployment or {}).get("resources") or []
        if isinstance(r, Mapping) and not r.get("delete")
    ]
    children: dict[str, list[Mapping[str, Any]]] = {}
    for resource in resources:
        children.setdefault(str(resource.get("parent") or ""), []).append(resource)
    recorded = _recorded_bindings(resources)
    grants: list[CurrentGrant] = []
    for resource in resources:
        if resource.get("type") != WORKSPACE_TYPE:
            continue
        name = _name(str(resource.get("urn", "")))
        grant = _grant(name, children.get(str(resource.get("urn")), []), recorded.get(name, {}))
        if grant is not None:
            grants.append(grant)
    grants.sort(key=lambda g: g.identity)
    return CurrentAccess(tuple(grants))


def _grant(
    name: str, children: Iterable[Mapping[str, Any]], bindings: Mapping[str, date | None]
) -> CurrentGrant | None:
    identity: tuple[str, str] | None = None
    replicas: int | None = None
    for child in children:
        inputs = child.get("inputs") or {}
        kind = str(child.get("type", ""))
        if kind.endswith(_LOGIN_TYPES) and isinstance(inputs.get("username"), str):
            workspace, _, username = inputs["username"].partition("@")
            identity = (workspace, username)  # a workspace never contains '@'
        elif kind == _DEPLOYMENT_TYPE:
            spec = inputs.get("spec") or {}
            value = spec.get("replicas")
            replicas = int(value) if isinstance(value, int | float) else None
            annotations = ((spec.get("template") or {}).get("metadata") or {}).get(
                "annotations"
            ) or {}
            if identity is None and WORKSPACE_ANNOTATION in annotations:
                identity = (
                    str(annotations[WORKSPACE_ANNOTATION]),
                    str(annotations.get(USERNAME_ANNOTATION, "")),
                )
    if identity is None:
        return None
    recorded = tuple(RecordedBinding(key, bindings[key]) for key in sorted(bindings))
    return CurrentGrant(identity[0], identity[1], name, replicas, recorded)


def _recorded_bindings(resources: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, date | None]]:
    """Deployment name -> binding key -> expiry (``None`` when not recorded)."""
    by_workspace: dict[str, dict[str, date | None]] = {}
    for resource in resources:
        kind = str(resource.get("type", ""))
        if kind == _STACK_TYPE:
            workspaces = (resource.get("outputs") or {}).get("workspaces")
            if not isinstance(workspaces, Mapping):
                continue
            for key, entry in workspaces.items():
                if isinstance(entry, Mapping) and isinstance(entry.get("deploymentName"), str):
                    slot = by_workspace.setdefault(entry["deploymentName"], {})
                    slot[str(key)] = _date(entry.get("expires")) or slot.get(str(key))
        elif kind.endswith("awms:BindingStatus"):
            inputs = resource.get("inputs") or {}
            status = inputs.get("status") or {}
            name = status.get("deploymentName") if isinstance(status, Mapping) else None
            if (
                isinstance(name, str)
                and inputs.get("bindingNamespace")
                and inputs.get("bindingName")
            ):
                key = f"{inputs['bindingNamespace']}/{inputs['bindingName']}"
                by_workspace.setdefault(name, {}).setdefault(key, None)
    return by_workspace


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
