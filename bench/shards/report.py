"""The sharded benchmark's table: each figure beside the issue's target, the raw baseline and the
single-stack figures of README "## Benchmarks" (pure).

Rows are built from the medians :func:`bench.report.summarise` computes, so the table of a run
and the table ``python -m bench.show`` re-prints from its JSON are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.report import Median

EDITS = ("add-one", "change-one", "remove-one")
STEP_TITLES = {
    "up": "up from empty",
    "preview": "no-op preview",
    "preview-all": "preview --all-shards",
    "add-one": "add 1 binding",
    "change-one": "change 1 binding",
    "remove-one": "remove 1 binding",
    "destroy": "destroy (all shards)",
}
TARGETS_AT = 1000
"""The issue's targets are stated for 1,000 bindings."""
TARGET_SECONDS = {
    "up": 300.0,
    "preview": 60.0,
    "add-one": 15.0,
    "change-one": 15.0,
    "remove-one": 15.0,
    "destroy": 180.0,
}
TARGET_KB_PER_BINDING = 15.0
TARGET_LARGEST_STACK_BYTES = 2_000_000
SINGLE_STACK_AT = 1000
"""README "## Benchmarks": one stack of 1,000 bindings (10 per workspace)."""
SINGLE_STACK_SECONDS = {
    "preview": 105.5,
    "preview-all": 105.5,
    "change-one": 107.5,
    "destroy": 558.3,
}
SINGLE_STACK_KB_PER_BINDING = 42.0
SINGLE_STACK_RESOURCES_PER_BINDING = 9.1
BASELINE_STEP = {"preview-all": "preview"}
"""The baseline has one preview; ``--all-shards`` is compared with it too."""


@dataclass(frozen=True)
class Row:
    """One step's figures (seconds; ``None`` where the step has no such part)."""

    step: str
    preview: float | None
    up: float | None
    baseline: float | None
    target: float | None
    single: float | None

    @property
    def total(self) -> float:
        return (self.preview or 0.0) + (self.up or 0.0)

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.total <= self.target


def _seconds(
    steps: Mapping[str, Mapping[str, Median]], step: str, side: str = "program"
) -> float | None:
    median = (steps.get(step) or {}).get(side)
    return None if median is None else median.seconds


def _baseline(steps: Mapping[str, Mapping[str, Median]], step: str) -> float | None:
    if step in EDITS:
        parts = [_seconds(steps, f"{step}:{p}", "baseline") for p in ("preview", "up")]
        known = [p for p in parts if p is not None]
        return sum(known) if known else None
    return _seconds(steps, BASELINE_STEP.get(step, step), "baseline")


def rows(steps: Mapping[str, Mapping[str, Median]], size: int) -> list[Row]:
    """The table's rows for one N, in the order the steps ran (missing steps left out)."""
    at_target = size == TARGETS_AT
    single = size == SINGLE_STACK_AT
    result: list[Row] = []
    for step in STEP_TITLES:
        if step in EDITS:
            preview = _seconds(steps, f"{step}:preview")
            up = _seconds(steps, f"{step}:up")
        elif step in ("preview", "preview-all"):
            preview, up = _seconds(steps, step), None
        else:
            preview, up = None, _seconds(steps, step)
        if preview is None and up is None:
            continue
        result.append(
            Row(
                step,
                preview,
                up,
                _baseline(steps, step),
                TARGET_SECONDS.get(step) if at_target else None,
                SINGLE_STACK_SECONDS.get(step) if single else None,
            )
        )
    return result


def _num(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def _times(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "-"
    return f"{value / reference:.2f}x"


def _met(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def state_lines(state: Mapping[str, Any], size: int) -> list[str]:
    """The state figures beside their targets (the checkpoint files of every shard)."""
    total = int(state["bytes"])
    largest = int(state["largest_bytes"])
    per_kb = total / size / 1e3 if size else 0.0
    resources = int(state["resources"])
    at_target = size == TARGETS_AT
    single = size == SINGLE_STACK_AT
    spread = state.get("bindings_per_shard") or []
    lines = [
        f"state: {total / 1e6:.2f} MB in {len(state.get('stacks') or {})} shard checkpoints, "
        f"{per_kb:.1f} kB/binding (target <= {TARGET_KB_PER_BINDING:g}"
        + (f": {_met(per_kb <= TARGET_KB_PER_BINDING)}" if at_target else " at 1,000")
        + (f"; single stack {SINGLE_STACK_KB_PER_BINDING:g}" if single else "")
        + ")",
        f"       {resources} resources, {resources / size:.1f}/binding"
        + (f" (single stack {SINGLE_STACK_RESOURCES_PER_BINDING:g})" if single else ""),
        f"       largest stack {largest / 1e6:.2f} MB ({state.get('largest_stack')}) "
        f"(target <= {TARGET_LARGEST_STACK_BYTES / 1e6:g} MB"
        + (f": {_met(largest <= TARGET_LARGEST_STACK_BYTES)}" if at_target else " at 1,000")
        + ")",
    ]
    on_disk = int(state.get("file_bytes") or total)
    if on_disk != total:
        lines.append(
            f"       on disk (compressed): {on_disk / 1e6:.2f} MB, {on_disk / size / 1e3:.1f} "
            f"kB/binding; the engine encodes the {total / 1e6:.2f} MB of JSON at every write"
        )
    if spread:
        lines.append(
            f"       bindings per shard: min {min(spread)}, max {max(spread)}, "
            f"mean {sum(spread) / len(spread):.0f} ({', '.join(str(n) for n in spread)})"
        )
    breakdown = per_binding_line(state.get("by_type") or {}, size)
    if breakdown:
        lines.append(breakdown)
    return lines


def per_binding_line(by_type: Mapping[str, Mapping[str, int]], size: int) -> str:
    """kB per binding of each resource type declared once per binding, largest first, with the
    Kubernetes objects' sum: what a per-binding state target can and cannot reach, since the
    kubernetes provider stores each object's inputs twice and its whole live object."""
    if not size:
        return ""
    each = sorted(
        (
            (entry["bytes"] / size / 1e3, kind.rsplit(":", 1)[-1], kind.startswith("kubernetes:"))
            for kind, entry in by_type.items()
            if entry.get("resources") == size
        ),
        reverse=True,
    )
    if not each:
        return ""
    kubernetes = sum(kb for kb, _, is_object in each if is_object)
    parts = ", ".join(f"{name} {kb:.1f}" for kb, name, _ in each)
    return f"       per binding (kB): {parts}; Kubernetes objects together {kubernetes:.1f}"


def table(
    summary: Mapping[int, Mapping[str, Mapping[str, Median]]],
    states: Mapping[int, Mapping[str, Any]],
) -> str:
    """One block per N: seconds per step beside target, baseline and single stack."""
    header = (
        f"{'step':<22}{'preview s':>10}{'up s':>9}{'total s':>9}{'target s':>10}{'met':>5}"
        f"{'baseline s':>12}{'x base':>9}{'1 stack s':>11}{'x 1 stack':>11}"
    )
    lines: list[str] = []
    for size in sorted(summary):
        state = states.get(size) or {}
        lines += ["", f"N = {size} bindings in {state.get('shards', '?')} shards"]
        lines += [header, "-" * len(header)]
        for row in rows(summary[size], size):
            lines.append(
                f"{STEP_TITLES[row.step]:<22}{_num(row.preview):>10}{_num(row.up):>9}"
                f"{row.total:>9.1f}{_num(row.target, 'g'):>10}{_met(row.met):>5}"
                f"{_num(row.baseline):>12}{_times(row.total, row.baseline):>9}"
                f"{_num(row.single):>11}{_times(row.total, row.single):>11}"
            )
        if state:
            lines += state_lines(state, size)
        if size != TARGETS_AT:
            lines.append(f"(targets and single-stack figures are for N = {TARGETS_AT:,})")
    return "\n".join(lines)
