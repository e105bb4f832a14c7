"""The login fast path's latency, part of ``python -m bench.watch_latency`` (mode ``fast``).

Per sample, one binding among N is patched 0 -> 1 and later 1 -> 0; each direction is timed from
the binding patch until a watch on the Deployment sees the new ``spec.replicas`` (and until the
binding's ``status.replicas`` follows). Before the next patch the watcher's follow-up run must
have finished, so a sample never overlaps a run. Then a burst: ``BURST`` different bindings
patched from 10 threads within about a second, timed per binding and until the last Deployment is
scaled, in both directions. The floor (the same patch made directly on the Deployment) is taken
in the same run by :func:`bench.watch_latency.measure_floor`; ratios are against its median.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes import client, config, watch

from bench.workload import binding_name, deployment_name
from sandbox.environment import BROWSER_NAMESPACE

if TYPE_CHECKING:
    from bench.watch_latency import Bench, WatcherProcess

BURST = 50
BURST_THREADS = 10
QUIET = 3.0
"""Seconds without a new run starting before the watcher counts as settled."""
_STARTS = ("targeted up of ", "full up: ")
_ENDS = (" finished in ", " failed (attempt ")


def summary(values: Iterable[float]) -> dict[str, Any]:
    """Median, p95 (nearest rank) and the samples themselves."""
    items = sorted(values)
    if not items:
        return {"n": 0, "median": None, "p95": None, "samples": []}
    rank = max(1, math.ceil(0.95 * len(items)))
    return {
        "n": len(items),
        "median": round(statistics.median(items), 4),
        "p95": round(items[rank - 1], 4),
        "samples": items,
    }


class BurstObserver:
    """One watch over the browser namespace, stamping when each Deployment reaches ``target``."""

    def __init__(self, kubeconfig: Path, names: Iterable[str], target: int) -> None:
        self._api = client.AppsV1Api(config.new_client_from_config(str(kubeconfig)))
        self._waiting = set(names)
        self._target = target
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.at: dict[str, float] = {}
        listed = self._api.list_namespaced_deployment(BROWSER_NAMESPACE)
        self._version = listed.metadata.resource_version
        self._stream = watch.Watch()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(Exception):
                for event in self._stream.stream(
                    self._api.list_namespaced_deployment,
                    BROWSER_NAMESPACE,
                    resource_version=self._version,
                    timeout_seconds=60,
                ):
                    obj = event["object"]
                    if event["type"] == "ERROR" or not hasattr(obj, "metadata"):
                        break
                    self._version = obj.metadata.resource_version
                    if int(obj.spec.replicas or 0) == self._target:
                        self._stamp(obj.metadata.name)
                    if self._done.is_set():
                        return

    def _stamp(self, name: str) -> None:
        with self._lock:
            if name in self._waiting and name not in self.at:
                self.at[name] = time.monotonic()
                if self._waiting <= self.at.keys():
                    self._done.set()

    def wait(self, timeout: float) -> dict[str, float]:
        if not self._done.wait(timeout):
            self._stream.stop()
            missing = sorted(self._waiting - self.at.keys())
            raise TimeoutError(f"{len(missing)} Deployment(s) never reached {self._target}")
        self._stream.stop()
        return dict(self.at)


def wait_quiet(watcher: WatcherProcess, offset: int, timeout: float) -> int:
    """Wait until every run the watcher started after ``offset`` has ended and none has started
    for ``QUIET`` seconds; return the new offset."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        text = watcher.text()[offset:]
        started = sum(text.count(s) for s in _STARTS)
        ended = sum(text.count(e) for e in _ENDS)
        if started and started <= ended:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= QUIET:
                return offset + len(text)
        else:
            quiet_since = None
        if watcher.process.poll() is not None:
            raise RuntimeError(f"watch exited {watcher.process.returncode}")
        time.sleep(0.2)
    raise TimeoutError("the watcher's follow-up runs never settled")


def measure_fast(
    bench: Bench,
    watcher: WatcherProcess,
    size: int,
    indices: list[int],
    timeout: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from bench.watch_latency import DeploymentObserver, patch_binding, wait_status

    timings: dict[str, list[float]] = {"up": [], "down": [], "status_up": [], "status_down": []}
    offset = len(watcher.text())
    for index in indices:
        line = []
        for replicas, direction in ((1, "up"), (0, "down")):
            observer = DeploymentObserver(
                bench.box.kube.kubeconfig, deployment_name(index), replicas
            )
            start = time.monotonic()
            patch_binding(bench, index, replicas)
            scaled = observer.wait(timeout)
            status = wait_status(bench, index, replicas, timeout)
            timings[direction].append(round(scaled - start, 4))
            timings[f"status_{direction}"].append(round(status - start, 4))
            line.append(f"{direction} {scaled - start:.3f}s (status {status - start:.3f}s)")
            offset = wait_quiet(watcher, offset, timeout)  # recorded before the next sample
        log(f"  {binding_name(index)}: " + ", ".join(line))
    result = {key: summary(values) for key, values in timings.items()}
    result["burst"] = measure_burst(bench, watcher, min(BURST, size), timeout, log)
    return result


def measure_burst(
    bench: Bench,
    watcher: WatcherProcess,
    count: int,
    timeout: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """``count`` logins patched at once, then the same logouts."""
    from bench.watch_latency import patch_binding

    indices = list(range(count))
    names = {deployment_name(i): i for i in indices}
    out: dict[str, Any] = {"bindings": len(indices)}
    offset = len(watcher.text())
    for replicas, direction in ((1, "up"), (0, "down")):
        observer = BurstObserver(bench.box.kube.kubeconfig, names, replicas)
        starts: dict[int, float] = {}
        first = time.monotonic()

        def patch(index: int, replicas: int = replicas, starts: dict[int, float] = starts) -> None:
            starts[index] = time.monotonic()
            patch_binding(bench, index, replicas)

        with ThreadPoolExecutor(max_workers=BURST_THREADS) as pool:
            list(pool.map(patch, indices))
        sent = time.monotonic() - first
        stamps = observer.wait(timeout)
        per_binding = [stamps[name] - starts[i] for name, i in names.items()]
        out[direction] = {
            "patches_sent_within": round(sent, 3),
            "all_scaled_after": round(max(stamps.values()) - first, 4),
            **summary(round(v, 4) for v in per_binding),
        }
        log(
            f"  burst {direction}: {len(indices)} patches sent in {sent:.2f}s, all scaled "
            f"{out[direction]['all_scaled_after']:.3f}s after the first"
        )
        offset = wait_quiet(watcher, offset, timeout)
    return out


def fast_table(results: dict[int, dict[str, Any]]) -> str:
    """Median / p95 (samples) per direction against the floor, plus the burst."""
    rows = [
        "| bindings | change | floor median | fast path median | p95 | samples | median / floor |"
        " status.replicas median |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, by_mode in sorted(results.items()):
        fast, floor = by_mode.get("fast"), by_mode.get("floor") or {}
        if not fast:
            continue
        for direction, label, floor_key in (
            ("up", "0 -> 1", "median"),
            ("down", "1 -> 0", "down_median"),
        ):
            entry, base = fast[direction], floor.get(floor_key)
            ratio = f"{entry['median'] / base:.1f}x" if base and entry["median"] else "-"
            status = fast[f"status_{direction}"]["median"]
            rows.append(
                f"| {size} | {label} | {_s(base)} | {_s(entry['median'])} | {_s(entry['p95'])} "
                f"| {entry['n']} | {ratio} | {_s(status)} |"
            )
        burst = fast.get("burst") or {}
        for direction, label in (("up", "burst 0 -> 1"), ("down", "burst 1 -> 0")):
            entry = burst.get(direction)
            if entry:
                sent, last = entry["patches_sent_within"], entry["all_scaled_after"]
                rows.append(
                    f"| {size} | {label} ({burst['bindings']} sent in {sent:.2f} s,"
                    f" all scaled after {last:.2f} s) | - "
                    f"| {_s(entry['median'])} | {_s(entry['p95'])} | {entry['n']} | - | - |"
                )
    return "\n".join(rows)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"
