"""Which shard holds which workspace: the placement map of a sharded environment (pure).

A shard's run costs grow with the square of the bindings it holds (the file backend rewrites the
shard's whole state after each step), so shards should hold about the same number of bindings.
A hash of the workspace name cannot promise that: at 1,000 bindings in 40 shards it left some
shards empty and others with three workspaces. So each workspace is *placed* once, on the shard
holding the fewest bindings at that moment, and the choice is recorded:

* a placed workspace never moves (only ``shard-move`` rewrites the map), so adding bindings
  anywhere moves nothing, and an entry is never removed: a workspace whose bindings all went
  and later come back returns to the same shard;
* a workspace with bindings but no entry yet is declared by no shard until a runner places it
  (the program only reads the map; the runner and the watcher write it before they run), so
  two runs can never create the same workspace in two shards;
* what names no workspace, and leftovers of a workspace never placed, fall back to the hash
  shard (:func:`components.sharding.shard_of`), so exactly one shard revokes them.

The map is stored as JSON (:func:`placement_json`) in a ConfigMap of the browser namespace
(:mod:`components.placement_store`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from components.inert import escape
from components.sharding import ShardScope, workspace_named

FORMAT = 1
"""The map's format version, written beside the entries."""


class PlacementError(ValueError):
    """The stored map cannot be used; the message names the field and what to run."""


class Placement:
    """An immutable map of workspace name -> shard index."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, int] | None = None) -> None:
        self._entries: Mapping[str, int] = MappingProxyType(dict(entries or {}))

    @property
    def entries(self) -> Mapping[str, int]:
        return self._entries

    def shard_of(self, workspace: str) -> int | None:
        """The shard ``workspace`` was placed on, ``None`` if it never was."""
        return self._entries.get(workspace)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Placement) and dict(self._entries) == dict(other._entries)

    def __hash__(self) -> int:
        return hash(frozenset(self._entries.items()))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Placement({len(self._entries)} workspaces)"

    def beyond(self, shards: int) -> dict[str, int]:
        """Entries naming a shard an environment of ``shards`` shards does not have."""
        return {w: i for w, i in self._entries.items() if i >= shards}

    def extended(self, bindings: Mapping[str, int], shards: int) -> Placement:
        """This map with every workspace of ``bindings`` (name -> binding count) that has no
        entry placed on the least-loaded shard, largest first (ties: the lower shard index).

        Load counts only the bindings that exist now, so the shards a deleted workspace left
        fill up again. Largest first keeps the spread within one workspace's size.
        """
        loads = shard_loads(self, bindings, shards)
        new = sorted(
            (w for w, count in bindings.items() if count > 0 and w not in self._entries),
            key=lambda w: (-bindings[w], w),
        )
        if not new:
            return self
        entries = dict(self._entries)
        for workspace in new:
            index = min(range(shards), key=lambda i: (loads[i], i))
            entries[workspace] = index
            loads[index] += bindings[workspace]
        return Placement(entries)

    def with_entries(self, entries: Mapping[str, int]) -> Placement:
        """This map with ``entries`` added or replaced (``shard-move``)."""
        return Placement({**self._entries, **entries})


def shard_loads(placement: Placement, bindings: Mapping[str, int], shards: int) -> list[int]:
    """The bindings each of ``shards`` shards holds under ``placement``."""
    loads = [0] * shards
    for workspace, count in bindings.items():
        index = placement.shard_of(workspace)
        if index is not None and index < shards:
            loads[index] += count
    return loads


def binding_counts(manifests: Iterable[Any]) -> Counter[str]:
    """Workspace name -> the number of binding manifests naming it (valid or not: a shard
    declares every binding of its workspaces, and reports the invalid ones)."""
    counts: Counter[str] = Counter()
    for manifest in manifests:
        workspace = workspace_named(manifest)
        if workspace is not None:
            counts[workspace] += 1
    return counts


def placement_json(placement: Placement, shards: int) -> str:
    """The stored form: sorted, one line per workspace, so a diff of two maps is readable."""
    body = {
        "format": FORMAT,
        "shards": shards,
        "workspaces": dict(sorted(placement.entries.items())),
    }
    return json.dumps(body, indent=1, sort_keys=True) + "\n"


def parse_placement(text: str, where: str) -> Placement:
    """The map stored in ``text``; :class:`PlacementError` naming ``where`` and the field."""
    try:
        body = json.loads(text)
    except ValueError as error:
        raise PlacementError(f"{where}: not JSON ({error})") from error
    if not isinstance(body, Mapping):
        raise PlacementError(f"{where}: must be a JSON object")
    if body.get("format") != FORMAT:
        raise PlacementError(
            f"{where}: format: expected {FORMAT}, found {escape(repr(body.get('format')))}"
        )
    workspaces = body.get("workspaces")
    if not isinstance(workspaces, Mapping):
        raise PlacementError(f"{where}: workspaces: must be an object of workspace -> shard")
    entries: dict[str, int] = {}
    for workspace, index in workspaces.items():
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise PlacementError(
                f"{where}: workspaces.{escape(str(workspace))}: must be a shard index "
                f"(a whole number from 0), not {escape(repr(index))}"
            )
        entries[str(workspace)] = index
    return Placement(entries)


def require_within(placement: Placement, shards: int, where: str) -> None:
    """Refuse a map that places a workspace on a shard the environment does not have: that
    shard's workspaces would be declared by none and so deleted."""
    beyond = placement.beyond(shards)
    if beyond:
        named = ", ".join(f"{escape(w)} -> {i}" for w, i in sorted(beyond.items())[:5])
        raise PlacementError(
            f"{where} places {len(beyond)} workspace(s) on shards an environment of {shards} "
            f"shards does not have ({named}); move them with `scripts/watch shard-move`"
        )


def unplaced_workspaces(scope: ShardScope, manifests: Iterable[Any]) -> list[str]:
    """The workspaces ``manifests`` name that ``scope``'s placement map has not placed (none
    without a map): their bindings wait, declared by no shard, for a runner to place them."""
    placement = scope.placement
    if placement is None or scope.whole:
        return []
    return sorted(w for w in binding_counts(manifests) if placement.shard_of(w) is None)
