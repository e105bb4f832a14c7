"""Plan a targeted run: which bindings, workspaces and URNs one burst of logins touches.

A binding's resources depend on every binding sharing its (workspace, username), because they
share one Deployment whose replicas is the largest requested (see
:class:`components.planning.WorkspacePlan`). So the scope of a targeted run is the whole
workspace plan of each changed binding: its component subtree and the status writer of every
binding in it.

The check is made with the program's own pure parsing and planning on the watcher's cache, so a
binding the program would not provision (invalid, expired, duplicate) or one that is not fully
in the stack yet is never targeted: it goes to a full run instead. That also guarantees the
scoped program (see :mod:`components.watch.overrides`) declares every targeted resource, so a
targeted run can never delete what it targets by omission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from components.bindings import parse_binding
from components.planning import WorkspacePlan, plan_workspaces
from components.watch.targets import UrnIndex


@dataclass(frozen=True)
class TargetedScope:
    """Everything one targeted run updates, and the binding manifests that declare it."""

    binding_keys: tuple[str, ...]
    deployment_names: tuple[str, ...]
    urns: tuple[str, ...]
    manifests: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class NotTargetable:
    """Why the changed bindings need a full run instead."""

    reason: str


def plan_scope(
    keys: Iterable[str],
    bindings: Mapping[str, Mapping[str, Any]],
    index: UrnIndex,
    today: date,
) -> TargetedScope | NotTargetable:
    """Scope a targeted run for ``keys``, given every current binding by ``namespace/name``."""
    plan = plan_workspaces((parse_binding(m, key) for key, m in bindings.items()), today)
    by_binding: dict[str, WorkspacePlan] = {
        binding.key: workspace for workspace in plan.workspaces for binding in workspace.bindings
    }
    chosen: dict[str, WorkspacePlan] = {}
    for key in sorted(set(keys)):
        if key not in bindings:
            return NotTargetable(f"binding {key} no longer exists")
        workspace = by_binding.get(key)
        if workspace is None:
            return NotTargetable(f"binding {key} is not provisioned (invalid or expired)")
        chosen[workspace.deployment_name] = workspace
    binding_keys = tuple(sorted(k for w in chosen.values() for k in w.binding_keys))
    names = tuple(sorted(chosen))
    urns = index.urns_for(names, binding_keys)
    if urns is None:
        return NotTargetable(
            f"the resources of {', '.join(binding_keys)} are not all in the stack yet"
        )
    return TargetedScope(
        binding_keys=binding_keys,
        deployment_names=names,
        urns=urns,
        manifests=tuple(bindings[k] for k in binding_keys),
    )


def bindings_by_workspace(
    bindings: Mapping[str, Mapping[str, Any]], today: date
) -> dict[str, tuple[str, ...]]:
    """Deployment name -> keys of the bindings it serves (to name who a failure affects)."""
    plan = plan_workspaces((parse_binding(m, key) for key, m in bindings.items()), today)
    return {workspace.deployment_name: workspace.binding_keys for workspace in plan.workspaces}
