"""``shard-move``: move an environment's state between its own stack and shard stacks.

Nothing is recreated: ``pulumi state move`` rewrites the two stacks' states, so every
Kubernetes object and Guacamole row keeps its identity. What goes where is planned from the
current states of all the environment's stacks (:mod:`components.watch.shard_plan`), so a move
stopped halfway is completed by running the command again, and a run with nothing to do says so.

Order, chosen so that every intermediate state is refused by ``up``/``preview``
(:func:`components.watch.shards.require_settled`) until the move is complete:

1. misplaced resources of shard stacks are gathered into the environment's own stack (while
   it holds resources, shard runs are refused);
2. the ``shards`` setting is written (``pulumi config set``): the environment's own stack
   still holds what is to be distributed, so runs stay refused;
3. the environment's own stack's resources are distributed to the shard stacks;
4. stacks the setting gives no role lose their per-stack bookkeeping and, if shard stacks, are
   removed (``pulumi stack rm`` without ``--force``: only an empty stack is removed).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi.automation import CommandError

from components.binding_source import make_source
from components.bindings import parse_binding
from components.inert import escape, neutralise
from components.kube_client import new_api_client
from components.placement import Placement, PlacementError
from components.placement_store import PlacementStore, PlacementStoreError, StoredPlacement
from components.settings import SettingsError
from components.sharding import MAX_SHARDS, split_stack_name
from components.watch import shard_plan
from components.watch.checkpoints import read_deployment
from components.watch.locks import LockKeeper, StackLockedError, backend_root
from components.watch.overrides import Project
from components.watch.placing import held_counts
from components.watch.program_settings import shared_settings
from components.watch.pulumi_process import InterruptiblePulumiCommand
from components.watch.run_configs import ShardMoveConfig
from components.watch.shards import (
    Environment,
    list_stacks,
    prepare_shard_stacks,
    shards_setting,
)

log = logging.getLogger(__name__)


class Mover:
    """The CLI calls of one move (all I/O of the command happens here)."""

    def __init__(
        self,
        project: Project,
        environment: str,
        env: Mapping[str, str],
        command: InterruptiblePulumiCommand | None = None,
    ) -> None:
        self.project = project
        self.environment = environment
        self.env = dict(env)
        self.command = command or InterruptiblePulumiCommand()
        self.moved: Counter[str] = Counter()

    def pulumi(self, *args: str) -> str:
        return self.command.run(list(args), str(self.project.directory), self.env).stdout

    def stacks(self) -> list[str]:
        """The environment's stacks that exist: its own, then shard stacks by index."""
        entries = list_stacks(self.environment_with(1), self.command, self.env)
        found: list[tuple[int, str]] = []
        for entry in entries:
            name = str(entry.get("name") or "").rsplit("/", 1)[-1]
            owner, index = split_stack_name(name)
            if owner == self.environment:
                found.append((-1 if index is None else index, name))
        return [name for _, name in sorted(found)]

    def backend_root(self) -> Path | None:
        info = json.loads(self.pulumi("whoami", "--json") or "{}")
        return backend_root(info.get("url") if isinstance(info, Mapping) else None)

    def deployments(self, stacks: Sequence[str], root: Path | None) -> dict[str, Any]:
        """Each stack's current ``deployment`` (its checkpoint file on a DIY backend)."""
        found: dict[str, Any] = {}
        for stack in stacks:
            if root is not None:
                found[stack] = read_deployment(root, self.project, stack)
            else:
                exported = json.loads(self.pulumi("stack", "export", "--stack", stack) or "{}")
                found[stack] = exported.get("deployment") or {}
        return found

    def move(self, source: str, dest: str, units: Sequence[shard_plan.Unit], batch: int) -> None:
        for group in shard_plan.batches(units, batch):
            urns = [urn for unit in group for urn in unit.urns]
            log.info("moving %d resource(s) from %s to %s", len(urns), source, dest)
            self.pulumi("state", "move", "--source", source, "--dest", dest, "--yes", *urns)
            self.moved[dest] += len(urns)

    def delete(self, stack: str, urns: Sequence[str]) -> None:
        if urns:
            log.info("removing %d resource(s) from the state of %s", len(urns), stack)
            self.pulumi("state", "delete", "--stack", stack, "--yes", *urns)

    def set_shards(self, shards: int) -> None:
        self.pulumi("config", "set", "shards", str(shards), "--stack", self.environment)

    def environment_with(self, shards: int) -> Environment:
        return Environment(self.project, self.environment, shards)

    def placement_store(self) -> PlacementStore:
        """The environment's placement map, where its settings say the browsers live."""
        settings = shared_settings(_config_values(self))
        return PlacementStore(
            lambda: new_api_client(settings.kubeconfig or None),
            settings.namespace,
            self.environment,
        )


def run(config: ShardMoveConfig) -> int:
    project = Project.load(config.common.project_dir)
    # URNs and the shard stacks' names carry the stack's own name, not its org/project prefix.
    return move(config, Mover(project, config.common.stack.rsplit("/", 1)[-1], os.environ))


def move(config: ShardMoveConfig, mover: Mover) -> int:
    """The whole command against ``mover``'s CLI; the exit code."""
    project = mover.project
    name = mover.environment
    if split_stack_name(name)[1] is not None:
        print(f"error: {escape(name)} is a shard stack; name its environment", file=sys.stderr)
        return 2
    setting = shards_setting(project, name)
    target = config.shards or setting
    if not 1 <= target <= MAX_SHARDS:
        print(f"error: --shards must be between 1 and {MAX_SHARDS}, not {target}", file=sys.stderr)
        return 2
    existing = mover.stacks()
    if name not in existing:
        print(f"error: stack {escape(name)} does not exist in this backend", file=sys.stderr)
        return 2
    root = mover.backend_root()
    try:
        for stack in existing:
            LockKeeper(
                root, project.name, stack, foreign_lock_timeout=config.common.foreign_lock_timeout
            ).clear_stale()
    except StackLockedError as error:
        print(f"error: {stack}: {error}; try again once it is done", file=sys.stderr)
        return 2
    bindings = _binding_workspaces(mover)
    try:
        placement = _placement(mover, mover.deployments(existing, root).values(), target, bindings)
    except (PlacementError, PlacementStoreError, SettingsError) as error:
        print(f"error: {error}; nothing was moved", file=sys.stderr)
        return 1
    first = _plan(mover, existing, root, target, bindings, placement)
    cleanup = _cleanup(first, existing, mover, root)
    if not first.misplaced() and not first.duplicates and not cleanup and setting == target:
        print(
            f"environment {name}: every resource is in its stack (shards: {target}); "
            "nothing to move"
        )
        return 0
    log.info(
        "environment %s: %d of %d resource group(s) to move for shards: %d",
        name,
        len(first.misplaced()),
        len(first.units),
        target,
    )
    try:
        return _execute(config, mover, first, setting, target, root, bindings, placement)
    except CommandError as error:
        print(
            f"error: pulumi: {_last_lines(str(error))}\n"
            f"environment {name}: stopped after {sum(mover.moved.values())} resource(s) moved; "
            f"`scripts/watch up` refuses until `scripts/watch shard-move --stack {name}` has "
            "completed the move (run it again)",
            file=sys.stderr,
        )
        return 1


def _execute(
    config: ShardMoveConfig,
    mover: Mover,
    first: shard_plan.ShardPlan,
    setting: int,
    target: int,
    root: Path | None,
    bindings: Mapping[str, str | None],
    placement: Placement | None,
) -> int:
    """Gather, set the count, distribute, verify, empty the stacks without a role."""
    name = mover.environment
    for stack, urns in first.duplicates.items():
        mover.delete(stack, list(reversed(urns)))
    for source in sorted({u.stack for u in first.gather()}):
        mover.move(source, name, [u for u in first.gather() if u.stack == source], config.batch)
    if setting != target:
        mover.set_shards(target)
        log.info("environment %s: shards set to %d", name, target)
    prepare_shard_stacks(mover.environment_with(target), mover.command, mover.env, moving=True)
    second = _plan(mover, mover.stacks(), root, target, bindings, placement)
    for dest in second.targets():
        mover.move(name, dest, [u for u in second.distribute() if u.target == dest], config.batch)
    existing = mover.stacks()
    final = _plan(mover, existing, root, target, bindings, placement)
    if final.misplaced():
        left = ", ".join(sorted({f"{u.what} in {u.stack}" for u in final.misplaced()})[:10])
        print(f"error: still misplaced after the move: {escape(left)}", file=sys.stderr)
        return 1
    removed = _finish(final, existing, mover, root)
    for stack in final.targets():
        print(f"{stack}: {mover.moved[stack]} resource(s) moved in")
    total = sum(mover.moved.values())
    print(
        f"environment {name}: {total} resource(s) moved, now in {len(final.targets())} "
        f"stack(s) (shards: {target})" + (f"; removed {', '.join(removed)}" if removed else "")
    )
    return 0


def _plan(
    mover: Mover,
    stacks: Sequence[str],
    root: Path | None,
    target: int,
    bindings: Mapping[str, str | None],
    placement: Placement | None,
) -> shard_plan.ShardPlan:
    return shard_plan.plan(
        mover.environment, mover.deployments(stacks, root), target, bindings, placement
    )


def _placement(
    mover: Mover,
    deployments: Iterable[Mapping[str, Any]],
    target: int,
    bindings: Mapping[str, str | None],
) -> Placement | None:
    """The placement map for ``target`` shards, stored before anything moves: entries within
    the new count stay, every other workspace with bindings (or held by a stack) is placed
    afresh on the least-loaded shard. One stack needs no map (it is kept for a later split)."""
    if target == 1:
        return None
    store = mover.placement_store()
    counts = Counter(w for w in bindings.values() if w)
    for workspace, held in held_counts(deployments).items():
        counts[workspace] = max(counts[workspace], held)

    def change(stored: StoredPlacement) -> Placement:
        kept = {w: i for w, i in stored.placement.entries.items() if i < target}
        return Placement(kept).extended(counts, target)

    return store.update(change, target)


def _cleanup(
    plan: shard_plan.ShardPlan, stacks: Sequence[str], mover: Mover, root: Path | None
) -> list[str]:
    """The stacks without a role that still hold something: per-stack resources, or (shard
    stacks) anything at all, since they are to be removed."""
    pending = []
    deployments = mover.deployments(plan.emptied(stacks), root)
    for stack, deployment in deployments.items():
        resources = deployment.get("resources") or []
        split = split_stack_name(stack)[1] is not None
        if split or any(r.get("type") != shard_plan.ROOT_STACK for r in resources):
            pending.append(stack)
    return pending


def _finish(
    plan: shard_plan.ShardPlan, stacks: Sequence[str], mover: Mover, root: Path | None
) -> list[str]:
    """Empty the stacks the setting gives no role; remove the shard stacks among them."""
    removed: list[str] = []
    for stack, deployment in mover.deployments(plan.emptied(stacks), root).items():
        resources = deployment.get("resources") or []
        if any(r.get("type") != shard_plan.ROOT_STACK for r in resources):
            mover.pulumi("state", "delete", "--stack", stack, "--all", "--yes")
        if split_stack_name(stack)[1] is not None:
            mover.pulumi("stack", "rm", stack, "--yes")
            removed.append(stack)
    return removed


def _binding_workspaces(mover: Mover) -> dict[str, str | None]:
    """Binding key -> the workspace its manifest names, read like a run reads them; empty
    (statuses then follow their Deployment, else shard 0) when the bindings cannot be read."""
    from components.sharding import workspace_named

    try:
        values = _config_values(mover)
        settings = shared_settings(values)
        if settings.bindings_source == "file" and not Path(settings.bindings_file).is_absolute():
            settings = dataclasses.replace(
                settings, bindings_file=str(mover.project.directory / settings.bindings_file)
            )
        manifests = make_source(settings).load()
    except Exception as error:  # the move does not depend on it; say what it falls back to
        log.warning("bindings unavailable (%s); statuses follow their Deployments", error)
        return {}
    return {parse_binding(m.manifest, m.origin).key: workspace_named(m.manifest) for m in manifests}


def _config_values(mover: Mover) -> dict[str, Any]:
    parsed = json.loads(mover.pulumi("config", "--json", "--stack", mover.environment) or "{}")
    prefix = f"{mover.project.name}:"
    return {
        key.removeprefix(prefix): entry.get("objectValue", entry.get("value"))
        for key, entry in parsed.items()
        if isinstance(entry, Mapping) and not entry.get("secret")
    }


def _last_lines(text: str, count: int = 8) -> str:
    """The end of a CLI error, each line made inert (the CLI relays program messages)."""
    lines = [line for line in text.strip().splitlines() if line.strip()][-count:]
    return "\n  ".join(neutralise(line, 400) for line in lines)
