"""Exponential backoff for failed runs.

A run fails for reasons that usually pass (API server restarting, database failover, a stack
lock held by another writer), so failed work is retried, never dropped; the delay grows so a
persistent failure does not hammer the cluster, and is capped so recovery is noticed in minutes.
Jitter keeps several watchers (one per stack) from retrying in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float = 2.0
    factor: float = 2.0
    maximum: float = 300.0
    jitter: float = 0.1

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        spread = base * self.jitter * (2 * rand() - 1)
        return max(0.0, min(self.maximum, base + spread))
