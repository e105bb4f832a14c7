"""Where the access review meets a run: bindings and state in, a summary (or a log) out.

:func:`review` is pure (state + manifests + today + engine steps -> summary). :func:`announce_up`
is the edge the pipeline's ``up`` calls before it starts: it reads the stack's state and the
bindings the program is about to read, and logs the summary first, so a job log says who gains
and loses access before the engine's own lines. It never fails the ``up``: a summary that cannot
be made is logged as such.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from components.binding_source import SourcedManifest, make_source
from components.bindings import parse_binding
from components.planning import plan_workspaces
from components.review.current import current_access
from components.review.engine import Step, engine_changes
from components.review.render import render_text
from components.review.summary import AccessSummary, summarise
from components.watch.program_settings import shared_settings

log = logging.getLogger("components.review")


def review(
    state: Mapping[str, Any],
    manifests: Iterable[SourcedManifest],
    today: date,
    steps: Iterable[Step] | None = None,
) -> AccessSummary:
    """The summary of running the program on ``manifests`` against a stack in ``state``."""
    plan = plan_workspaces((parse_binding(m.manifest, m.origin) for m in manifests), today)
    engine = engine_changes(steps) if steps is not None else None
    return summarise(current_access(state.get("deployment")), plan, engine)


def today() -> date:
    """The day the program plans for (it reads the same UTC clock)."""
    return datetime.now(UTC).date()


class _Stack(Protocol):
    stack_name: str

    def export(self) -> dict[str, Any]: ...

    def config_values(self) -> dict[str, Any]: ...


def announce_up(runner: _Stack, project_dir: Path) -> AccessSummary | None:
    """Log the access summary of the coming full ``up``; ``None`` (logged) if it cannot be made."""
    try:
        settings = shared_settings(runner.config_values())
        if settings.bindings_source == "file" and not Path(settings.bindings_file).is_absolute():
            # The program runs in the project directory; this process may not.
            settings = dataclasses.replace(
                settings, bindings_file=str(project_dir / settings.bindings_file)
            )
        manifests = make_source(settings).load()
        summary = review(runner.export(), manifests, today())
    except Exception as error:  # a summary must never stop the update
        first = next(iter(str(error).strip().splitlines()), type(error).__name__)
        log.warning("access summary unavailable: %s", first)
        return None
    for line in render_text(summary, runner.stack_name).splitlines():
        log.info("%s", line)
    return summary
