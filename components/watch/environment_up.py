"""``up`` of a sharded environment: only the shards a change touches, side by side.

Order of work: write the shard stack files and create missing shard stacks; read the bindings
once; compute each shard's input digest and compare it with the one its last complete run
exported (:mod:`components.watch.shards`); log one access review of the touched shards; then
update them in parallel, at most one per core, the ones holding most bindings first, each with
the single-stack ``up``'s lock handling and retries (:func:`components.watch.oneshot.update_stack`).
With ``bootstrapDatabase`` on, shard 0 (which declares the database) runs before the others.

A failed shard does not stop the others; the job exits 1 naming it, and its next run repeats
it (its digest was not recorded). Refusals are counted over every shard, touched or not, so
the exit code says whether the environment as a whole refused bindings.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from components.binding_source import SourcedManifest, make_source
from components.kube_client import new_api_client
from components.placement import PlacementError
from components.placement_store import PlacementStore, PlacementStoreError
from components.review.access import review, today
from components.review.render import render_text
from components.settings import Settings
from components.shard_digest import CONTEXT_ENV
from components.sharding import split_stack_name, workspace_named
from components.watch import refusals
from components.watch.checkpoints import checkpoint_digest, read_deployment
from components.watch.config import UpConfig
from components.watch.locks import backend_root, state_directories
from components.watch.oneshot import update_stack
from components.watch.placing import PlacementBook, handed_over
from components.watch.program_settings import shared_settings
from components.watch.pulumi_process import InterruptiblePulumiCommand
from components.watch.runner import StackRunner, backend_url, config_values
from components.watch.shards import (
    Environment,
    environment_stacks,
    expected_digests,
    largest_first,
    merged_state,
    prepare_shard_stacks,
    recorded_digest,
    run_context,
    stack_outputs,
    touched,
)
from components.watch.shutdown import Shutdown
from components.watch.sidecars import repair_sidecars

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ShardRun:
    """One shard's part of the environment run."""

    stack: str
    runner: StackRunner
    deployment: dict[str, Any]
    code: int | None = None
    seconds: float = 0.0


class EnvironmentStacks:
    """The environment's stacks as seen at the start of a run (I/O happens here).

    Runners are made only for the stacks a run touches: each one selects its stack through the
    CLI, a cost that would otherwise grow with the number of shards. The backend and the shared
    settings are read without selecting a stack.
    """

    def __init__(
        self, environment: Environment, env: Mapping[str, str], keep_history: int = 0
    ) -> None:
        self.environment = environment
        self.env = dict(env)
        self.keep_history = keep_history
        command = InterruptiblePulumiCommand()
        full_env = {**os.environ, **self.env}
        self.backend = backend_url(environment.project, command, full_env)
        self.root = backend_root(self.backend)
        if self.root is not None:
            repair_sidecars(state_directories(self.root, environment.project.name))
        prepare_shard_stacks(environment, command, full_env, root=self.root)
        self._runners: dict[str, StackRunner] = {}
        first = environment.stacks()[0]
        self.settings: Settings = shared_settings(
            config_values(environment.project, first, command, full_env)
        )
        self.book = PlacementBook(
            PlacementStore(
                lambda: new_api_client(self.settings.kubeconfig or None),
                self.settings.namespace,
                environment.name,
            ),
            environment.shards,
            environment_stacks(environment),
            self.deployment,
        )

    def place(self, manifests: list[Any], *, write: bool) -> None:
        """Place every workspace of ``manifests`` before the shards run (stored when
        ``write``; else handed to this process's runs in a file). Nothing for one stack."""
        if not self.environment.sharded:
            return
        placement = self.book.place(manifests, write=write)
        if not write:
            handed_over(placement, self.environment.shards, self.env)
            self._runners.clear()  # made to read a state: remade with the handed-over map
        self.environment = dataclasses.replace(self.environment, placement=placement)

    def place_one(self, workspace: str, manifests: list[Any]) -> int | None:
        """The watcher's placing of a workspace whose first binding just arrived."""
        placement = self.book.place(manifests, write=True, also=workspace)
        self.environment = dataclasses.replace(self.environment, placement=placement)
        return placement.shard_of(workspace)

    def runner(self, stack: str) -> StackRunner:
        if stack not in self._runners:
            self._runners[stack] = StackRunner(
                self.environment.project,
                stack,
                env=self.env,
                backend=self.backend,
                keep_history=self.keep_history,
            )
        return self._runners[stack]

    def recorded_digest(self, stack: str) -> str | None:
        """The digest ``stack``'s last complete run exported."""
        if self.root is not None:
            return checkpoint_digest(self.root, self.environment.project, stack)
        return recorded_digest(stack_outputs(self.deployment(stack)))

    def deployment(self, stack: str) -> dict[str, Any]:
        if self.root is not None:
            return read_deployment(self.root, self.environment.project, stack)
        deployment = self.runner(stack).export().get("deployment")
        return dict(deployment) if isinstance(deployment, Mapping) else {}

    def touched(self, manifests: list[Any], context: str, every: bool) -> list[str]:
        """The stacks a run with ``manifests`` must update (all of them with ``every``)."""
        if every:
            return self.environment.stacks()
        expected = expected_digests(self.environment, context, manifests, today())
        return touched(expected, {stack: self.recorded_digest(stack) for stack in expected})

    def manifests(self) -> list[SourcedManifest]:
        settings = self.settings
        if settings.bindings_source == "file" and not Path(settings.bindings_file).is_absolute():
            directory = self.environment.project.directory
            settings = dataclasses.replace(
                settings, bindings_file=str(directory / settings.bindings_file)
            )
        return make_source(settings).load()


def run(config: UpConfig, environment: Environment) -> int:
    started = time.monotonic()
    context = run_context(environment)
    stacks = EnvironmentStacks(
        environment, {CONTEXT_ENV: context}, keep_history=config.common.keep_history
    )
    manifests = stacks.manifests()
    try:
        stacks.place([m.manifest for m in manifests], write=True)
    except (PlacementError, PlacementStoreError) as error:
        log.error("%s", error)
        return 1
    environment = stacks.environment
    todo = stacks.touched([m.manifest for m in manifests], context, config.all_shards)
    log.info(
        "environment %s: %d shard(s), %d to update (%s)",
        environment.name,
        len(environment.stacks()),
        len(todo),
        "all asked for" if config.all_shards else "the others are unchanged",
    )
    deployments = {stack: stacks.deployment(stack) for stack in todo}
    _announce(environment, todo, deployments, manifests)
    bootstrap = stacks.settings.database_bootstrap.enabled
    order = largest_first(environment, todo, (m.manifest for m in manifests), zero_first=bootstrap)
    runs = [ShardRun(s, stacks.runner(s), deployments[s]) for s in order]
    if config.repair_drift:
        for shard in runs:
            shard.runner.check_drift(accepted=stacks.settings.drift_accepted_managers)
    zero_first = bootstrap and bool(runs) and split_stack_name(runs[0].stack)[1] == 0
    failed = _update_all(runs, config, zero_first)
    if failed is None:
        return 3
    for shard in runs:
        outcome = "updated" if shard.code == 0 else "FAILED"
        log.info("%s: %s in %.1fs", shard.stack, outcome, shard.seconds)
    log.info("environment %s: done in %.1fs", environment.name, time.monotonic() - started)
    if failed:
        log.error("up failed for %d shard(s): %s", len(failed), ", ".join(failed))
        return 1
    # Every shard's refusals, touched or not: the program refuses exactly what its planner does.
    refused = refusals.from_manifests([m.manifest for m in manifests], today())
    return refusals.exit_code(refused, allow=config.allow_refused, what="up")


def _announce(
    environment: Environment,
    todo: list[str],
    deployments: Mapping[str, Mapping[str, Any]],
    manifests: list[SourcedManifest],
) -> None:
    """One access review over the shards about to run (never fails the run)."""
    scopes = [environment.scope(stack) for stack in todo]
    mine = [m for m in manifests if any(s.owns(workspace_named(m.manifest)) for s in scopes)]
    try:
        summary = review(merged_state(deployments[s] for s in todo), mine, today())
    except Exception as error:  # a summary must never stop the update
        log.warning("access summary unavailable: %s", error)
        return
    for line in render_text(summary, environment.name).splitlines():
        log.info("%s", line)


def _update_all(runs: list[ShardRun], config: UpConfig, shard_zero_first: bool) -> list[str] | None:
    """Update every shard in ``runs``; the stacks that failed, or ``None`` if stopped by a
    signal before they finished."""
    stop = threading.Event()

    def interrupt_all() -> bool:
        return any([shard.runner.interrupt() for shard in runs])

    shutdown = Shutdown(interrupt_all)
    shutdown.install()

    def one(shard: ShardRun) -> None:
        began = time.monotonic()
        shard.code = update_stack(shard.runner, config, stop)
        shard.seconds = time.monotonic() - began

    first, rest = (runs[:1], runs[1:]) if shard_zero_first and runs else ([], runs)
    done = threading.Event()

    def body() -> None:
        try:
            for shard in first:
                one(shard)
            _parallel(one, rest, max(1, os.cpu_count() or 1))
        finally:
            done.set()

    threading.Thread(target=body, name="environment-up", daemon=True).start()
    while not done.wait(0.5):
        if shutdown.requested.is_set():
            stop.set()
            interrupt_all()
            if not done.wait(config.cancel_timeout):
                return None
            return [shard.stack for shard in runs if shard.code != 0]
    return [shard.stack for shard in runs if shard.code != 0]


def _parallel(work: Callable[[ShardRun], None], runs: list[ShardRun], workers: int) -> None:
    if not runs:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(runs))) as pool:
        for future in [pool.submit(work, shard) for shard in runs]:
            future.result()
