"""Run the benchmark: one sandbox, then for each N the program and the baseline, step by step.

Order within a repetition: reset the bindings (replicas 0, no status), run the program's five
steps, reset again, run the baseline's five steps. Each side starts from nothing and ends with a
destroy, so the two never see each other's objects; statuses are cleared so neither finds the
other's status already written. Set-up (creating bindings, scaling the changed one, the
inventories) happens between measured steps and is never timed or counted.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.baseline import WORKERS, Baseline
from bench.inventory import inventory
from bench.kubestats import ApiServerMetrics
from bench.measure import Meter, StepResult
from bench.program import PROJECT, ProgramSide
from bench.report import SIDES, STEPS
from bench.sqlstats import SqlStats
from bench.workload import BindingWriter, Workload
from components.kube_client import new_api_client
from components.settings import settings_from_values
from sandbox.environment import (
    BINDINGS_NAMESPACE,
    BROWSER_NAMESPACE,
    GUACAMOLE_DATABASE,
    REPO,
    STATE_FILE,
    Sandbox,
)
from sandbox.program_copy import copy_program


class InventoryMismatchError(RuntimeError):
    """The two sides did not build the same objects and rows: the comparison would be void."""


@dataclass
class Outcome:
    results: list[StepResult]
    states: dict[int, dict[str, Any]]
    meta: dict[str, Any]


@dataclass
class Options:
    sizes: list[int]
    repeat: int
    workdir: Path
    sides: tuple[str, ...] = SIDES
    steps: tuple[str, ...] = STEPS
    """Steps to measure; ``up`` and ``destroy`` always run (every cycle starts and ends empty)."""
    program_env: Mapping[str, str] = field(default_factory=dict)
    keep: bool = False
    log: Callable[[str], None] = print
    save: Callable[[Outcome], None] | None = None
    """Called after every step with everything so far, so a long run that dies keeps its data."""


def run(options: Options) -> Outcome:
    """Start a fresh sandbox, measure every N, stop the sandbox (unless ``keep``)."""
    return in_sandbox(options.workdir, options.keep, options.log, lambda box: _run_on(box, options))


def in_sandbox(
    workdir: Path, keep: bool, log: Callable[[str], None], body: Callable[[Sandbox], Outcome]
) -> Outcome:
    """``body`` on a fresh sandbox in ``workdir`` (a previous one there is discarded), which is
    stopped afterwards unless ``keep``: every benchmark starts from the same empty platform."""
    _discard_previous(workdir)
    box = Sandbox.create(workdir)
    log(f"starting sandbox in {box.workdir}")
    box.up()
    try:
        return body(box)
    finally:
        if not keep:
            box.down()


def _discard_previous(workdir: Path) -> None:
    """Stop and remove a sandbox an earlier run left in the benchmark's own work directory."""
    if (workdir / STATE_FILE).exists():
        Sandbox.load(workdir).purge()
    shutil.rmtree(workdir, ignore_errors=True)


def _run_on(box: Sandbox, options: Options) -> Outcome:
    api = new_api_client(str(box.kube.kubeconfig))
    sql = SqlStats(box.postgres.admin_dsn, GUACAMOLE_DATABASE)
    sql.prepare()
    meter = Meter(sql, ApiServerMetrics(api))
    writer = BindingWriter(api)
    settings = settings_from_values(
        {"namespace": BROWSER_NAMESPACE, "bindingsNamespace": BINDINGS_NAMESPACE}
    )
    baseline = Baseline(api, box.database_url, settings, BINDINGS_NAMESPACE)
    program_dir = copy_program(box.workdir / "program" / PROJECT)
    meta = _meta(options)
    outcome = Outcome([], {}, meta)
    results, states = outcome.results, outcome.states

    for size in options.sizes:
        workload = Workload(size, BINDINGS_NAMESPACE)
        writer.delete_all(BINDINGS_NAMESPACE)
        writer.create(workload)
        program = (
            ProgramSide(
                box,
                program_dir,
                f"bench-{size}",
                bindings_namespace=BINDINGS_NAMESPACE,
                extra_env=options.program_env,
            )
            if "program" in options.sides
            else None
        )

        def look() -> dict[str, Any]:
            return inventory(api, box.database_url, BROWSER_NAMESPACE, BINDINGS_NAMESPACE)

        for repetition in range(options.repeat):
            built: dict[str, dict[str, Any]] = {}
            for side in options.sides:
                writer.reset(workload)
                wait_until_collected(api)
                if side == "program":
                    assert program is not None
                    steps = _program_steps(program)
                else:
                    steps = _baseline_steps(baseline)
                for step, action in steps:
                    if step not in options.steps and step not in ("up", "destroy"):
                        continue
                    if step == "change-one":
                        writer.set_replicas(workload, workload.changed, 1)
                    result = meter.measure(side, step, size, repetition, action)
                    options.log(_progress(result))
                    if step == "up":
                        built[side] = result.extra["inventory"] = look()
                        if side == "program" and program is not None:
                            states[size] = program.state_size().as_json()
                    if step in ("up-noop", "change-one") and program and side == "program":
                        result.extra["change_summary"] = program.last_change_summary()
                    if step == "preview" and program and side == "program":
                        result.extra["changed_types"] = program.last_preview_types
                    if step == "destroy":
                        result.extra["inventory"] = look()
                    results.append(result)
                    meta["finished"] = _now()
                    if options.save is not None:
                        options.save(outcome)
            if len(built) == 2 and built["program"] != built["baseline"]:
                raise InventoryMismatchError(
                    f"N={size}: program built {built['program']}, baseline {built['baseline']}"
                )
        if program is not None:
            program.remove()
        writer.delete_all(BINDINGS_NAMESPACE)

    return outcome


Steps = list[tuple[str, Callable[[], int]]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _meta(options: Options) -> dict[str, Any]:
    return {
        "started": _now(),
        "finished": None,
        "sizes": options.sizes,
        "repeat": options.repeat,
        "sides": list(options.sides),
        "program_env": dict(options.program_env),
        "baseline_workers": WORKERS,
        "host": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": _cpus(),
        },
        "commit": _commit(),
    }


def _program_steps(program: ProgramSide) -> Steps:
    return [
        ("up", program.up),
        ("preview", program.preview),
        ("up-noop", program.up),
        ("change-one", program.up),
        ("destroy", program.destroy),
    ]


def _baseline_steps(baseline: Baseline) -> Steps:
    return [
        ("up", baseline.up),
        ("preview", baseline.preview),
        ("up-noop", baseline.up),
        ("change-one", baseline.up),
        ("destroy", baseline.destroy),
    ]


def _progress(result: StepResult) -> str:
    return (
        f"  N={result.size} #{result.repetition + 1} {result.side:<8} {result.step:<10} "
        f"{result.seconds:8.1f}s  changed={result.changes:<5} sql={result.sql.total:<6} "
        f"sql_writes={result.sql.write_calls:<6} commits={result.sql.commits:<6} "
        f"kube_writes={result.kube.writes}"
    )


def _cpus() -> int:
    return os.cpu_count() or 0


def _commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


def wait_until_collected(api: Any, timeout: float = 1800.0) -> None:
    """Wait for the garbage collector to remove the Deployments ``destroy`` left marked for
    deletion (it does not wait for them): the baseline creates the same names."""
    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + timeout

    def marked() -> bool:
        items = apps.list_namespaced_deployment(BROWSER_NAMESPACE).items
        return any(item.metadata.deletion_timestamp is not None for item in items)

    while marked():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Deployments in {BROWSER_NAMESPACE} still there after {timeout}s")
        time.sleep(2)
