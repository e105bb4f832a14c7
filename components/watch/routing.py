"""Which shard stacks a watch event concerns (pure: no Pulumi, no cluster).

A sharded environment (:mod:`components.sharding`) keeps each workspace, with every binding to
it, in one shard stack. The watcher runs one worker per shard stack, so every event must reach
exactly the workers whose stacks it changes:

* a binding goes to the shard of its workspace; a binding whose workspace cannot be read goes to
  shard 0, which reports and revokes it (as the program itself decides);
* a binding re-pointed to another workspace goes to the old shard (which revokes it) *and* the
  new one (which grants it); an added binding has only a new shard, a deleted one only an old;
* an ``AnalyticsWorkspace`` goes to the shard holding its bindings;
* an expiry concerns the binding's shard: each worker watches the expiries of its own bindings
  (:meth:`ShardRouter.owned`).

An unsharded stack is the one-shard case: everything goes to shard 0.

Where a workspace lives is ``locate``'s answer: the placement map's
(:class:`components.watch.placing.PlacementBook`); ``None`` (not placed yet) concerns no shard.
Without a ``locate``, the hash of the name decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from components.sharding import shard_of, workspace_named

Manifest = Mapping[str, Any]
Locate = Callable[[str], "int | None"]


@lru_cache(maxsize=65536)
def _cached_shard(workspace: str, shards: int) -> int:
    """``shard_of`` hashes with SHA-256; a worker filters every binding on every look."""
    return shard_of(workspace, shards)


def manifest_shard(
    manifest: Manifest | None, shards: int, locate: Locate | None = None
) -> int | None:
    """The shard of a binding manifest: its workspace's, shard 0 when it names none."""
    workspace = workspace_named(manifest)
    if shards <= 1 or workspace is None:
        return 0
    if locate is not None:
        return locate(workspace)
    return _cached_shard(workspace, shards)


def binding_shards(
    old: Manifest | None, new: Manifest | None, shards: int, locate: Locate | None = None
) -> frozenset[int]:
    """The shards a binding event concerns: the old manifest's and the new one's."""
    found = (manifest_shard(m, shards, locate) for m in (old, new) if m is not None)
    return frozenset(index for index in found if index is not None)


def workspace_name(key: str, old: Manifest | None, new: Manifest | None) -> str:
    """An AnalyticsWorkspace's name: ``metadata.name``, else the last part of its key."""
    for manifest in (new, old):
        metadata = manifest.get("metadata") if isinstance(manifest, Mapping) else None
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        if isinstance(name, str) and name:
            return name
    return key.rsplit("/", 1)[-1]


def workspace_shards(
    key: str,
    old: Manifest | None,
    new: Manifest | None,
    shards: int,
    locate: Locate | None = None,
) -> frozenset[int]:
    """The shard an AnalyticsWorkspace event concerns (the one holding its bindings)."""
    if old is None and new is None:
        return frozenset()
    if shards <= 1:
        return frozenset({0})
    name = workspace_name(key, old, new)
    index = _cached_shard(name, shards) if locate is None else locate(name)
    return frozenset() if index is None else frozenset({index})


class ShardRouter:
    """Routing for one watcher: the environment's shard count and the shards it runs.

    ``--stack prod.shard-2`` runs shard 2 alone: events of the other shards are not its own.
    """

    def __init__(self, shards: int, indices: Iterable[int], locate: Locate | None = None) -> None:
        self.shards = max(1, shards)
        self.indices = frozenset(indices)
        self.locate = locate

    def for_binding(self, old: Manifest | None, new: Manifest | None) -> frozenset[int]:
        return binding_shards(old, new, self.shards, self.locate) & self.indices

    def for_workspace(self, key: str, old: Manifest | None, new: Manifest | None) -> frozenset[int]:
        return workspace_shards(key, old, new, self.shards, self.locate) & self.indices

    def owned(self, bindings: Mapping[str, Manifest], index: int) -> dict[str, Manifest]:
        """The bindings shard ``index`` declares (all of them when unsharded)."""
        if self.shards <= 1:
            return dict(bindings)
        return {
            key: manifest
            for key, manifest in bindings.items()
            if manifest_shard(manifest, self.shards, self.locate) == index
        }
