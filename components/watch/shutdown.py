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
from collections.abc import Callable
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
    if urgent is None or not urgent.is_set():
        worker.join(grace)
    if not worker.is_alive():
        return True
    if interrupt():
        log.warning(
            "update still running; interrupting it (SIGINT) and waiting up to %.0fs for pulumi "
            "to save the state and release the stack lock",
            cancel_timeout,
        )
    worker.join(cancel_timeout)
    if worker.is_alive():
        log.error(
            "the update did not stop within %.0fs; exiting anyway. If the process is killed "
            "the next start removes its stale lock",
            cancel_timeout,
        )
        return False
    return True
