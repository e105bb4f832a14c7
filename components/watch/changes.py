"""Classify one change to a watched object: nothing to do, one binding only, or everything.

Only ``spec`` matters. Status writes (ours, after every run) and metadata edits (labels,
annotations, managed fields) must never trigger a run, or the status writer would drive an
endless loop of updates. A binding whose spec changed only in ``replicas`` and ``comments`` keeps
its identity (workspace, username) and therefore its resource names, so the stack can update just
that binding's resources; every other spec change can add, rename or remove resources and needs
the whole program.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

SCOPED_FIELDS = frozenset({"replicas", "comments"})
"""Binding spec fields whose change leaves the set and the names of resources as they are."""


class ChangeKind(StrEnum):
    IGNORE = "ignore"
    BINDING = "binding"
    FULL = "full"


@dataclass(frozen=True)
class Change:
    """What one watch event asks for; ``key`` is ``namespace/name`` of the object."""

    kind: ChangeKind
    key: str
    reason: str


def classify_binding(
    key: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> Change:
    """A binding appeared, vanished or changed (``None`` = absent)."""
    if old is None and new is None:
        return Change(ChangeKind.IGNORE, key, "absent before and after")
    if old is None:
        return Change(ChangeKind.FULL, key, f"binding {key} added")
    if new is None:
        return Change(ChangeKind.FULL, key, f"binding {key} deleted")
    changed = changed_fields(spec_of(old), spec_of(new))
    if not changed:
        return Change(ChangeKind.IGNORE, key, "spec unchanged")
    fields = ", ".join(f"spec.{name}" for name in sorted(changed))
    if changed <= SCOPED_FIELDS:
        return Change(ChangeKind.BINDING, key, f"binding {key}: {fields} changed")
    return Change(ChangeKind.FULL, key, f"binding {key}: {fields} changed")


def classify_workspace(
    key: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> Change:
    """Any spec-level change to an AnalyticsWorkspace re-runs the whole program.

    The program does not read workspaces today, so such a run is normally a no-op; running it
    keeps the trigger correct if the program starts depending on them (validity, for example).
    """
    if old is None and new is None:
        return Change(ChangeKind.IGNORE, key, "absent before and after")
    if old is None or new is None:
        verb = "added" if old is None else "deleted"
        return Change(ChangeKind.FULL, key, f"workspace {key} {verb}")
    changed = changed_fields(spec_of(old), spec_of(new))
    if not changed:
        return Change(ChangeKind.IGNORE, key, "spec unchanged")
    fields = ", ".join(f"spec.{name}" for name in sorted(changed))
    return Change(ChangeKind.FULL, key, f"workspace {key}: {fields} changed")


def spec_of(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = manifest.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> frozenset[str]:
    """Top-level spec keys whose values differ (a key going missing counts as a change)."""
    return frozenset(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def object_key(manifest: Mapping[str, Any]) -> str | None:
    """``namespace/name`` of a Kubernetes object, or ``None`` when its metadata is unusable."""
    metadata = manifest.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if not isinstance(name, str) or not name:
        return None
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name
