"""``preview``: show a reviewer what a bindings file would change, without applying anything.

The unchanged program runs ``pulumi preview`` against the real stack with its bindings read from
the proposed file (a private copy of the stack configuration points ``bindingsFile`` at it; see
:mod:`components.watch.overrides`). Two modes:

* replace (default): the file holds *every* binding (a GitOps folder), so removals show too;
* ``--overlay``: the file's bindings replace or add to the cluster's current bindings (a merge
  request that touches a few bindings of a cluster the portal also writes to).

A preview in which bindings would be refused exits 4 (:mod:`components.watch.refusals`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components.binding_source import (
    BindingSourceError,
    ClusterBindingSource,
    FileBindingSource,
)
from components.kube_client import new_api_client
from components.settings import SettingsError
from components.watch import refusals
from components.watch.changes import object_key
from components.watch.config import PreviewConfig
from components.watch.overrides import Project, bindings_override, config_override
from components.watch.program_settings import shared_settings
from components.watch.runner import RunOutcome, StackRunner

log = logging.getLogger(__name__)


def run(config: PreviewConfig) -> int:
    project = Project.load(config.common.project_dir)
    runner = StackRunner(project, config.common.stack)
    path = config.bindings_file.resolve()
    try:
        proposed = [item.manifest for item in FileBindingSource(path).load()]
        previewed = proposed
        if config.overlay:
            outcome, previewed = _overlay(runner, config, project, proposed)
        else:
            with config_override(project, config.common.stack, path) as config_file:
                outcome = runner.preview(config_file=config_file)
    except (BindingSourceError, SettingsError) as error:
        log.error("%s", error)
        return 2
    sys.stdout.write(outcome.stdout + ("\n" if outcome.stdout else ""))
    if config.json_out is not None:
        config.json_out.write_text(json.dumps(_report(outcome, path, config), indent=2) + "\n")
    if not outcome.ok:
        log.error("preview failed: %s", outcome.error)
        return 1
    summary = ", ".join(f"{op} {n}" for op, n in sorted(outcome.changes.items()))
    log.info("preview of %s: %s", path, summary or "no changes")
    refused = refusals.from_manifests(previewed, datetime.now(UTC).date())
    return refusals.exit_code(refused, allow=config.allow_refused, what="preview")


def _overlay(
    runner: StackRunner, config: PreviewConfig, project: Project, proposed: list[Any]
) -> tuple[RunOutcome, list[Any]]:
    settings = shared_settings(runner.config_values())
    kubeconfig = config.kube.kubeconfig or settings.kubeconfig or None
    namespace = (
        config.kube.namespace if config.kube.namespace is not None else settings.bindings_namespace
    )
    cluster = ClusterBindingSource(namespace, lambda: new_api_client(kubeconfig)).load()
    merged: dict[str, Any] = {}
    for item in cluster:
        merged[object_key(item.manifest) or f"cluster#{len(merged)}"] = item.manifest
    for index, manifest in enumerate(proposed):
        key = object_key(manifest) if isinstance(manifest, Mapping) else None
        merged[key or f"file#{index}"] = manifest
    log.info(
        "previewing %d proposed binding(s) over %d in the cluster", len(proposed), len(cluster)
    )
    with bindings_override(project, config.common.stack, merged.values()) as override:
        return runner.preview(config_file=override.config_file), list(merged.values())


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
