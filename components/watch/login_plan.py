"""Decide what a login (a binding's ``spec.replicas`` change) scales, before any engine run.

Pure: the program's own parsing and planning (:mod:`components.bindings`,
:mod:`components.planning`) applied to the watcher's cache, so the fast path scales exactly the
Deployment and to exactly the replica count the next ``pulumi up`` will declare; anything else
would make the follow-up run undo the fast path. Only the bindings sharing the changed binding's
workspace and username are planned (they share one Deployment, whose replicas is the largest
requested), so the cost does not grow with the fleet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from components.bindings import InvalidBinding, parse_binding
from components.inert import escape
from components.planning import plan_workspaces
from components.watch.changes import spec_of


@dataclass(frozen=True)
class LoginTarget:
    """Scale ``deployment_name`` to ``replicas``; ``binding_keys`` all report it in their status."""

    deployment_name: str
    replicas: int
    binding_keys: tuple[str, ...]


@dataclass(frozen=True)
class Skip:
    """Nothing to scale, and why (escaped text, safe to log)."""

    reason: str


def replicas_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """A login or logout: an existing binding whose ``spec.replicas`` changed.

    A binding that appeared or vanished is left to the full run: its Deployment does not exist
    yet (the fast path never creates), or is about to be deleted.
    """
    if old is None or new is None:
        return False
    return spec_of(old).get("replicas") != spec_of(new).get("replicas")


def plan_login(
    key: str, bindings: Mapping[str, Mapping[str, Any]], today: date
) -> LoginTarget | Skip:
    """The Deployment binding ``key`` is served by and the replicas the program will declare."""
    manifest = bindings.get(key)
    if manifest is None:
        return Skip(f"binding {escape(key)} no longer exists")
    parsed = parse_binding(manifest, key)
    if isinstance(parsed, InvalidBinding):
        return Skip(
            f"binding {escape(key)} is invalid ({escape(parsed.field)}: {escape(parsed.reason)})"
        )
    if parsed.is_expired(today):
        return Skip(f"binding {escape(key)} expired on {parsed.expires.isoformat()}")
    spec = spec_of(manifest)
    peers = (
        parse_binding(other, other_key)
        for other_key, other in bindings.items()
        if spec_of(other).get("workspace") == spec.get("workspace")
        and spec_of(other).get("username") == spec.get("username")
    )
    for workspace in plan_workspaces(peers, today).workspaces:
        if key in workspace.binding_keys:
            return LoginTarget(
                workspace.deployment_name, workspace.replicas, workspace.binding_keys
            )
    return Skip(f"binding {escape(key)} is not provisioned")
