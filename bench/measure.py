"""One measured step: wall time, SQL from PostgreSQL's statistics, API requests from /metrics,
and the CPU seconds of each process the step started (see :mod:`bench.cpu`).

The counters are read before and after the step, outside the timed section, so reading them
never inflates a timing; and both sides of the comparison go through this one function, so they
are measured identically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.cpu import CpuSampler
from bench.kubestats import ApiServerMetrics, KubeCounts, difference
from bench.sqlstats import SqlCounts, SqlStats


@dataclass
class StepResult:
    """What one side did in one step of one repetition."""

    side: str
    step: str
    size: int
    repetition: int
    seconds: float
    changes: int
    sql: SqlCounts
    kube: KubeCounts
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "step": self.step,
            "size": self.size,
            "repetition": self.repetition,
            "seconds": round(self.seconds, 3),
            "changes": self.changes,
            "sql": self.sql.as_json(),
            "kube": self.kube.as_json(),
            **self.extra,
        }


@dataclass
class Meter:
    """The two counters every step is measured with."""

    sql: SqlStats
    kube: ApiServerMetrics

    def measure(
        self, side: str, step: str, size: int, repetition: int, work: Callable[[], int]
    ) -> StepResult:
        """Run ``work`` (which returns how many resources it changed) and count what it did."""
        self.sql.reset()
        before = self.kube.scrape()
        with CpuSampler().running() as cpu:
            started = time.monotonic()
            changes = work()
            seconds = time.monotonic() - started
        after = self.kube.scrape()
        sql = self.sql.collect()
        return StepResult(
            side=side,
            step=step,
            size=size,
            repetition=repetition,
            seconds=seconds,
            changes=changes,
            sql=sql,
            kube=difference(before, after),
            extra={"cpu_seconds": cpu} if cpu else {},
        )
