"""The part of a Kubernetes object the program declares, compared with the recorded one,
managed fields included.

Why: the pod template is the browser's lock-down (image, security contexts, mounts, no
service-account token, the workspace label its NetworkPolicy selects) and the Service's spec is
where Guacamole reaches it (a headless ClusterIP Service, no node port, no external IP).
pulumi-kubernetes diffs the program's inputs against the recorded inputs, so a ``kubectl edit``
that sets ``privileged: true``, mounts a host path, swaps the image or turns the Service into a
``NodePort`` is never seen by ``up``, and a refresh does not help either: the fields it adds are
not in the inputs, and a changed field keeps its recorded input. Two comparisons find every such
edit without knowing the object's schema:

* every field the state records is live with the same value (the server adds defaults, so the
  live object may hold more; resource quantities compare by value, and an empty list or map,
  which the server drops, counts as present);
* no field the state does not record is owned by another field manager (``managedFields``): a
  field the API server defaulted or allocated has no manager, one set by hand or by another tool
  has one. The ``kubectl rollout restart`` annotation is allowed: it restarts the browser, it
  opens nothing. So are the additions of the field managers a stack accepts
  (``driftAcceptedFieldManagers``: a policy engine's background mutation, say), which a repair
  would otherwise undo at every check, restarting running browsers each time. A field the state
  records stays the program's whoever changed it.

:func:`restored` is what a repair writes back, accepted additions kept. Pure.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.utils import parse_quantity

from components.inert import escape
from components.manifests import FIELD_MANAGER

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_EMPTY: tuple[Any, ...] = (None, {}, [])
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Path = tuple[str, ...]


@dataclass(frozen=True)
class Scope:
    """Where the compared part of an object lives, and what else a repair leaves in place."""

    keys: tuple[str, ...]
    allowed: frozenset[Path] = frozenset()
    """Fields another manager may add (``managedFields`` form, relative to the part)."""
    kept: tuple[str, ...] = ()
    """Top-level fields of the part a repair keeps from the live object when the state does
    not record them: what the server allocated and will not let change."""

    @property
    def text(self) -> str:
        return ".".join(self.keys)

    def part(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """The compared part of ``body`` (empty when absent)."""
        node: Any = body
        for key in self.keys:
            node = node.get(key) if isinstance(node, Mapping) else None
        return node if isinstance(node, Mapping) else {}

    def managed(self, fields: Any) -> Any:
        """The part's subtree of a ``FieldsV1`` tree, or None."""
        return _subtree(fields, tuple(f"f:{key}" for key in self.keys))


POD_TEMPLATE = Scope(
    ("spec", "template"),
    allowed=frozenset({("f:metadata", "f:annotations", f"f:{RESTARTED_AT}")}),
)
SERVICE_SPEC = Scope(("spec",), kept=("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"))


def changed_fields(want: Any, have: Any, path: str, extra_items: bool = False) -> list[str]:
    """Where ``have`` lacks a field of ``want`` or holds another value (pure).

    A list must hold exactly the recorded items, in order; with ``extra_items`` a list of
    objects (containers, volumes, environment variables) only has to hold each recorded item
    somewhere, since an accepted manager may have added one (whose fields ``managedFields``
    accounts for). A list of plain values (``capabilities.drop``, ``args``) stays exact.
    """
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return [path]
        found: list[str] = []
        for key, value in want.items():
            if value in _EMPTY and have.get(key) in _EMPTY:
                continue
            found += changed_fields(value, have.get(key), _field(path, key), extra_items)
        return found
    if isinstance(want, list):
        if not isinstance(have, list):
            return [path]
        if extra_items and all(isinstance(item, Mapping) for item in want):
            return _missing_items(want, have, path)
        if len(have) != len(want):
            return [path]
        found = []
        for index, (item, live) in enumerate(zip(want, have, strict=True)):
            found += changed_fields(item, live, f"{path}[{index}]", extra_items)
        return found
    return [] if _same_value(want, have, path) else [path]


def _missing_items(want: list[Any], have: list[Any], path: str) -> list[str]:
    """Each recorded item that no live item holds, described against the live item in its
    place (or as missing)."""
    found: list[str] = []
    for index, item in enumerate(want):
        if any(not changed_fields(item, live, path, True) for live in have):
            continue
        where = f"{path}[{index}]"
        beside = have[index] if index < len(have) else None
        found += changed_fields(item, beside, where, True) or [where]
    return found


def _field(path: str, key: str) -> str:
    """``path.key``, or ``path[key]`` for a key such as a label name with dots or slashes."""
    return f"{path}.{key}" if _NAME.fullmatch(key) else f"{path}[{key}]"


def _same_value(want: Any, have: Any, path: str) -> bool:
    if want == have:
        return True
    if ".resources." not in path or not isinstance(want, str | int) or have is None:
        return False
    try:
        return bool(parse_quantity(want) == parse_quantity(have))
    except ValueError:
        return False


def _leaves(tree: Mapping[str, Any], prefix: Path = ()) -> Iterator[Path]:
    """Every owned path of a ``FieldsV1`` tree; ``.`` marks the node itself as owned."""
    for key, sub in tree.items():
        if key == ".":
            yield prefix
        elif isinstance(sub, Mapping) and sub:
            yield from _leaves(sub, (*prefix, key))
        else:
            yield (*prefix, key)


def _subtree(tree: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _declared(node: Any, path: Path) -> bool:
    """Whether ``path`` (``managedFields`` form) names a field of the recorded ``node``.

    ``k:{...}`` names a list item by its merge keys; a key the recorded item leaves out (the
    server defaulted it, as a port's ``protocol``) does not count against it.
    """
    for step in path:
        kind, _, name = step.partition(":")
        if kind == "f" and isinstance(node, Mapping) and name in node:
            node = node[name]
        elif kind == "k" and isinstance(node, list):
            keys = _json(name)
            if not isinstance(keys, dict) or not keys:
                return False
            node = _keyed(node, keys)
            if node is None:
                return False
        elif kind == "v" and isinstance(node, list):
            return _json(name) in node
        else:
            return False
    return True


def _json(text: str) -> Any:
    """A ``managedFields`` key's JSON; None when it is not JSON (anyone may write the list)."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def foreign_additions(
    scope: Scope, recorded: Mapping[str, Any], live: Mapping[str, Any]
) -> list[tuple[str, Path]]:
    """(manager, path) of every field of the part that another manager owns and the state does
    not record (pure). Subresource entries (``scale``, ``status``) cannot touch the part."""
    entries = [
        e
        for e in (live.get("metadata") or {}).get("managedFields") or []
        if isinstance(e, Mapping) and not e.get("subresource")
    ]
    ours = [scope.managed(e.get("fieldsV1")) for e in entries if e.get("manager") == FIELD_MANAGER]
    want = scope.part(recorded)
    found: list[tuple[str, Path]] = []
    for entry in entries:
        manager = str(entry.get("manager") or "")
        tree = scope.managed(entry.get("fieldsV1"))
        if manager == FIELD_MANAGER or not isinstance(tree, Mapping):
            continue
        for path in _leaves(tree):
            if path in scope.allowed or any(_subtree(t, path) is not None for t in ours):
                continue
            if not _declared(want, path):
                found.append((manager, path))
    return found


def readable(scope: Scope, path: Path) -> str:
    """A ``managedFields`` path as ``spec.template.spec.containers[name=x].image`` (inert)."""
    text = scope.text
    for step in path:
        kind, _, name = step.partition(":")
        if kind == "f":
            text = _field(text, name)
        elif kind == "k" and isinstance(keys := _json(name), dict):
            text += "[" + ",".join(f"{k}={v}" for k, v in keys.items()) + "]"
        else:
            text += f"[{name}]"
    return escape(text, 200)


def spec_drift(
    scope: Scope,
    recorded: Mapping[str, Any],
    live: Mapping[str, Any],
    accepted: Collection[str] = (),
) -> tuple[str, ...]:
    """The drifted fields of the part, as readable paths (pure); additions by the ``accepted``
    field managers are not drift."""
    fields = [
        escape(path, 200)
        for path in changed_fields(
            scope.part(recorded), scope.part(live), scope.text, extra_items=bool(accepted)
        )
    ]
    fields += [
        f"{readable(scope, path)} (set by {escape(manager, 60)})"
        for manager, path in foreign_additions(scope, recorded, live)
        if manager not in accepted
    ]
    return tuple(fields)


def restored(
    scope: Scope,
    recorded: Mapping[str, Any],
    live: Mapping[str, Any],
    accepted: Collection[str] = (),
) -> dict[str, Any]:
    """The part a repair writes: the recorded one, with the allowed additions, the additions
    of the ``accepted`` field managers and the kept fields the live object holds."""
    part = copy.deepcopy(dict(scope.part(recorded)))
    have = scope.part(live)
    for key in scope.kept:
        if key not in part and key in have:
            part[key] = copy.deepcopy(have[key])
    for path in scope.allowed:
        _copy_field(have, part, path)
    for manager, path in foreign_additions(scope, recorded, live):
        if manager in accepted:
            _copy_field(have, part, path)
    return part


def _copy_field(have: Any, part: Any, path: Path) -> None:
    """Copy the field at ``path`` (``managedFields`` form) from ``have`` into ``part``.

    Only that field: a map or list item on the way that ``part`` lacks is created holding no
    more than its merge keys, so what other managers own in it is not carried along.
    """
    for index, step in enumerate(path):
        kind, _, name = step.partition(":")
        last = index == len(path) - 1
        if kind == "f" and isinstance(have, Mapping) and isinstance(part, dict) and name in have:
            value = have[name]
            if last or not isinstance(value, Mapping | list):
                part[name] = copy.deepcopy(value)
                return
            if not isinstance(part.get(name), Mapping | list):
                part[name] = {} if isinstance(value, Mapping) else []
            have, part = value, part[name]
        elif kind == "k" and isinstance(have, list) and isinstance(part, list):
            keys = _json(name)
            source = _keyed(have, keys) if isinstance(keys, dict) and keys else None
            if source is None:
                return
            target = _keyed(part, keys)
            if target is None:
                target = copy.deepcopy(keys)
                part.append(target)
            have, part = source, target
        elif kind == "v" and isinstance(part, list):
            value = _json(name)
            if value not in part:
                part.append(value)
            return
        else:
            return


def _keyed(items: list[Any], keys: Mapping[str, Any]) -> Any:
    """The list item whose merge keys are ``keys`` (a key the item leaves out, defaulted by
    the server, does not count against it), or None."""
    return next(
        (
            item
            for item in items
            if isinstance(item, Mapping) and all(item.get(k, v) == v for k, v in keys.items())
        ),
        None,
    )
