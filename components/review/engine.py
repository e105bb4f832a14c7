"""What the engine says it will do, boiled down: counts per kind of thing, and settings changes.

The engine reports one step per resource (create, update, delete, replace) with the old and new
inputs. A reviewer needs two things from that, not the bodies: how many Kubernetes objects and
Guacamole rows change, and, for a change that is not about access (a new image tag, a hardening
setting), which fields change from what to what across how many Deployments. Access itself
(who may log in where) is worked out from the plan and the state instead, in
:mod:`components.review.summary`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.automation import EngineEvent

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's placeholder for a value only known once the update runs."""
_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 - the engine's secret marker
_COUNTED_OPS = {"create": "create", "update": "update", "delete": "delete", "replace": "replace"}
_ACCESS_FIELDS = {"Deployment": {"spec.replicas"}}
"""Fields whose change is an access matter (reported per user), not a setting."""
_FIELD_PREFIXES = ("spec.template.spec.containers[0].", "spec.template.spec.")
_VALUE_MAX = 60
_CATEGORIES = ("Kubernetes objects", "Guacamole rows", "binding statuses")


@dataclass(frozen=True)
class Step:
    """One engine step, with only what a review needs."""

    op: str
    urn: str
    type: str
    old_inputs: Mapping[str, Any] = field(default_factory=dict)
    new_inputs: Mapping[str, Any] = field(default_factory=dict)
    diffs: tuple[str, ...] = ()


class StepRecorder:
    """An ``on_event`` callback keeping every step that changes something."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def __call__(self, event: EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is None or pre.metadata is None:
            return
        meta = pre.metadata
        op = str(getattr(meta.op, "value", meta.op))
        if op not in _COUNTED_OPS:
            return
        self.steps.append(
            Step(
                op=op,
                urn=meta.urn,
                type=meta.type,
                old_inputs=dict(meta.old.inputs or {}) if meta.old else {},
                new_inputs=dict(meta.new.inputs or {}) if meta.new else {},
                diffs=tuple(meta.diffs or ()),
            )
        )


@dataclass(frozen=True)
class SettingChange:
    """One field changing the same way on ``count`` resources of one kind."""

    kind: str
    field: str
    old: str
    new: str
    count: int


@dataclass(frozen=True)
class EngineChanges:
    counts: Mapping[str, Mapping[str, int]]
    """Category (``Kubernetes objects``, ``Guacamole rows``, ...) -> operation -> steps."""
    settings: tuple[SettingChange, ...]
    updated: Mapping[str, int]
    """Kind -> resources updated for a reason other than access (``Deployment`` -> 2)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": {category: dict(ops) for category, ops in self.counts.items()},
            "updated": dict(self.updated),
            "settings": [
                {"kind": c.kind, "field": c.field, "old": c.old, "new": c.new, "count": c.count}
                for c in self.settings
            ],
        }


def category(resource_type: str) -> str | None:
    """What a reviewer counts; components, providers and generated passwords are not counted."""
    if resource_type.startswith("kubernetes:"):
        return "Kubernetes objects"
    if "guacamole:" in resource_type:
        return "Guacamole rows"
    if resource_type.endswith("awms:BindingStatus"):
        return "binding statuses"
    return None


def kind(resource_type: str) -> str:
    """``kubernetes:apps/v1:Deployment`` -> ``Deployment``; ``...guacamole:User`` -> ``Guacamole
    user``."""
    name = resource_type.rsplit(":", 1)[-1]
    return f"Guacamole {name.lower()}" if "guacamole:" in resource_type else name


def engine_changes(steps: Iterable[Step]) -> EngineChanges:
    """Count the steps and gather the non-access field changes of updated resources."""
    counts: dict[str, dict[str, int]] = {}
    fields: dict[tuple[str, str, str, str], int] = {}
    updated: dict[str, int] = {}
    for step in steps:
        counted = category(step.type)
        if step.op not in _COUNTED_OPS or counted is None:
            continue
        ops = counts.setdefault(counted, {})
        ops[step.op] = ops.get(step.op, 0) + 1
        if step.op not in ("update", "replace") or counted == "binding statuses":
            continue
        what = kind(step.type)
        changed = _setting_changes(what, step)
        if changed:
            updated[what] = updated.get(what, 0) + 1
        for change in changed:
            fields[change] = fields.get(change, 0) + 1
    settings = tuple(
        SettingChange(what, name, old, new, count)
        for (what, name, old, new), count in sorted(fields.items())
    )
    ordered = {name: counts[name] for name in _CATEGORIES if name in counts}
    return EngineChanges(ordered, settings, dict(sorted(updated.items())))


def _setting_changes(what: str, step: Step) -> list[tuple[str, str, str, str]]:
    old = dict(_flatten(step.old_inputs))
    new = dict(_flatten(step.new_inputs))
    ignored = _ACCESS_FIELDS.get(what, set())
    changes = [
        (what, _label(path), _show(old.get(path)), _show(new.get(path)))
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path) and path not in ignored and not _internal(path)
    ]
    if not changes and not old and not new:
        # No inputs in the event (some providers): the engine's changed keys are all we have.
        changes = [(what, key, "?", "?") for key in step.diffs if key not in ignored]
    return changes


def _flatten(value: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping) and _SECRET_SIG not in value:
        for key in sorted(value):
            yield from _flatten(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{path}[{index}]")
    else:
        yield path, "[secret]" if isinstance(value, Mapping) else value


def _internal(path: str) -> bool:
    """Engine bookkeeping such as a dynamic provider's ``__provider``, not a setting."""
    return any(part.startswith("__") for part in path.replace("[", ".").split("."))


def _label(path: str) -> str:
    for prefix in _FIELD_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if value == UNKNOWN:
        return "(known after the update)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= _VALUE_MAX else text[: _VALUE_MAX - 1] + "…"
