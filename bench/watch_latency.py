"""Latency of a login: binding ``spec.replicas`` 0 -> 1 until its Deployment is scaled to 1.

    .venv/bin/python -m bench.watch_latency --quick            # N = 10, 3 samples (CI-sized)
    .venv/bin/python -m bench.watch_latency                    # N = 10, 100, 1000; 5 samples
    .venv/bin/python -m bench.watch_latency --sizes 1000 --workdir .sandbox/bench-watch --keep

What the Keycloak login flow waits for is measured from the moment the binding is patched to
the moment a watch on the Deployment sees ``spec.replicas == 1``, for:

* ``floor``: the same patch made directly on the Deployment (the kube API's own round trip,
  what no trigger can beat);
* ``fast``: the watcher's login fast path (it scales the Deployment itself, then the targeted run
  records it), for 0 -> 1 and 1 -> 0, plus a burst of 50 logins patched within one second;
* ``scoped``: the watcher's targeted run with the program declaring only the targeted bindings
  (the default before the fast path; run with ``--no-fast-path``);
* ``program``: the watcher's targeted run with the whole program declared (``--no-scoped
  --no-fast-path``);
* ``full``: a full ``up`` started right after the patch (what a naive trigger costs).

The watcher runs as a subprocess (``python -m components.watch watch``) against a stack on a
local sandbox, like the integration tests. Every sample is taken after the previous one has
settled (the binding scaled back to 0 and its status written). ``status`` is the time until the
binding's ``status.replicas`` shows 1 as well. Results go to
``bench/results/watch_latency-<UTC timestamp>.json`` and a median table is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from bench.fastpath_latency import fast_table, measure_fast
from bench.workload import BindingWriter, Workload, binding_name, deployment_name
from components.bindings import GROUP, PLURAL, VERSION
from sandbox.environment import BROWSER_NAMESPACE, REPO, Sandbox
from sandbox.program_copy import copy_program
from sandbox.pulumi_cli import PulumiCli

RESULTS = REPO / "bench" / "results"
STACK = "watch-bench"
NAMESPACE = "bench-watch"
MODES = ("fast", "scoped", "program", "full")
CONVERGE_TIMEOUT = 6 * 3600.0
SAMPLE_TIMEOUT = 1800.0
_FINISHED = re.compile(r"(targeted up|up) finished in ([0-9.]+)s")


# Set-up --------------------------------------------------------------------------------------


@dataclass
class Bench:
    """A sandbox, a private program copy and a stack, reusable across invocations."""

    box: Sandbox
    cli: PulumiCli
    api: client.ApiClient
    log_dir: Path

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)


def open_bench(workdir: Path) -> Bench:
    workdir = workdir.resolve()
    state = workdir / "sandbox"
    if (state / "sandbox.json").exists() and Sandbox.load(state).status()["kube"]:
        box = Sandbox.load(state)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        box = Sandbox.create(state)
        box.up()
    program = workdir / "program"
    copy_program(program)  # always the checkout's current code; the stack file stays
    secret_file = workdir / "passphrase"
    fresh = not secret_file.exists()
    if fresh:
        secret_file.write_text(secrets.token_urlsafe(16))
        secret_file.chmod(0o600)
    env = box.env()
    env["PULUMI_CONFIG_PASSPHRASE"] = secret_file.read_text()
    env.pop("AWMS_GUACAMOLE_DATABASE_URL", None)
    cli = PulumiCli(program, STACK, env, timeout=CONVERGE_TIMEOUT)
    if fresh:
        cli.init_stack()
        for key, value in {
            "bindingsSource": "cluster",
            "bindingsNamespace": NAMESPACE,
            "namespace": BROWSER_NAMESPACE,
            "kubeconfig": str(box.kube.kubeconfig),
        }.items():
            cli.config_set(key, value)
        cli.config_set("guacamoleDatabaseUrl", box.database_url, secret=True)
        try:
            box.kubectl("create", "namespace", NAMESPACE)
        except RuntimeError as error:
            if "AlreadyExists" not in str(error):
                raise
    log_dir = workdir / "logs"
    log_dir.mkdir(exist_ok=True)
    api = config.new_client_from_config(str(box.kube.kubeconfig))
    return Bench(box, cli, api, log_dir)


def converge(bench: Bench) -> float:
    """One full ``up`` outside any measurement; returns its duration.

    Set-up only, so checkpoints are skipped (``PULUMI_SKIP_CHECKPOINTS``): the file backend
    otherwise rewrites the whole, growing state file after every one of ~9,000 creates.
    """
    env = {**bench.cli.env, "PULUMI_SKIP_CHECKPOINTS": "true"}
    setup = PulumiCli(bench.cli.project_dir, STACK, env, timeout=CONVERGE_TIMEOUT)
    return setup.run("up", "--yes", "--skip-preview").seconds


def ensure_bindings(bench: Bench, size: int, log: Callable[[str], None]) -> None:
    """Bindings 0..size-1 exist, all at 0 replicas (set-up: never measured)."""
    created = BindingWriter(bench.api).ensure(Workload(size, NAMESPACE))
    log(f"bindings: {size} ({created} created)")


def converged(bench: Bench, size: int) -> bool:
    names = {
        d.metadata.name for d in bench.apps.list_namespaced_deployment(BROWSER_NAMESPACE).items
    }
    return all(deployment_name(i) in names for i in range(size))


# Observation ---------------------------------------------------------------------------------


class DeploymentObserver:
    """Watches one Deployment from its current version and stamps when ``spec.replicas`` hits
    ``target`` (a watch, not polling, so the floor is measured as precisely as the rest)."""

    def __init__(self, kubeconfig: Path, name: str, target: int) -> None:
        self._api = client.AppsV1Api(config.new_client_from_config(str(kubeconfig)))
        self._name = name
        self._target = target
        self._seen = threading.Event()
        self.at: float | None = None
        # The list's resourceVersion is the current one; the object's own may be older than etcd's
        # last compaction, and a watch from there would only ever answer 410 Gone.
        listed = self._api.list_namespaced_deployment(
            BROWSER_NAMESPACE, field_selector=f"metadata.name={name}"
        )
        if not listed.items:
            raise RuntimeError(f"Deployment {name} does not exist")
        if int(listed.items[0].spec.replicas or 0) == target:
            raise RuntimeError(f"Deployment {name} is already at {target} replicas")
        self._version = listed.metadata.resource_version
        self._stream = watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        version = self._version
        while not self._seen.is_set():
            try:
                for event in self._stream.stream(
                    self._api.list_namespaced_deployment,
                    BROWSER_NAMESPACE,
                    field_selector=f"metadata.name={self._name}",
                    resource_version=version,
                    timeout_seconds=60,
                ):
                    obj = event["object"]
                    if event["type"] == "ERROR" or not hasattr(obj, "metadata"):
                        break  # e.g. 410 Gone: resume from a fresh read below
                    version = obj.metadata.resource_version
                    if int(obj.spec.replicas or 0) == self._target:
                        self._stamp()
                        return
            except Exception:  # a dropped stream must not end the observation
                time.sleep(0.1)
            # The stream ended (server timeout, error or a dropped connection): anything missed
            # shows in the object itself, then the watch resumes from its version.
            with contextlib.suppress(Exception):
                current = self._api.list_namespaced_deployment(
                    BROWSER_NAMESPACE, field_selector=f"metadata.name={self._name}"
                )
                if current.items and int(current.items[0].spec.replicas or 0) == self._target:
                    self._stamp()
                    return
                version = current.metadata.resource_version

    def _stamp(self) -> None:
        self.at = time.monotonic()
        self._seen.set()

    def wait(self, timeout: float) -> float:
        if not self._seen.wait(timeout):
            self._stream.stop()
            raise TimeoutError(f"Deployment {self._name} never reached {self._target} replicas")
        assert self.at is not None
        return self.at


def wait_status(bench: Bench, index: int, replicas: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = bench.custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, binding_name(index)
        )
        if (body.get("status") or {}).get("replicas") == replicas:
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"status.replicas of {binding_name(index)} never reached {replicas}")


def patch_binding(bench: Bench, index: int, replicas: int) -> None:
    bench.custom.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, binding_name(index), {"spec": {"replicas": replicas}}
    )


# The watcher ---------------------------------------------------------------------------------


class WatcherProcess:
    def __init__(self, bench: Bench, mode: str, initial_run: str, log_path: Path) -> None:
        self.log_path = log_path
        # The log is appended to across runs in a reused --workdir: only this process's lines
        # (from here on) may say it is watching.
        self.start = len(self.text()) if log_path.exists() else 0
        argv = [
            sys.executable, "-m", "components.watch", "watch",
            "--stack", STACK,
            "--project-dir", str(bench.cli.project_dir),
            "--no-scoped" if mode == "program" else "--scoped",
            "--fast-path" if mode == "fast" else "--no-fast-path",
            "--initial-run", initial_run,
            "--resync-interval", "0",
            "--grace-period", "600",
        ]  # fmt: skip
        with log_path.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=bench.cli.project_dir,
                env=dict(bench.cli.env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, after: int, timeout: float) -> int:
        """Wait until ``pattern`` is logged past offset ``after``; return the new offset."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            found = text.find(pattern, after)
            if found >= 0:
                return found + len(pattern)
            if self.process.poll() is not None:
                raise RuntimeError(f"watch exited {self.process.returncode}:\n{text[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"watch never logged {pattern!r}")

    def last_run_seconds(self) -> float | None:
        found = _FINISHED.findall(self.text())
        return float(found[-1][1]) if found else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(900)


# Measurement ---------------------------------------------------------------------------------


@dataclass
class Series:
    latency: list[float] = field(default_factory=list)
    status: list[float] = field(default_factory=list)
    run: list[float] = field(default_factory=list)
    down: list[float] = field(default_factory=list)
    """1 -> 0 samples, where measured."""

    def as_json(self) -> dict[str, Any]:
        return {
            "median": median(self.latency),
            "samples": self.latency,
            "down_median": median(self.down),
            "down_samples": self.down,
            "status_median": median(self.status),
            "status_samples": self.status,
            "run_seconds_median": median(self.run),
            "run_seconds": self.run,
        }


def median(values: Iterable[float]) -> float | None:
    items = list(values)
    return round(statistics.median(items), 4) if items else None


def sample_indices(size: int, count: int) -> list[int]:
    """Different bindings each time, spread over the set."""
    stride = max(1, size // max(1, count))
    return [(1 + i * stride) % size for i in range(count)]


def measure_watcher(
    bench: Bench, watcher: WatcherProcess, size: int, repeat: int, log: Callable[[str], None]
) -> Series:
    series = Series()
    offset = len(watcher.text())
    for index in sample_indices(size, repeat):
        observer = DeploymentObserver(bench.box.kube.kubeconfig, deployment_name(index), 1)
        start = time.monotonic()
        patch_binding(bench, index, 1)
        scaled = observer.wait(SAMPLE_TIMEOUT)
        status = wait_status(bench, index, 1, SAMPLE_TIMEOUT)
        offset = watcher.wait_for(" finished in ", offset, SAMPLE_TIMEOUT)
        series.latency.append(round(scaled - start, 4))
        series.status.append(round(status - start, 4))
        seconds = watcher.last_run_seconds()
        if seconds is not None:
            series.run.append(seconds)
        log(f"  {binding_name(index)}: scaled {scaled - start:.3f}s, status {status - start:.3f}s")
        # Settle: back to 0 and its status written, before the next sample.
        patch_binding(bench, index, 0)
        wait_status(bench, index, 0, SAMPLE_TIMEOUT)
        offset = watcher.wait_for(" finished in ", offset, SAMPLE_TIMEOUT)
    return series


def measure_full(bench: Bench, size: int, repeat: int, log: Callable[[str], None]) -> Series:
    series = Series()
    for index in sample_indices(size, repeat):
        for replicas in (1, 0):
            observer = DeploymentObserver(
                bench.box.kube.kubeconfig, deployment_name(index), replicas
            )
            start = time.monotonic()
            patch_binding(bench, index, replicas)
            up_started = time.monotonic()
            bench.cli.run("up", "--yes", "--skip-preview")
            up_seconds = time.monotonic() - up_started
            scaled = observer.wait(SAMPLE_TIMEOUT)
            status = wait_status(bench, index, replicas, SAMPLE_TIMEOUT)
            if replicas == 1:
                series.latency.append(round(scaled - start, 4))
                series.status.append(round(status - start, 4))
                series.run.append(round(up_seconds, 3))
                log(f"  {binding_name(index)}: full up scaled it in {scaled - start:.3f}s")
    return series


def measure_floor(bench: Bench, size: int, repeat: int) -> Series:
    series = Series()
    apps = bench.apps
    for index in sample_indices(size, repeat):
        name = deployment_name(index)
        for replicas in (1, 0):
            observer = DeploymentObserver(bench.box.kube.kubeconfig, name, replicas)
            start = time.monotonic()
            apps.patch_namespaced_deployment(
                name, BROWSER_NAMESPACE, {"spec": {"replicas": replicas}}
            )
            seen = observer.wait(SAMPLE_TIMEOUT)
            (series.latency if replicas == 1 else series.down).append(round(seen - start, 4))
    return series


def run_size(
    bench: Bench, size: int, repeat: int, modes: list[str], full_repeat: int, fast_repeat: int,
    log: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    ensure_bindings(bench, size, log)
    log(f"N={size}: converging (one full up, not measured)")
    results: dict[str, Any] = {"setup": {"converge_seconds": round(converge(bench), 1)}}
    if not converged(bench, size):
        raise RuntimeError(f"not every Deployment exists at N={size}")
    for mode in modes:
        if mode == "full":
            log(f"N={size}: full up after the patch")
            results[mode] = measure_full(bench, size, min(repeat, full_repeat), log).as_json()
            continue
        watcher = WatcherProcess(bench, mode, "none", bench.log_dir / f"watch-{size}-{mode}.log")
        try:
            watcher.wait_for("watching ", watcher.start, 900)
            if mode == "fast":
                log(f"N={size}: login fast path")
                indices = sample_indices(size, fast_repeat)
                results[mode] = measure_fast(bench, watcher, size, indices, SAMPLE_TIMEOUT, log)
                continue
            log(f"N={size}: {mode} targeted runs")
            results[mode] = measure_watcher(bench, watcher, size, repeat, log).as_json()
        finally:
            watcher.stop()
    log(f"N={size}: floor (direct Deployment patch)")
    floor_repeat = max(repeat, fast_repeat) if "fast" in modes else repeat
    results["floor"] = measure_floor(bench, size, floor_repeat).as_json()
    return results


# Report --------------------------------------------------------------------------------------


def table(results: dict[int, dict[str, Any]], modes: list[str]) -> str:
    columns = ["floor", *(m for m in modes if m != "fast")]
    titles = {
        "floor": "floor: kube patch",
        "scoped": "targeted, scoped",
        "program": "targeted, whole program",
        "full": "full up",
    }
    header = "| bindings | " + " | ".join(titles[c] for c in columns) + " |"
    rule = "|---:|" + "---:|" * len(columns)
    rows = [header, rule]
    for size, by_mode in sorted(results.items()):
        cells = []
        for column in columns:
            entry = by_mode.get(column) or {}
            value = entry.get("median")
            cell = "-" if value is None else f"{value:.3f} s"
            if entry.get("run_seconds_median") is not None:
                cell += f" (run {entry['run_seconds_median']:.1f} s)"
            cells.append(cell)
        rows.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.watch_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default="", help="comma-separated N (default 10,100,1000)")
    parser.add_argument("--repeat", type=int, default=0, help="samples per size (default 5)")
    parser.add_argument("--quick", action="store_true", help="N = 10, 3 samples (for CI)")
    parser.add_argument(
        "--modes",
        default="fast,scoped,program,full",
        help=f"comma-separated subset of {','.join(MODES)}",
    )
    parser.add_argument(
        "--fast-repeat",
        type=int,
        default=20,
        help="samples per direction of the fast path per size (default 20; --quick: 5)",
    )
    parser.add_argument(
        "--full-repeat",
        type=int,
        default=1,
        help="samples of the (slow) full mode per size (default 1)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="sandbox, program copy and stack to reuse (default: a fresh one)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running")
    parser.add_argument("--output", type=Path, default=None, help="JSON file to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s] or (
        [10] if args.quick else [10, 100, 1000]
    )
    repeat = args.repeat or (3 if args.quick else 5)
    fast_repeat = 5 if args.quick and args.fast_repeat == 20 else args.fast_repeat
    modes = [m for m in args.modes.split(",") if m]
    if not modes or not set(modes) <= set(MODES) or min(sizes) < 2:
        print(f"--modes takes {','.join(MODES)}; sizes must be at least 2", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output: Path = args.output or RESULTS / f"watch_latency-{stamp}.json"
    workdir: Path = args.workdir or REPO / ".sandbox" / f"bench-watch-{stamp}"

    def log(line: str) -> None:
        print(line, flush=True)

    bench = open_bench(workdir)
    results: dict[int, dict[str, Any]] = {}
    meta = {
        "started": stamp,
        "cpus": os.cpu_count(),
        "repeat": repeat,
        "modes": modes,
        "workdir": str(workdir),
    }
    try:
        for size in sorted(sizes):
            results[size] = run_size(bench, size, repeat, modes, args.full_repeat, fast_repeat, log)
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    finally:
        if not args.keep:
            bench.box.down()
    if [m for m in modes if m != "fast"]:
        print(table(results, modes))
    if "fast" in modes:
        print(fast_table(results))
    print(f"\nwritten {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
