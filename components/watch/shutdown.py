"""SIGTERM/SIGINT handling: finish or cleanly interrupt the running update, never kill it.

Killing the CLI mid-update leaves the stack locked and operations pending. So the first signal
only asks the watcher to stop taking work; the running update gets ``grace`` seconds to finish,
then it is interrupted the way Ctrl-C does (SIGINT: in-flight steps complete, the state is saved,
the lock is released) and given ``cancel_timeout`` more. A second signal skips the grace period.
Kubernetes sends SIGTERM and waits ``terminationGracePeriodSeconds`` (30 by default) before
SIGKILL, so the two defaults (20 + 20 would exceed it) should be set to fit the pod's period.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

log = logging.getLogger(__name__)


class Shutdown:
    def __init__(self, interrupt: Callable[[], bool]) -> None:
        self.requested = threading.Event()
        self.urgent = threading.Event()
        self._interrupt = interrupt

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            log.warning("%s received again: interrupting the running update now", name)
            self.urgent.set()
            self._interrupt()
            return
        log.info("%s received: stopping after the running update (if any)", name)
        self.requested.set()


def drain(
    worker: threading.Thread,
    interrupt: Callable[[], bool],
    *,
    grace: float,
    cancel_timeout: float,
    urgent: threading.Event | None = None,
) -> bool:
    """Wait for ``worker`` to finish its run; interrupt it after ``grace``. True if it stopped."""
    return drain_all([worker], interrupt, grace=grace, cancel_timeout=cancel_timeout, urgent=urgent)


def drain_all(
    workers: Sequence[threading.Thread],
    interrupt: Callable[[], bool],
    *,
    grace: float,
    cancel_timeout: float,
    urgent: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Wait for every worker (one per shard stack) within ONE grace period, then interrupt
    whatever still runs and wait ``cancel_timeout`` once more. True if all of them stopped.

    The deadlines are shared, so a pod's termination period bounds the whole environment,
    not each shard in turn.
    """
    if urgent is None or not urgent.is_set():
        _join_by(workers, clock() + grace, clock)
    if not any(worker.is_alive() for worker in workers):
        return True
    if interrupt():
        log.warning(
            "update still running; interrupting it (SIGINT) and waiting up to %.0fs for pulumi "
            "to save the state and release the stack lock",
            cancel_timeout,
        )
    _join_by(workers, clock() + cancel_timeout, clock)
    if any(worker.is_alive() for worker in workers):
        log.error(
            "the update did not stop within %.0fs; exiting anyway. If the process is killed "
            "the next start removes its stale lock",
            cancel_timeout,
        )
        return False
    return True


def _join_by(
    workers: Sequence[threading.Thread], deadline: float, clock: Callable[[], float]
) -> None:
    for worker in workers:
        worker.join(max(0.0, deadline - clock()))
