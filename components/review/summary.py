"""The access summary of a change: who gains, who loses and what changes, from state and plan.

Pure: :func:`summarise` compares the logins the stack holds now (:mod:`components.review.current`)
with the plan the program will declare (:func:`components.planning.plan_workspaces`), and adds
the engine's counts and settings changes when there are any (a ``preview``; an ``up`` announces
its summary before the engine runs). Rendering lives in :mod:`components.review.render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from components.bindings import Binding
from components.planning import Plan, WorkspacePlan
from components.review.current import CurrentAccess, CurrentGrant
from components.review.engine import EngineChanges


class Reason(StrEnum):
    """Why a binding stops granting a login."""

    DELETED = "deleted"
    EXPIRED = "expired"
    INVALID = "invalid"
    REPOINTED = "repointed"
    UNRECORDED = "unrecorded"


@dataclass(frozen=True)
class Cause:
    binding: str
    reason: Reason
    detail: str = ""


@dataclass(frozen=True)
class BindingGrant:
    binding: str
    expires: date


@dataclass(frozen=True)
class Granted:
    workspace: str
    username: str
    bindings: tuple[BindingGrant, ...]

    @property
    def until(self) -> date:
        """Access lasts as long as the longest-lived of its bindings."""
        return max(b.expires for b in self.bindings)


@dataclass(frozen=True)
class Revoked:
    workspace: str
    username: str
    causes: tuple[Cause, ...]


@dataclass(frozen=True)
class Changed:
    """One aspect of a login that stays: ``what`` is expiry, replicas, binding added/removed."""

    workspace: str
    username: str
    what: str
    binding: str
    old: str
    new: str


@dataclass(frozen=True)
class Refused:
    binding: str
    field: str
    reason: str


@dataclass(frozen=True)
class AccessSummary:
    granted: tuple[Granted, ...]
    revoked: tuple[Revoked, ...]
    changed: tuple[Changed, ...]
    refused: tuple[Refused, ...]
    engine: EngineChanges | None = None

    @property
    def access_changed(self) -> bool:
        return bool(self.granted or self.revoked or self.changed or self.refused)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "granted": [
                {
                    "workspace": g.workspace,
                    "username": g.username,
                    "until": g.until.isoformat(),
                    "bindings": [
                        {"binding": b.binding, "expires": b.expires.isoformat()} for b in g.bindings
                    ],
                }
                for g in self.granted
            ],
            "revoked": [
                {
                    "workspace": r.workspace,
                    "username": r.username,
                    "causes": [
                        {"binding": c.binding, "reason": str(c.reason), "detail": c.detail}
                        for c in r.causes
                    ],
                }
                for r in self.revoked
            ],
            "changed": [
                {
                    "workspace": c.workspace,
                    "username": c.username,
                    "what": c.what,
                    "binding": c.binding,
                    "old": c.old,
                    "new": c.new,
                }
                for c in self.changed
            ],
            "refused": [
                {"binding": r.binding, "field": r.field, "reason": r.reason} for r in self.refused
            ],
        }
        if self.engine is not None:
            out["engine"] = self.engine.to_json()
        return out


def summarise(
    current: CurrentAccess, plan: Plan, engine: EngineChanges | None = None
) -> AccessSummary:
    """Compare the logins held now with the logins the plan declares."""
    now = current.by_identity()
    wanted = {(p.workspace, p.username): p for p in plan.workspaces}
    granted = tuple(
        Granted(p.workspace, p.username, tuple(BindingGrant(b.key, b.expires) for b in p.bindings))
        for identity, p in sorted(wanted.items())
        if identity not in now
    )
    revoked = tuple(
        Revoked(g.workspace, g.username, _causes(g, plan))
        for identity, g in sorted(now.items())
        if identity not in wanted
    )
    changed = tuple(
        change
        for identity, p in sorted(wanted.items())
        if identity in now
        for change in _changes(now[identity], p, plan)
    )
    refused = tuple(Refused(bad.key, bad.field, bad.reason) for bad in plan.invalid)
    return AccessSummary(granted, revoked, changed, refused, engine)


def _causes(grant: CurrentGrant, plan: Plan) -> tuple[Cause, ...]:
    causes = tuple(_cause(recorded.key, plan) for recorded in grant.bindings)
    if causes:
        return causes
    # No binding recorded for this login: an expired binding may still name it.
    expired = [b for b in plan.expired if b.identity == grant.identity]
    if expired:
        return tuple(Cause(b.key, Reason.EXPIRED, _expired(b)) for b in expired)
    return (Cause("", Reason.UNRECORDED, "no binding grants it any more"),)


def _cause(key: str, plan: Plan) -> Cause:
    for binding in plan.expired:
        if binding.key == key:
            return Cause(key, Reason.EXPIRED, _expired(binding))
    for bad in plan.invalid:
        if bad.key == key:
            return Cause(
                key, Reason.INVALID, f"{bad.field}: {bad.reason}" if bad.field else bad.reason
            )
    for workspace in plan.workspaces:
        if key in workspace.binding_keys:
            return Cause(
                key,
                Reason.REPOINTED,
                f"now grants {workspace.username} workspace {workspace.workspace}",
            )
    return Cause(key, Reason.DELETED, "binding deleted")


def _expired(binding: Binding) -> str:
    return f"expired on {binding.expires.isoformat()}"


def _changes(grant: CurrentGrant, plan: WorkspacePlan, whole: Plan) -> list[Changed]:
    who = (grant.workspace, grant.username)
    changes: list[Changed] = []
    recorded = {b.key: b.expires for b in grant.bindings}
    for binding in plan.bindings:
        if binding.key not in recorded:
            if recorded:  # an unrecorded stack says nothing about which bindings granted it
                changes.append(
                    Changed(*who, "binding added", binding.key, "", binding.expires.isoformat())
                )
            continue
        old = recorded[binding.key]
        if old is not None and old != binding.expires:
            changes.append(
                Changed(*who, "expiry", binding.key, old.isoformat(), binding.expires.isoformat())
            )
    for key in sorted(recorded.keys() - set(plan.binding_keys)):
        changes.append(Changed(*who, "binding removed", key, "", str(_cause(key, whole).reason)))
    if grant.replicas is not None and grant.replicas != plan.replicas:
        changes.append(Changed(*who, "replicas", "", str(grant.replicas), str(plan.replicas)))
    return changes
