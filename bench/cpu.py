"""Where a step's CPU goes: the pulumi process tree, sampled from /proc.

Wall time alone cannot say whether the engine, the Python program, the dynamic-provider host or
the kubernetes plugin is the bottleneck. While a step runs, a thread reads every descendant's
``utime + stime`` from ``/proc/<pid>/stat`` every ``interval`` seconds and keeps the last value
seen per process; at the end they are summed per role. A process that exits between two samples
loses at most one interval of CPU, so short-lived helpers are under-counted slightly. Processes
already running when the step starts (the sandbox's API server, etcd and PostgreSQL, started by
the benchmark itself) count only what they used during the step.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
ROLES = (
    ("-m components.watch", "pipeline runner (python)"),
    ("-m pulumi.dynamic", "dynamic providers (python)"),
    ("pulumi-resource-kubernetes", "kubernetes provider"),
    ("pulumi-language-python-exec", "program (python)"),
    ("__main__.py", "program (python)"),
    ("pulumi-language-python", "language host"),
    ("pulumi ", "engine (pulumi CLI)"),
    ("kube-apiserver", "sandbox kube-apiserver"),
    ("kube-controller-manager", "sandbox kube-controller-manager"),
    ("etcd", "sandbox etcd"),
    ("postgres", "sandbox postgres"),
)


def _role(cmdline: str) -> str:
    for needle, role in ROLES:
        if needle in cmdline:
            return role
    return "other"


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of ``pid``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class CpuSampler:
    """Samples the CPU of every process descended from this one."""

    def __init__(self, interval: float = 0.5) -> None:
        self._interval = interval
        self._seen: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()

    def _sample(self) -> None:
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _stat(int(entry))
                if stat is not None:
                    parents[int(entry)], cpu[int(entry)] = stat
        root = os.getpid()
        for pid, seconds in cpu.items():
            ancestor: int | None = parents.get(pid)
            hops = 0
            while ancestor is not None and ancestor not in (0, 1, root) and hops < 32:
                ancestor, hops = parents.get(ancestor), hops + 1
            if ancestor == root:
                role = self._seen[pid][0] if pid in self._seen else _role(_cmdline(pid))
                self._seen[pid] = (role, seconds)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    @contextmanager
    def running(self) -> Iterator[dict[str, float]]:
        """Sample while the block runs; the yielded dict is filled with seconds per role."""
        totals: dict[str, float] = {}
        self._sample()
        initial = {pid: seconds for pid, (_, seconds) in self._seen.items()}
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        try:
            yield totals
        finally:
            self._stop.set()
            thread.join()
            for pid, (role, seconds) in self._seen.items():
                used = seconds - initial.get(pid, 0.0)
                totals[role] = round(totals.get(role, 0.0) + used, 1)
