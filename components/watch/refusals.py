"""Refused bindings and the exit code they give the pipeline entry points.

The rule (README, *Exit codes*): a refused (invalid) binding never fails the Pulumi run, because
a failed run skips every pending deletion; the program converges everything valid, logs each
refusal as a warning and lists it in the ``problems`` stack output. ``up`` and ``preview`` then
exit :data:`EXIT_REFUSED` (4) so a pipeline notices, unless ``--allow-refused`` downgrades that to
0. The watcher keeps running and reports refusals through the bindings' status and Events.

``up`` reads the refusals from the stack output the run just wrote; ``preview`` applies nothing,
so it plans the proposed bindings with the program's own parser and planner.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from components.bindings import parse_binding
from components.inert import neutralise
from components.planning import ProblemKind, plan_workspaces
from components.watch.runner import StackRunner

log = logging.getLogger(__name__)

EXIT_REFUSED = 4


def from_outputs(problems: Any) -> list[str]:
    """The messages of the refused bindings in a ``problems`` stack output."""
    if not isinstance(problems, list):
        return []
    return [
        str(problem.get("message") or problem.get("bindings"))
        for problem in problems
        if isinstance(problem, Mapping) and problem.get("kind") == str(ProblemKind.INVALID)
    ]


def from_manifests(manifests: Iterable[Any], today: date) -> list[str]:
    """The messages of the bindings the program would refuse among ``manifests``."""
    plan = plan_workspaces((parse_binding(manifest) for manifest in manifests), today)
    return [invalid.message for invalid in plan.invalid]


def stack_refusals(runner: StackRunner) -> list[str]:
    """The refusals of the stack's last update, from its ``problems`` output (none if absent)."""
    result = runner.command.run(
        ["stack", "output", "--json", "--stack", runner.stack_name],
        str(runner.project.directory),
        runner.env,
    )
    outputs = json.loads(result.stdout or "{}")
    return from_outputs(outputs.get("problems") if isinstance(outputs, Mapping) else None)


def exit_code(refused: list[str], *, allow: bool, what: str) -> int:
    """0, or :data:`EXIT_REFUSED` with each refusal logged, unless refusals are allowed."""
    if not refused:
        return 0
    for message in refused:
        log.warning("%s", neutralise(message))
    if allow:
        log.warning("%s: %d binding(s) refused (allowed by --allow-refused)", what, len(refused))
        return 0
    log.error(
        "%s: %d binding(s) refused (exit %d; --allow-refused makes this 0)",
        what,
        len(refused),
        EXIT_REFUSED,
    )
    return EXIT_REFUSED
