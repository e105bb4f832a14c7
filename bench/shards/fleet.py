"""``python -m bench.shards.fleet``: does one binding change cost the same whatever the fleet?

    .venv/bin/python -m bench.shards.fleet                      # N = 1,000 and 5,000
    .venv/bin/python -m bench.shards.fleet --sizes 1000,10000

A change runs one shard, so its cost should not grow with the environment. For each N (20 users
per workspace, the suggested shard count) the whole fleet is first built by the raw baseline:
every binding's Deployment, Service, Secret and Guacamole rows and every workspace's
NetworkPolicy, as the other shards would hold them (same names and labels). Every workspace is
placed in the stored map and only the shard holding workspace 0 is brought under Pulumi (its
first ``up`` adopts what the baseline built; set-up, untimed). Then, through the pipeline entry
points on that shard (``scripts/watch preview|up --stack <env>.shard-<i>``, which read all N
bindings and the map): a no-op preview, and one binding added, changed and removed in
workspace 0 (each the preview of the proposed file and the ``up`` after the merge). Then the
raw baseline does the same three edits at the same N. Each figure is printed beside its ratio
to the first N: 1.0 is flat.

Building the fleet directly keeps the run to minutes (a sharded ``up`` from empty of 5,000
bindings takes about an hour, ``python -m bench.shards --sizes 5000``); what a shard's run
reads of the rest of the fleet (the bindings, the labelled objects, the Guacamole connections)
is there all the same.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.__main__ import RESULTS, _sizes
from bench.baseline import Baseline
from bench.measure import StepResult
from bench.program import PROJECT, ProgramSide
from bench.report import Median, summarise, write_json
from bench.runner import Outcome, in_sandbox, wait_until_collected
from bench.shards.environment import ShardedEnvironment
from bench.shards.plan import Edit, default_shards, edits, workload
from bench.shards.runner import Options, _Session, _write, measure_edits
from bench.workload import Workload
from components.kube_client import new_api_client
from components.placement import Placement, binding_counts
from components.placement_store import PlacementStore
from components.settings import settings_from_values
from components.sharding import shard_stack_name
from sandbox.environment import BINDINGS_NAMESPACE, BROWSER_NAMESPACE, REPO, Sandbox
from sandbox.program_copy import copy_program
from sandbox.pulumi_cli import PulumiCli

DEFAULT_SIZES = [1000, 5000]
EDIT_STEPS = ("add-one", "change-one", "remove-one")


def shard_edits(base: Workload) -> list[Edit]:
    """Added, changed and removed, all in workspace 0, so all three touch the measured shard."""
    added, changed, _ = edits(base)
    removed = base.manifest(2)
    proposed = [m for m in changed.proposed if m["metadata"]["name"] != removed["metadata"]["name"]]
    return [added, changed, Edit("remove-one", "delete", removed, copy.deepcopy(proposed))]


def run(sizes: list[int], workdir: Path, save: Path) -> Outcome:
    options = Options(sizes, {n: default_shards(n) for n in sizes}, workdir)

    def body(box: Sandbox) -> Outcome:
        session = _Session(box, options)
        session.outcome.meta["benchmark"] = "fleet"
        program_dir = copy_program(box.workdir / "program" / PROJECT)
        files = box.workdir / "bindings"
        files.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            _one_size(session, program_dir, files, size, options.shards[size])
            write_json(save, meta=session.outcome.meta, results=session.outcome.results, states={})
        return session.outcome

    return in_sandbox(workdir, False, print, body)


def _one_size(session: _Session, program_dir: Path, files: Path, size: int, shards: int) -> None:
    base = workload(size, BINDINGS_NAMESPACE)
    settings = settings_from_values(
        {"namespace": BROWSER_NAMESPACE, "bindingsNamespace": BINDINGS_NAMESPACE}
    )
    baseline = Baseline(session.api, session.box.database_url, settings, BINDINGS_NAMESPACE)
    session.writer.delete_all(BINDINGS_NAMESPACE)
    session.writer.create(base)
    session.measure("baseline", "fleet-up", size, baseline.up)
    wait_until_observed(session.api)

    environment = f"fleet-{size}"
    placement = Placement().extended(binding_counts(base.manifests()), shards)
    kubeconfig = str(session.box.kube.kubeconfig)
    store = PlacementStore(lambda: new_api_client(kubeconfig), BROWSER_NAMESPACE, environment)
    store.update(lambda _: placement, shards)
    index = placement.shard_of(base.manifest(0)["spec"]["workspace"])
    assert index is not None
    side = ProgramSide(session.box, program_dir, environment, bindings_namespace=BINDINGS_NAMESPACE)
    env = ShardedEnvironment(
        side.cli, shards, session.box.backend_dir, session.box.workdir / "logs" / environment
    )
    env.target = shard_stack_name(environment, index)
    env.up()  # adopts what the baseline built for this shard's workspaces
    env.up()
    wait_until_observed(session.api)

    def last() -> dict[str, Any]:
        return env.last.as_json()

    current = _write(files / f"fleet-{size}-current.yaml", base.manifests())
    session.measure("program", "preview", size, lambda: env.preview(current), last)
    measure_edits(session, env, base, shard_edits(base), files / f"fleet-{size}")

    shard = PulumiCli(side.cli.project_dir, env.target, side.cli.env, timeout=side.cli.timeout)
    shard.run("destroy", "--yes", "--skip-preview")
    session.restore(base)
    wait_until_collected(session.api)
    baseline.up()  # the measured shard's objects again, as the fleet had them
    for edit in shard_edits(base):
        session.apply(base, edit)
        session.measure("baseline", f"{edit.step}:preview", size, baseline.preview)
        session.measure("baseline", f"{edit.step}:up", size, baseline.up)
    baseline.destroy()
    wait_until_collected(session.api)
    session.writer.delete_all(BINDINGS_NAMESPACE)


def wait_until_observed(api: Any, stall: float = 600.0) -> None:
    """Wait until the Deployment controller has synced every Deployment the baseline just
    created. Until then it works through a backlog of thousands, and a status write that waits
    for it (a binding scaled 0 -> 1, :mod:`components.binding_status`) would measure the
    backlog, not the change. The backlog takes about N / 5 seconds here (over half an hour at
    10,000), so only a wait of ``stall`` seconds without progress fails."""
    apps = client.AppsV1Api(api)
    fewest: int | None = None
    progressed = time.monotonic()
    while True:
        items = apps.list_namespaced_deployment(BROWSER_NAMESPACE).items
        behind = sum(
            1
            for d in items
            if (d.status.observed_generation if d.status else None) != d.metadata.generation
        )
        if not behind:
            return
        if fewest is None or behind < fewest:
            fewest, progressed = behind, time.monotonic()
        elif time.monotonic() - progressed > stall:
            raise RuntimeError(f"{behind} Deployments still unsynced, none synced for {stall}s")
        time.sleep(2)


def table(medians: Mapping[int, Mapping[str, Mapping[str, Median]]]) -> str:
    """Seconds per step and N, each with its ratio to the first N."""
    sizes = sorted(medians)
    rows: list[tuple[str, str, tuple[str, ...]]] = [("no-op preview", "program", ("preview",))]
    for step in EDIT_STEPS:
        rows.append((f"{step}, preview + up", "program", (f"{step}:preview", f"{step}:up")))
    for step in EDIT_STEPS:
        rows.append((f"baseline {step}", "baseline", (f"{step}:preview", f"{step}:up")))
    header = f"{'step':<28}" + "".join(f"{f'N={n}':>16}" for n in sizes)
    lines = [header]
    for title, side, parts in rows:
        cells = []
        first: float | None = None
        for size in sizes:
            found = [medians[size].get(p, {}).get(side) for p in parts]
            if any(m is None for m in found):
                cells.append(f"{'-':>16}")
                continue
            seconds = sum(m.seconds for m in found if m is not None)
            first = seconds if first is None else first
            cells.append(f"{seconds:>9.1f} s x{seconds / first:.2f}")
        lines.append(f"{title:<28}" + "".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)


def cpu_lines(results: Iterable[StepResult]) -> str:
    """Whose CPU the program's three edits used (preview + up, CPU-seconds), per N.

    The sandbox's control plane runs on the same cores as the program, and it works harder as
    the fleet grows (the controller-manager's resyncs, the API server's lists): split this way,
    a growing wall time can be told apart from a growing program.
    """
    totals: dict[int, dict[str, float]] = {}
    for result in results:
        if result.side != "program" or result.step.split(":")[0] not in EDIT_STEPS:
            continue
        by_group = totals.setdefault(result.size, {"program": 0.0, "sandbox": 0.0})
        for role, seconds in (result.extra.get("cpu_seconds") or {}).items():
            by_group["sandbox" if role.startswith("sandbox") else "program"] += float(seconds)
    sizes = sorted(totals)
    lines = ["CPU-seconds of the three edits (preview + up), by whose processes:"]
    for group, title in (
        ("program", "runner, CLI, program, providers"),
        ("sandbox", "sandbox API server, controllers, etcd, db"),
    ):
        cells = "".join(f"{totals[n][group]:>16.1f}" for n in sizes)
        lines.append(f"{title:<44}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shards.fleet", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, help="comma-separated N (default 1000,5000)")
    parser.add_argument("--workdir", type=Path, default=REPO / ".sandbox" / "bench-fleet")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/...)")
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output: Path = args.output or RESULTS / f"fleet-{stamp}.json"
    outcome = run(args.sizes or DEFAULT_SIZES, args.workdir, output)
    print(table(summarise(outcome.results)))
    print(cpu_lines(outcome.results))
    print(f"\nwritten {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
