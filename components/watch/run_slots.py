"""A process-wide limit on concurrent Pulumi CLI processes, logins first.

Each shard stack of a sharded environment has its own worker, so shards run side by side; but
an engine run takes most of a core (the CLI, the language host, the providers), and twenty
shards resyncing at once on two cores would slow every one of them, a login's targeted run
included. So every CLI call a worker makes (``up``, ``stack export``, ``stack import``) first
takes one of ``capacity`` slots (default: one per core). When slots are scarce the waiting
work is served in priority order: a targeted run (a login) and the state reads it needs before
a full run, then in arrival order.

A wait for a slot can be abandoned: a login that preempts a full run still waiting for its slot
(``interrupt``), and shutdown (``close``), so no worker sits in a queue while the watcher stops.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from components.watch.closable import Closable
from components.watch.runner import RunOutcome

log = logging.getLogger(__name__)


class Priority(IntEnum):
    """Lower goes first."""

    LOGIN = 0
    FULL = 1


def default_capacity() -> int:
    return max(1, os.cpu_count() or 1)


class RunSlots(Closable):
    """``capacity`` slots shared by every worker of the process."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = max(1, capacity if capacity is not None else default_capacity())
        super().__init__()
        self._held = 0
        self._waiting: list[tuple[int, int]] = []
        self._order = itertools.count()

    def acquire(self, priority: Priority, cancel: threading.Event | None = None) -> bool:
        """Block until a slot is free and no higher-priority or earlier work waits for one.

        ``False`` when ``cancel`` was set or the slots were closed before one was granted.
        """
        ticket = (int(priority), next(self._order))
        with self._cond:
            heapq.heappush(self._waiting, ticket)
            try:
                while True:
                    if self._closed or (cancel is not None and cancel.is_set()):
                        return False
                    if self._held < self.capacity and self._waiting[0] == ticket:
                        heapq.heappop(self._waiting)
                        self._held += 1
                        return True
                    self._cond.wait()
            finally:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                    heapq.heapify(self._waiting)
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._held = max(0, self._held - 1)
            self._cond.notify_all()

    def held(self) -> int:
        with self._cond:
            return self._held

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)


class SlottedRunner:
    """A stack runner whose CLI calls each take a slot of the shared :class:`RunSlots` first.

    ``interrupt`` stops the running CLI, or, while it still waits for a slot, abandons the
    wait: the ``up`` then returns a failed outcome without having started anything.
    """

    def __init__(self, runner: Any, slots: RunSlots) -> None:
        self.runner = runner
        self.slots = slots
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._waiting = False

    def up(self, **options: Any) -> RunOutcome:
        priority = Priority.LOGIN if options.get("targets") else Priority.FULL
        operation = "targeted up" if options.get("targets") else "up"
        if not self._take(priority):
            return RunOutcome(operation, error="stopped while waiting for a run slot")
        try:
            outcome: RunOutcome = self.runner.up(**options)
        finally:
            self.slots.release()
        return outcome

    def export(self) -> dict[str, Any]:
        if not self._take(Priority.LOGIN):
            raise RuntimeError("stopped while waiting for a run slot")
        try:
            state: dict[str, Any] = self.runner.export()
        finally:
            self.slots.release()
        return state

    def import_state(self, state: Mapping[str, Any]) -> None:
        if not self._take(Priority.LOGIN):
            raise RuntimeError("stopped while waiting for a run slot")
        try:
            self.runner.import_state(state)
        finally:
            self.slots.release()

    def interrupt(self) -> bool:
        with self._lock:
            if self._waiting:
                self._cancel.set()
                self.slots.wake()
                return True
        return bool(self.runner.interrupt())

    def _take(self, priority: Priority) -> bool:
        with self._lock:
            self._cancel.clear()
            self._waiting = True
        try:
            return self.slots.acquire(priority, self._cancel)
        finally:
            with self._lock:
                self._waiting = False
