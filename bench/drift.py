"""Cost of the drift check (``--repair-drift``, the watcher's start-up and resync).

    .venv/bin/python -m bench.drift --quick               # N = 10, 100
    .venv/bin/python -m bench.drift --sizes 1000           # the 1,000-binding point

For each N a stack is brought up (without checkpoints, set-up only), then, each step timed:

* ``no-op up``: what a resync costs anyway (the reference);
* ``check (clean)``: the drift check when nothing drifted, split into the state export with
  secrets, the one read-only transaction that observes every row and the fence half (the
  label-selected LISTs of the NetworkPolicies, Deployments, Services and VNC Secrets, compared);
* ``refresh all rows``: the alternative design, ``pulumi refresh --target`` of every Guacamole
  row resource (the baseline the check is compared with);
* ``check (all drifted)``: after the legacy operator's reset of every VNC password to ``1234``,
  the check including its targeted refresh of the N drifted connections;
* ``repair up``: the ``up`` that writes the passwords back.

Prints a table with the ratio baseline/check and writes ``bench/results/drift-<UTC>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.program import PROJECT, ProgramSide
from bench.workload import BindingWriter, Workload
from components.guacamole.database import Database
from components.guacamole.drift import find_drift
from components.kube_client import new_api_client
from components.watch import fence_drift
from components.watch.drift import DriftCheck, recorded_rows
from components.watch.overrides import Project
from components.watch.runner import StackRunner
from sandbox.environment import BINDINGS_NAMESPACE, REPO, STATE_FILE, Sandbox
from sandbox.program_copy import copy_program

RESULTS = REPO / "bench" / "results"
COLUMNS = (
    ("no-op up", "noop_up"),
    ("export", "export"),
    ("observe", "observe"),
    ("fence", "fence"),
    ("check clean", "check_clean"),
    ("refresh all rows", "refresh_all"),
    ("check all drifted", "check_drifted"),
    ("repair up", "repair_up"),
)


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def _timed(action: Any) -> tuple[float, Any]:
    started = time.monotonic()
    value = action()
    return time.monotonic() - started, value


def measure(box: Sandbox, program_dir: Path, size: int, log: Any) -> dict[str, Any]:
    """Every figure for one N (the stack is created, measured and destroyed here)."""
    api = new_api_client(str(box.kube.kubeconfig))
    writer = BindingWriter(api)
    workload = Workload(size, BINDINGS_NAMESPACE)
    writer.delete_all(BINDINGS_NAMESPACE)
    writer.create(workload)
    program = ProgramSide(
        box,
        program_dir,
        f"drift-{size}",
        bindings_namespace=BINDINGS_NAMESPACE,
        extra_env={"PULUMI_SKIP_CHECKPOINTS": "true"},
    )
    figures: dict[str, Any] = {"size": size}
    try:
        log(f"N={size}: up from empty (set-up)")
        program.up()
        runner = StackRunner(Project.load(program_dir), program.stack, env=program.cli.env)
        figures["noop_up"], _ = _timed(runner.up)

        figures["export"], state = _timed(lambda: runner.export(show_secrets=True))
        rows = recorded_rows(state.get("deployment"))
        figures["rows"] = len(rows)
        database = Database(box.database_url)
        try:
            figures["observe"], drift = _timed(
                lambda: database.run(lambda cur: find_drift(cur, rows), read_only=True)
            )
        finally:
            database.close()
        assert drift == [], drift
        deployment = state.get("deployment")
        objects = fence_drift.recorded_objects(deployment)
        figures["fence_objects"] = len(objects)
        figures["fence"], fenced = _timed(
            lambda: fence_drift.repair(fence_drift.kubeconfig_of(deployment), objects)
        )
        assert fenced == [], fenced
        check = DriftCheck(runner, environ={})
        figures["check_clean"], report = _timed(check.run)
        assert not report.error and not report.drifted, report.error

        urns = [row.urn for row in rows]
        figures["refresh_all"], error = _timed(lambda: runner.refresh(urns))
        assert not error, error

        with psycopg.connect(box.database_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE guacamole_connection_parameter SET parameter_value = '1234'"
                " WHERE parameter_name = 'password'"
            )
        figures["check_drifted"], report = _timed(check.run)
        assert not report.error, report.error
        figures["drifted"] = len(report.drifted)
        figures["repair_up"], outcome = _timed(runner.up)
        assert outcome.ok, outcome.error
        figures["repaired"] = outcome.changes
        log(f"N={size}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items()))
    finally:
        program.destroy()
        program.remove()
        writer.delete_all(BINDINGS_NAMESPACE)
    return figures


def _fmt(value: Any) -> str:
    return f"{value:.2f}s" if isinstance(value, float) else str(value)


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| bindings | rows | "
        + " | ".join(name for name, _ in COLUMNS)
        + " | refresh all / check |"
    )
    lines = [head, "|" + " ---: |" * (len(COLUMNS) + 3)]
    for item in results:
        cells = [f"{item[key]:.1f} s" if key in item else "-" for _, key in COLUMNS]
        ratio = item["refresh_all"] / item["check_clean"] if item["check_clean"] else 0.0
        lines.append(
            f"| {item['size']:,} | {item['rows']:,} | " + " | ".join(cells) + f" | {ratio:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drift", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N = 10, 100")
    parser.add_argument("--sizes", type=_sizes, help="comma-separated N (default 10,100,1000)")
    parser.add_argument("--workdir", type=Path, default=REPO / ".sandbox" / "bench-drift")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([10, 100] if args.quick else [10, 100, 1000])
    if (args.workdir / STATE_FILE).exists():
        Sandbox.load(args.workdir).purge()
    box = Sandbox.create(args.workdir)
    print(f"starting sandbox in {box.workdir}", flush=True)
    box.up()
    os.environ["PATH"] = box.env()["PATH"]  # the runner finds the toolchain's pulumi
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = RESULTS / f"drift-{stamp}.json"
    results: list[dict[str, Any]] = []
    try:
        program_dir = copy_program(box.workdir / "program" / PROJECT)
        for size in sizes:
            results.append(measure(box, program_dir, size, lambda line: print(line, flush=True)))
            output.parent.mkdir(parents=True, exist_ok=True)
            meta = {"started": stamp, "cpus": os.cpu_count(), "sizes": sizes}
            output.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    finally:
        if not args.keep:
            box.down()
    print(table(results))
    print(f"\nwritten {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
