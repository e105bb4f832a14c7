"""``preview``: show a reviewer what a bindings file would change, without applying anything.

The unchanged program runs ``pulumi preview`` against the real stack with its bindings read from
the proposed file (a private copy of the stack configuration points ``bindingsFile`` at it; see
:mod:`components.watch.overrides`). Two modes:

* replace (default): the file holds *every* binding (a GitOps folder), so removals show too;
* ``--overlay``: the file's bindings replace or add to the cluster's current bindings (a merge
  request that touches a few bindings of a cluster the portal also writes to).

What it prints leads with the access review (:mod:`components.review`): who gains and who loses
access to which workspace until when, refused bindings, settings changes, then the engine's
counts. The engine's full diff goes to ``--engine-diff FILE`` (``-``: after the summary), a
Markdown rendering for a merge-request comment to ``--markdown FILE``, and everything to
``--json FILE``. A preview in which
bindings would be refused exits 4 (:mod:`components.watch.refusals`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components.binding_source import (
    BindingSourceError,
    ClusterBindingSource,
    FileBindingSource,
    SourcedManifest,
)
from components.kube_client import new_api_client
from components.review.access import review, today
from components.review.engine import StepRecorder
from components.review.escape import inert
from components.review.render import render_markdown, render_text
from components.review.summary import AccessSummary
from components.settings import Settings, SettingsError
from components.watch import refusals
from components.watch.changes import object_key
from components.watch.config import PreviewConfig
from components.watch.overrides import Project, bindings_override, config_override
from components.watch.program_settings import shared_settings
from components.watch.runner import RunOutcome, StackRunner
from components.watch.shards import check_settled, load_environment

log = logging.getLogger(__name__)


def run(config: PreviewConfig) -> int:
    project = Project.load(config.common.project_dir)
    environment = load_environment(project, config.common.stack)
    if environment.sharded:
        from components.watch import environment_preview

        return environment_preview.run(config, environment)
    check_settled(environment, os.environ)
    runner = StackRunner(project, config.common.stack)
    path = config.bindings_file.resolve()
    steps = StepRecorder()
    try:
        proposed = FileBindingSource(path).load()
        if config.overlay:
            outcome, planned = _overlay(runner, config, project, proposed, steps)
        else:
            planned = proposed
            with config_override(project, config.common.stack, path) as config_file:
                outcome = runner.preview(config_file=config_file, on_event=steps)
    except (BindingSourceError, SettingsError) as error:
        log.error("%s", error)
        return 2
    summary, unavailable = _summary(runner, planned, steps if outcome.ok else None)
    sys.stdout.write(
        render_text(summary, config.common.stack)
        if summary is not None
        else f"Access review of stack {inert(config.common.stack)}: unavailable ({unavailable})\n"
    )
    write_outputs(config, outcome, path, summary)
    if not outcome.ok:
        log.error("preview failed: %s", outcome.error)
        return 1
    if summary is None:
        return 1
    changes = ", ".join(f"{op} {n}" for op, n in sorted(outcome.changes.items()))
    log.info("preview of %s: %s", path, changes or "no changes")
    refused = refusals.from_manifests([item.manifest for item in planned], datetime.now(UTC).date())
    return refusals.exit_code(refused, allow=config.allow_refused, what="preview")


def _summary(
    runner: StackRunner, planned: list[SourcedManifest], steps: StepRecorder | None
) -> tuple[AccessSummary | None, str]:
    """The access summary; without the stack's state there is none (never a guess)."""
    try:
        state = runner.export()
    except Exception as error:  # reported, and the preview fails
        first = next(iter(str(error).strip().splitlines()), type(error).__name__)
        log.error("cannot read the stack state for the access review: %s", first)
        return None, "the stack state could not be read"
    return review(state, planned, today(), steps.steps if steps is not None else None), ""


def write_outputs(
    config: PreviewConfig, outcome: RunOutcome, path: Path, summary: AccessSummary | None
) -> None:
    """The engine diff (stdout or a file), the Markdown comment and the JSON report."""
    diff = "".join(inert(line, quote=False) + "\n" for line in outcome.stdout.splitlines())
    if config.engine_diff == "-":
        sys.stdout.write(diff)
    elif config.engine_diff:
        Path(config.engine_diff).write_text(diff, encoding="utf-8")
    if config.markdown_out is not None:
        config.markdown_out.write_text(
            render_markdown(summary, config.common.stack)
            if summary is not None
            else "**Access review unavailable**: the stack state could not be read.\n",
            encoding="utf-8",
        )
    if config.json_out is not None:
        report = _report(outcome, path, config)
        report["access"] = summary.to_json() if summary is not None else None
        config.json_out.write_text(json.dumps(report, indent=2) + "\n")


def _overlay(
    runner: StackRunner,
    config: PreviewConfig,
    project: Project,
    proposed: list[SourcedManifest],
    steps: StepRecorder,
) -> tuple[RunOutcome, list[SourcedManifest]]:
    """Preview the file's bindings laid over the cluster's; also returns the merged bindings."""
    merged = overlay(shared_settings(runner.config_values()), config, proposed)
    manifests = [item.manifest for item in merged]
    with bindings_override(project, config.common.stack, manifests) as override:
        outcome = runner.preview(config_file=override.config_file, on_event=steps)
    return outcome, merged


def overlay(
    settings: Settings, config: PreviewConfig, proposed: list[SourcedManifest]
) -> list[SourcedManifest]:
    """The cluster's bindings with the file's laid over them (same namespace/name replaced)."""
    kubeconfig = config.kube.kubeconfig or settings.kubeconfig or None
    namespace = (
        config.kube.namespace if config.kube.namespace is not None else settings.bindings_namespace
    )
    cluster = ClusterBindingSource(namespace, lambda: new_api_client(kubeconfig)).load()
    merged: dict[str, SourcedManifest] = {}
    for item in cluster:
        merged[object_key(item.manifest) or f"cluster#{len(merged)}"] = item
    for index, item in enumerate(proposed):
        key = object_key(item.manifest) if isinstance(item.manifest, Mapping) else None
        merged[key or f"file#{index}"] = item
    log.info(
        "previewing %d proposed binding(s) over %d in the cluster", len(proposed), len(cluster)
    )
    return list(merged.values())


def _report(outcome: RunOutcome, path: Path, config: PreviewConfig) -> dict[str, Any]:
    return {
        "stack": config.common.stack,
        "bindingsFile": str(path),
        "overlay": config.overlay,
        "ok": outcome.ok,
        "changes": outcome.changes,
        "error": outcome.error,
        "seconds": round(outcome.seconds, 3),
    }
