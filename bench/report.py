"""Medians per (N, step, side), the program/baseline ratio, the printed table and the JSON file.

The table is for people (one block per N); the JSON keeps every repetition and every write
statement so a regression can be traced later without re-running anything.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import StepResult

STEPS = ("up", "preview", "up-noop", "change-one", "destroy")
STEP_TITLES = {
    "up": "up from empty",
    "preview": "no-op preview",
    "up-noop": "no-op up",
    "change-one": "change 1 of N",
    "destroy": "destroy",
}
SIDES = ("program", "baseline")


@dataclass(frozen=True)
class Median:
    """Median figures of one side in one step over its repetitions."""

    seconds: float
    statements: float
    write_statements: float
    commits: float
    kube_writes: float
    kube_reads: float
    changes: float
    repetitions: int

    def as_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "sql_statements": self.statements,
            "sql_write_statements": self.write_statements,
            "xact_commit": self.commits,
            "kube_writes": self.kube_writes,
            "kube_reads": self.kube_reads,
            "changes": self.changes,
            "repetitions": self.repetitions,
        }


def median(results: list[StepResult]) -> Median:
    def mid(values: Iterable[float]) -> float:
        return float(statistics.median(list(values)))

    return Median(
        seconds=mid(r.seconds for r in results),
        statements=mid(r.sql.total for r in results),
        write_statements=mid(r.sql.write_calls for r in results),
        commits=mid(r.sql.commits for r in results),
        kube_writes=mid(r.kube.writes for r in results),
        kube_reads=mid(r.kube.reads for r in results),
        changes=mid(r.changes for r in results),
        repetitions=len(results),
    )


def summarise(results: Iterable[StepResult]) -> dict[int, dict[str, dict[str, Median]]]:
    """``{N: {step: {side: Median}}}`` for every combination that was measured."""
    grouped: dict[int, dict[str, dict[str, list[StepResult]]]] = {}
    for result in results:
        by_step = grouped.setdefault(result.size, {})
        by_step.setdefault(result.step, {}).setdefault(result.side, []).append(result)
    return {
        size: {
            step: {side: median(items) for side, items in sides.items()}
            for step, sides in by_step.items()
        }
        for size, by_step in grouped.items()
    }


def ratio(program: float, baseline: float) -> float | None:
    return program / baseline if baseline > 0 else None


def _ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _pair(program: Median | None, baseline: Median | None, attribute: str) -> str:
    def one(median_: Median | None) -> str:
        return "-" if median_ is None else f"{getattr(median_, attribute):g}"

    return f"{one(program)}/{one(baseline)}"


def table(
    summary: Mapping[int, Mapping[str, Mapping[str, Median]]],
    states: Mapping[int, Mapping[str, Any]],
) -> str:
    """The human-readable report: one block per N, program/baseline side by side."""
    header = (
        f"{'step':<15}{'program s':>10}{'baseline s':>11}{'ratio':>8}  "
        f"{'SQL stmts':>12}{'SQL writes':>12}{'commits':>12}{'kube writes':>13}"
        f"{'changed':>12}"
    )
    lines: list[str] = []
    for size in sorted(summary):
        state = states.get(size) or {}
        lines.append("")
        title = f"N = {size} bindings"
        if state:
            per = state["bytes"] / size if size else 0
            title += (
                f"; state {state['bytes'] / 1e6:.2f} MB, {per / 1e3:.1f} kB/binding, "
                f"{state['resources']} resources ({state['resources'] / size:.1f}/binding)"
            )
        reps = {m.repetitions for sides in summary[size].values() for m in sides.values()}
        title += f"; median of {'/'.join(str(r) for r in sorted(reps))} run(s)"
        lines += [title, header + "   (counts: program/baseline)", "-" * len(header)]
        for step in STEPS:
            sides = summary[size].get(step)
            if not sides:
                continue
            program, baseline = sides.get("program"), sides.get("baseline")
            p_s = f"{program.seconds:.1f}" if program else "-"
            b_s = f"{baseline.seconds:.1f}" if baseline else "-"
            r = ratio(program.seconds, baseline.seconds) if program and baseline else None
            lines.append(
                f"{STEP_TITLES[step]:<15}{p_s:>10}{b_s:>11}{_ratio_text(r):>8}  "
                f"{_pair(program, baseline, 'statements'):>12}"
                f"{_pair(program, baseline, 'write_statements'):>12}"
                f"{_pair(program, baseline, 'commits'):>12}"
                f"{_pair(program, baseline, 'kube_writes'):>13}"
                f"{_pair(program, baseline, 'changes'):>12}"
            )
    return "\n".join(lines)


def write_json(
    path: Path,
    *,
    meta: Mapping[str, Any],
    results: list[StepResult],
    states: Mapping[int, Mapping[str, Any]],
) -> None:
    """Everything measured: metadata, medians with ratios, state sizes, every repetition."""
    summary = summarise(results)
    medians = {
        str(size): {
            step: {
                **{side: m.as_json() for side, m in sides.items()},
                "ratio_seconds": (
                    ratio(sides["program"].seconds, sides["baseline"].seconds)
                    if "program" in sides and "baseline" in sides
                    else None
                ),
            }
            for step, sides in by_step.items()
        }
        for size, by_step in summary.items()
    }
    document = {
        **meta,
        "state": {str(size): dict(state) for size, state in states.items()},
        "medians": medians,
        "results": [r.as_json() for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
