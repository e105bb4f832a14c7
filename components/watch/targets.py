"""Which URNs belong to which binding, read from the stack's state (``pulumi stack export``).

A targeted ``up`` needs the exact URNs of one browser workspace: the ``BrowserWorkspace``
component (named after the legacy deployment name, see :func:`components.naming.deployment_name`),
every resource parented under it, and the ``BindingStatus`` writer of each binding it serves.
Reading them from the state rather than re-deriving URN strings keeps this correct if a child is
added or renamed: whatever the last full run recorded is what gets targeted.

The index is rebuilt after every full run (the only runs that add or remove resources) and
answers "is this binding fully deployed?": a binding missing from it cannot be targeted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

BROWSER_WORKSPACE_TYPE = "awms:index:BrowserWorkspace"
"""``components.browser_workspace.TYPE``, repeated so the watcher does not import the provider
SDK (a unit test keeps the two equal)."""
STATUS_TYPE_SUFFIX = ":BindingStatus"


@dataclass(frozen=True)
class PendingOperation:
    """An operation a killed ``pulumi`` left unfinished (``pending_operations`` in the state)."""

    type: str
    urn: str


@dataclass(frozen=True)
class UrnIndex:
    workspaces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Deployment name -> the component's URN followed by all its descendants' URNs."""
    statuses: Mapping[str, str] = field(default_factory=dict)
    """Binding key (``namespace/name``) -> URN of its BindingStatus resource."""
    pending: tuple[PendingOperation, ...] = ()

    @classmethod
    def from_deployment(cls, deployment: Mapping[str, Any] | None) -> UrnIndex:
        """Index the ``deployment`` object of a ``pulumi stack export``."""
        deployment = deployment or {}
        resources = [
            r for r in deployment.get("resources") or [] if isinstance(r, Mapping) and r.get("urn")
        ]
        live = [r for r in resources if not r.get("delete")]
        children: dict[str, list[str]] = {}
        for resource in live:
            parent = resource.get("parent")
            if isinstance(parent, str) and parent:
                children.setdefault(parent, []).append(str(resource["urn"]))
        workspaces = {
            urn_name(str(r["urn"])): tuple(_subtree(str(r["urn"]), children))
            for r in live
            if r.get("type") == BROWSER_WORKSPACE_TYPE
        }
        statuses: dict[str, str] = {}
        for resource in live:
            if not str(resource.get("type", "")).endswith(STATUS_TYPE_SUFFIX):
                continue
            inputs = resource.get("inputs") or {}
            namespace, name = inputs.get("bindingNamespace"), inputs.get("bindingName")
            if isinstance(namespace, str) and isinstance(name, str):
                statuses[f"{namespace}/{name}"] = str(resource["urn"])
        pending = tuple(
            PendingOperation(str(op.get("type", "")), str((op.get("resource") or {}).get("urn")))
            for op in deployment.get("pending_operations") or []
            if isinstance(op, Mapping)
        )
        return cls(workspaces, statuses, pending)

    def urns_for(
        self, deployment_names: Iterable[str], binding_keys: Iterable[str]
    ) -> tuple[str, ...] | None:
        """Every URN of these workspaces and status writers; ``None`` if any is not deployed."""
        urns: list[str] = []
        for name in deployment_names:
            subtree = self.workspaces.get(name)
            if not subtree:
                return None
            urns += subtree
        for key in binding_keys:
            status = self.statuses.get(key)
            if status is None:
                return None
            urns.append(status)
        return tuple(dict.fromkeys(urns))

    def owner(self, urn: str) -> tuple[str, str] | None:
        """``("workspace", deployment name)`` or ``("status", binding key)`` owning ``urn``."""
        for key, status in self.statuses.items():
            if status == urn:
                return ("status", key)
        for name, subtree in self.workspaces.items():
            if urn in subtree:
                return ("workspace", name)
        return None


def urn_name(urn: str) -> str:
    """The resource name: the last ``::``-separated part of a URN."""
    return urn.rsplit("::", 1)[-1]


def _subtree(root: str, children: Mapping[str, list[str]]) -> list[str]:
    out, stack = [], [root]
    while stack:
        urn = stack.pop()
        out.append(urn)
        stack.extend(reversed(children.get(urn, [])))
    return out
