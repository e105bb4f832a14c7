"""Which shard stack of an environment owns which workspace (pure: no Pulumi, no I/O).

An environment (``prod``) with ``shards: N`` above 1 keeps its resources in N stacks named
``prod.shard-0`` ... ``prod.shard-<N-1>``; the environment's own stack then holds nothing. A
workspace belongs to exactly one shard, so its connection group lives in the same stack as
every binding to it (the group is deleted with its last binding, in the same run). Which shard
is recorded in the environment's placement map (:mod:`components.placement`), which keeps
shards even; a workspace the map does not name has its leftovers scanned by the shard a jump
consistent hash of its name gives (Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash
Algorithm", 2014), which is also where environments sharded before the map put everything.

A manifest whose workspace cannot be read (an invalid binding) and Guacamole leftovers that name
no workspace belong to shard 0, so exactly one stack reports and revokes them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.placement import Placement

SHARD_STACK = re.compile(r"^(?P<environment>.+)\.shard-(?P<index>0|[1-9][0-9]*)$")
MAX_SHARDS = 1024
"""More shards than this buys nothing: each shard is a stack with its own engine start-up."""
BINDINGS_PER_SHARD = 20
"""Sizing rule: a shard's run costs the square of its bindings (the file backend rewrites the
shard's state after every step) and shards hold whole workspaces, so a shard holds up to the
mean plus one workspace. At 25 per shard, 1,000 bindings in workspaces of 20 users made 40
shards of which 10 held two workspaces; at 20 per shard (50 shards of one workspace each) the
same ``up`` from empty took 292 s instead of 362 s and its CLI a third less CPU (one sample
each; ``python -m bench.shards``, README *Benchmarks*)."""
LARGE_STACK = 200
"""A stack with more bindings than this gets a warning naming the shard count to set."""


class ShardingError(ValueError):
    """A stack name and its ``shards`` setting disagree; the message says what to run."""


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash of a 64-bit ``key`` into ``range(buckets)``."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    key &= 0xFFFFFFFFFFFFFFFF
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        jump = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def shard_of(workspace: str, shards: int) -> int:
    """The shard of ``workspace`` among ``shards``: stable across runs, machines and versions."""
    digest = hashlib.sha256(workspace.encode("utf-8", "surrogatepass")).digest()
    return jump_hash(int.from_bytes(digest[:8], "big"), shards)


def workspace_named(manifest: Any) -> str | None:
    """The workspace a binding manifest names, valid or not (``None``: it names none).

    Read raw, because the program keeps the workspace as written (it is the group name).
    """
    spec = manifest.get("spec") if isinstance(manifest, Mapping) else None
    workspace = spec.get("workspace") if isinstance(spec, Mapping) else None
    return workspace if isinstance(workspace, str) and workspace else None


def shard_stack_name(environment: str, index: int) -> str:
    """``prod`` -> ``prod.shard-3`` (a fully qualified ``org/project/prod`` keeps its prefix)."""
    return f"{environment}.shard-{index}"


def split_stack_name(stack: str) -> tuple[str, int | None]:
    """``prod.shard-3`` -> ``("prod", 3)``; any other name -> ``(name, None)``."""
    match = SHARD_STACK.match(stack)
    if match is None:
        return stack, None
    return match.group("environment"), int(match.group("index"))


@dataclass(frozen=True)
class ShardScope:
    """The part of an environment one stack declares."""

    index: int = 0
    count: int = 1
    placement: Placement | None = field(default=None, compare=False)
    """Where each workspace was placed (:mod:`components.placement`); ``None``: by hash alone."""

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def first(self) -> bool:
        """Shard 0 also carries what belongs to the environment as a whole."""
        return self.index == 0

    def owns(self, workspace: str | None) -> bool:
        """Whether this stack declares the bindings of ``workspace`` (``None``: a manifest
        naming none). With a placement map, a workspace it has not placed is nobody's yet."""
        return self.owner(workspace) == self.index

    def owner(self, workspace: str | None) -> int | None:
        """The index of the stack that declares the bindings of ``workspace`` (``None``: a
        placed environment's workspace it has not placed yet), whichever stack asks: one
        pass over the bindings sorts them for every shard of the environment."""
        if self.whole or workspace is None:
            return 0
        if self.placement is not None:
            return self.placement.shard_of(workspace)
        return shard_of(workspace, self.count)

    def home(self, workspace: str | None) -> int:
        """The shard holding ``workspace``'s leftovers: where it is placed, else its hash
        shard (shard 0 for what names no workspace)."""
        if self.whole or workspace is None:
            return 0
        placed = None if self.placement is None else self.placement.shard_of(workspace)
        return shard_of(workspace, self.count) if placed is None else placed

    def scans(self, workspace: str | None) -> bool:
        """Whether this stack looks for leftovers of ``workspace``: its placed shard, else
        its hash shard, so leftovers of a workspace no binding names any more are revoked
        by exactly one stack."""
        if self.whole:
            return True
        return self.home(workspace) == self.index

    def listed_workspaces(self) -> frozenset[str] | None:
        """The workspaces whose objects this stack lists by label; ``None``: it lists the
        whole namespace (one stack, or shards placed by hash alone, whose own workspaces
        cannot be enumerated)."""
        if self.whole or self.placement is None:
            return None
        return frozenset(w for w, i in self.placement.entries.items() if i == self.index)

    def placed_elsewhere(self) -> frozenset[str]:
        """The workspaces placed on other shards: their leftovers are never this stack's to
        scan (:meth:`scans`), so its reads can leave them out."""
        if self.whole or self.placement is None:
            return frozenset()
        return frozenset(w for w, i in self.placement.entries.items() if i != self.index)

    def placed(self, placement: Placement | None) -> ShardScope:
        return replace(self, placement=placement)

    def describe(self) -> str:
        return "the whole environment" if self.whole else f"shard {self.index} of {self.count}"


WHOLE = ShardScope()


def suggested_shards(bindings: int) -> int:
    """The shard count that keeps an environment of ``bindings`` at the sizing rule."""
    return max(1, min(MAX_SHARDS, -(-bindings // BINDINGS_PER_SHARD)))


def size_warning(stack: str, own: int, environment_total: int, scope: ShardScope) -> str | None:
    """Why ``stack`` is too large to run cheaply, with the setting that fixes it (or ``None``).

    Every run of a stack costs all of its resources, and a file backend rewrites its whole state
    after each step, so a first roll-out of thousands of bindings in one stack takes hours.
    """
    if own <= LARGE_STACK:
        return None
    environment, _ = split_stack_name(stack.rsplit("/", 1)[-1])
    shards = max(suggested_shards(environment_total), scope.count + 1)
    return (
        f"stack {stack} holds {own} bindings ({scope.describe()}): every run diffs all of "
        f"them and a first roll-out rewrites its state after each step; set `shards: {shards}` "
        f"in Pulumi.{environment}.yaml and run `scripts/watch shard-move --stack {environment}` "
        "(see README, Sharded environments)"
    )


def scope_for_stack(stack: str, shards: int) -> ShardScope:
    """The scope of ``stack`` in an environment of ``shards`` shards, or why it has none.

    Running the environment's own stack of a sharded environment would declare nothing and so
    delete everything it still holds; running a shard stack of an unsharded environment would
    do the same to that shard. Both are refused with the command to run instead.
    """
    if not 1 <= shards <= MAX_SHARDS:
        raise ShardingError(f"shards: must be between 1 and {MAX_SHARDS}, not {shards}")
    environment, index = split_stack_name(stack.rsplit("/", 1)[-1])
    if shards == 1:
        if index is not None:
            raise ShardingError(
                f"stack {stack} is a shard of {environment}, but {environment} has shards: 1; "
                f"move its resources back with `scripts/watch shard-move --stack "
                f"{environment}` before running it"
            )
        return WHOLE
    if index is None:
        raise ShardingError(
            f"stack {stack} has shards: {shards}, so its resources live in the stacks "
            f"{shard_stack_name(environment, 0)} ... {shard_stack_name(environment, shards - 1)}; "
            f"run `scripts/watch up --stack {environment}` (or pulumi on one shard stack)"
        )
    if index >= shards:
        raise ShardingError(
            f"stack {stack} is shard {index}, but {environment} has only {shards} shards; "
            f"move its resources with `scripts/watch shard-move --stack {environment}`"
        )
    return ShardScope(index, shards)
