"""Placing an environment's new workspaces on shards before a run (the runner's side).

Before an environment run (``up``, ``preview``, the watcher's start-up) every workspace that has
bindings gets an entry in the placement map (:mod:`components.placement`); the watcher places a
workspace it has not seen before as its first binding arrives. ``up`` and the watcher write the
map (:mod:`components.placement_store`) before any shard runs; a preview, which may not write,
hands its tentative map to the program in a file instead.

When no map is stored yet, it is built from the shards' own state first: each workspace a shard
already holds (its per-binding outputs name the workspace) stays there. That covers an
environment sharded before the map existed (placed by hash) as well as a map that was deleted,
so neither moves nor deletes anything; only workspaces no shard holds are placed afresh.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from components.inert import escape
from components.placement import (
    Placement,
    binding_counts,
    placement_json,
    require_within,
    shard_loads,
)
from components.placement_store import PLACEMENT_FILE_ENV, PlacementStore, StoredPlacement
from components.sharding import split_stack_name
from components.watch.shard_plan import GROUP_TYPE, resource_text
from components.watch.shards import stack_outputs

log = logging.getLogger(__name__)

Deployment = Callable[[str], Mapping[str, Any]]


def held_counts(deployments: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """Workspace -> the bindings the stacks hold for it: those their last runs' outputs name,
    at least one for a workspace whose connection group is in a state (a run that failed
    before it exported its outputs still left its group)."""
    counts: Counter[str] = Counter()
    for deployment in deployments:
        counts.update(_held(deployment))
    return counts


def held_placement(stacks: Iterable[str], deployment: Deployment) -> Placement:
    """Workspace -> the shard holding it (:func:`held_counts`), read from each shard's state."""
    entries: dict[str, int] = {}
    for stack in stacks:
        _, index = split_stack_name(stack.rsplit("/", 1)[-1])
        if index is None:
            continue
        for workspace in _held(deployment(stack)):
            if entries.setdefault(workspace, index) != index:
                log.warning(
                    "workspace %s is held by shards %d and %d; it stays in shard %d",
                    escape(workspace),
                    entries[workspace],
                    index,
                    min(entries[workspace], index),
                )
                entries[workspace] = min(entries[workspace], index)
    return Placement(entries)


def _held(deployment: Mapping[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    by_binding = stack_outputs(deployment).get("workspaces")
    for summary in (by_binding if isinstance(by_binding, Mapping) else {}).values():
        workspace = summary.get("workspace") if isinstance(summary, Mapping) else None
        if isinstance(workspace, str) and workspace:
            counts[workspace] += 1
    for resource in deployment.get("resources") or []:
        if str(resource.get("type", "")).endswith(GROUP_TYPE):
            group = resource_text(resource, "group_name")
            if group is not None and group not in counts:
                counts[group] = 1
    return counts


class PlacementBook:
    """The map one runner process works with: placed before runs, looked up by routing."""

    def __init__(
        self, store: PlacementStore, shards: int, stacks: list[str], deployment: Deployment
    ) -> None:
        self.store = store
        self.shards = shards
        self._stacks = stacks
        self._deployment = deployment
        self._lock = threading.Lock()
        self._current: Placement | None = None

    @property
    def current(self) -> Placement | None:
        return self._current

    def locate(self, workspace: str) -> int | None:
        current = self._current
        return None if current is None else current.shard_of(workspace)

    def place(self, manifests: Iterable[Any], *, write: bool, also: str | None = None) -> Placement:
        """The map with every workspace of ``manifests`` (and ``also``, whose first binding
        may not be in them yet) placed; stored when ``write``."""
        counts = binding_counts(manifests)
        if also is not None:
            counts[also] = max(1, counts[also])
        with self._lock:

            def change(stored: StoredPlacement) -> Placement:
                return self._base(stored).extended(counts, self.shards)

            if write:
                placement = self.store.update(change, self.shards)
            else:
                placement = change(self.store.read())
            require_within(placement, self.shards, self.store.where)
            self._current = placement
        loads = shard_loads(placement, counts, self.shards)
        log.info(
            "placement: %d workspace(s) on %d shard(s), %d to %d bindings per shard",
            sum(1 for w in counts if placement.shard_of(w) is not None),
            self.shards,
            min(loads, default=0),
            max(loads, default=0),
        )
        return placement

    def _base(self, stored: StoredPlacement) -> Placement:
        if stored.resource_version is not None:
            return stored.placement
        held = held_placement(self._stacks, self._deployment)
        if len(held):
            log.warning(
                "%s does not exist; rebuilt from the shards' state (%d workspace(s) stay where "
                "they are)",
                self.store.where,
                len(held),
            )
        return held


def handed_over(placement: Placement, shards: int, env: dict[str, str]) -> None:
    """Write ``placement`` to a file the programs of this process's runs read, instead of the
    stored map (a preview, which may not store it)."""
    handle, path = tempfile.mkstemp(prefix="awms-placement-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(placement_json(placement, shards))
    atexit.register(_remove, path)
    env[PLACEMENT_FILE_ENV] = path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
