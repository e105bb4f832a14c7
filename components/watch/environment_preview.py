"""``preview`` of a sharded environment: one review, whatever number of shards it spans.

The proposed bindings (the file, or the file over the cluster's with ``--overlay``) are split by
shard; every shard they touch previews its own part in parallel (at most one per core), so a
shard's run reads its own bindings, not the environment's. What is printed is one access review
of the touched shards' states and steps together, then the engine's counts summed;
``--engine-diff`` holds each shard's diff under its stack's name. Exit codes are those of the
single-stack preview.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from components.binding_source import BindingSourceError, FileBindingSource
from components.placement import PlacementError
from components.placement_store import PlacementStoreError
from components.review.access import review, today
from components.review.engine import StepRecorder
from components.review.escape import inert
from components.review.render import render_text
from components.settings import SettingsError
from components.shard_digest import CONTEXT_ENV
from components.sharding import workspace_named
from components.watch import refusals
from components.watch.config import PreviewConfig
from components.watch.environment_up import EnvironmentStacks
from components.watch.overrides import bindings_file_of, config_override
from components.watch.preview import overlay, write_outputs
from components.watch.runner import RunOutcome
from components.watch.shards import Environment, merged_state, run_context

log = logging.getLogger(__name__)


def run(config: PreviewConfig, environment: Environment) -> int:
    context = run_context(environment)
    stacks = EnvironmentStacks(environment, {CONTEXT_ENV: context})
    path = config.bindings_file.resolve()
    try:
        proposed = FileBindingSource(path).load()
        planned = overlay(stacks.settings, config, proposed) if config.overlay else proposed
    except (BindingSourceError, SettingsError) as error:
        log.error("%s", error)
        return 2
    manifests = [item.manifest for item in planned]
    try:
        stacks.place(manifests, write=False)
    except (PlacementError, PlacementStoreError) as error:
        log.error("%s", error)
        return 1
    environment = stacks.environment
    todo = stacks.touched(manifests, context, config.all_shards)
    log.info(
        "environment %s: %d shard(s), %d touched by %s",
        environment.name,
        len(environment.stacks()),
        len(todo),
        path,
    )
    deployments = {stack: stacks.deployment(stack) for stack in todo}
    runners = {stack: stacks.runner(stack) for stack in todo}
    steps = StepRecorder()
    started = time.monotonic()

    def one(stack: str) -> RunOutcome:
        # Each shard is handed only the bindings it declares: its program then reads and
        # digests its own part, not the whole environment's file.
        scope = environment.scope(stack)
        own = [m for m in manifests if scope.owns(workspace_named(m))]
        with (
            bindings_file_of(own) as bindings_file,
            config_override(environment.project, stack, bindings_file) as config_file,
        ):
            return runners[stack].preview(config_file=config_file, on_event=steps)

    workers = max(1, min(len(todo), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = dict(zip(todo, pool.map(one, todo), strict=True))
    outcome = _combined(outcomes, time.monotonic() - started)
    scopes = [environment.scope(stack) for stack in todo]
    mine = [m for m in planned if any(s.owns(workspace_named(m.manifest)) for s in scopes)]
    summary = review(
        merged_state(deployments[s] for s in todo),
        mine,
        today(),
        steps.steps if outcome.ok else None,
    )
    sys.stdout.write(render_text(summary, environment.name))
    write_outputs(config, outcome, path, summary)
    if not outcome.ok:
        log.error("preview failed: %s", outcome.error)
        return 1
    changes = ", ".join(f"{op} {n}" for op, n in sorted(outcome.changes.items()))
    log.info("preview of %s: %s", path, changes or "no changes")
    refused = refusals.from_manifests(manifests, datetime.now(UTC).date())
    return refusals.exit_code(refused, allow=config.allow_refused, what="preview")


def _combined(outcomes: dict[str, RunOutcome], seconds: float) -> RunOutcome:
    """The shards' outcomes as one: counts summed, diffs and errors under each stack's name."""
    changes: Counter[str] = Counter()
    for outcome in outcomes.values():
        changes.update(outcome.changes)
    errors = [f"{inert(s)}: {o.error}" for s, o in outcomes.items() if not o.ok]
    stdout = "".join(
        f"== {s} ==\n{o.stdout}" + ("" if o.stdout.endswith("\n") else "\n")
        for s, o in outcomes.items()
    )
    return RunOutcome("preview", seconds, dict(changes), "\n".join(errors), stdout=stdout)
