"""Pending work between watch events and the single worker: debounce, merge, retry, preempt.

The login flow patches several bindings of one user in quick succession, and a GitOps sync can
change hundreds at once; each burst must become one run, not one run per event. Work waits until
the burst has been quiet for ``debounce`` seconds, but never longer than ``max_delay`` after its
first event (so constant churn cannot starve it).

Two kinds of work are kept apart so that a full run (minutes at 1,000 bindings, or failing on one
broken binding) never holds up another user's login: *full* work (reasons, plus the bindings it
concerns for error reports) and *targeted* work (binding keys). Due targeted work runs first; a
running full run may even be interrupted for it (see :class:`components.watch.worker.Worker`),
and is then put back unchanged (:meth:`Pending.requeue`), a bounded number of times. A failed
batch is put back, merged with whatever arrived meanwhile, with a retry time; targeted work that
keeps failing is escalated to a full run.

:class:`Pending` is the pure state machine (time is passed in); :class:`WorkQueue` adds the lock
and the condition variable the watch threads and the worker share.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from components.watch.changes import Change, ChangeKind
from components.watch.closable import Closable


@dataclass(frozen=True)
class Batch:
    """One run's worth of work.

    ``full`` runs the whole program; otherwise only ``targeted_keys`` are updated.
    ``full_keys`` are bindings a full run was triggered by (named in error reports);
    ``targeted_keys`` in a full batch are logins that rode along and go back to targeted work if
    the full run fails. ``attempt`` counts tries of the oldest work in the batch;
    ``preemptions`` how often this full work has already given way to targeted work.
    """

    full: bool
    reasons: tuple[str, ...]
    full_keys: frozenset[str]
    targeted_keys: frozenset[str]
    attempt: int
    preemptions: int = 0

    @property
    def keys(self) -> frozenset[str]:
        return self.full_keys | self.targeted_keys


@dataclass
class _Timing:
    first: float
    last: float
    not_before: float = 0.0
    attempts: int = 0
    preemptions: int = 0

    def due(self, debounce: float, max_delay: float) -> float:
        return max(self.not_before, min(self.last + debounce, self.first + max_delay))

    def touch(self, now: float) -> None:
        self.last = now


@dataclass
class Pending:
    """Not thread-safe; :class:`WorkQueue` serialises access."""

    debounce: float = 0.25
    max_delay: float = 5.0
    escalate_after: int = 2
    full_reasons: dict[str, None] = field(default_factory=dict)
    full_keys: set[str] = field(default_factory=set)
    full_timing: _Timing | None = None
    targeted: dict[str, _Timing] = field(default_factory=dict)

    def add(self, change: Change, now: float) -> None:
        if change.kind is ChangeKind.IGNORE:
            return
        if change.kind is ChangeKind.FULL:
            self.request_full(change.reason, now, keys=(change.key,))
            return
        timing = self.targeted.get(change.key)
        if timing is None:
            self.targeted[change.key] = _Timing(now, now)
        else:
            timing.touch(now)

    def request_full(
        self, reason: str, now: float, *, keys: Iterable[str] = (), immediate: bool = False
    ) -> None:
        """Ask for a full run; ``immediate`` skips the debounce (start-up, timers)."""
        self.full_reasons[reason] = None
        self.full_keys.update(keys)
        start = now - self.max_delay if immediate else now
        if self.full_timing is None:
            self.full_timing = _Timing(start, start)
        elif not immediate:
            self.full_timing.touch(now)
        else:
            self.full_timing.first = min(self.full_timing.first, start)

    def next_due(self) -> float | None:
        """When the earliest pending work becomes runnable; ``None`` when nothing is pending."""
        times = []
        if self.targeted:
            times.append(self._targeted_due())
        if self.full_timing is not None:
            times.append(self.full_timing.due(self.debounce, self.max_delay))
        return min(times) if times else None

    def _targeted_due(self) -> float:
        """Targeted work waits for the whole burst (all bindings) to be quiet, or max_delay."""
        timings = self.targeted.values()
        quiet = max(t.last for t in timings) + self.debounce
        cap = min(t.first for t in timings) + self.max_delay
        return max(min(quiet, cap), min(t.not_before for t in timings))

    def targeted_due_at(self) -> float | None:
        return self._targeted_due() if self.targeted else None

    def take(self, now: float) -> Batch | None:
        """Remove and return the work that is due, targeted first; ``None`` if nothing is due."""
        if self.targeted and self._targeted_due() <= now:
            due = {key: t for key, t in self.targeted.items() if t.not_before <= now}
            for key in due:
                del self.targeted[key]
            return Batch(
                full=False,
                reasons=tuple(f"binding {key}" for key in sorted(due)),
                full_keys=frozenset(),
                targeted_keys=frozenset(due),
                attempt=max(timing.attempts for timing in due.values()) + 1,
            )
        full = self.full_timing
        if full is not None and full.due(self.debounce, self.max_delay) <= now:
            batch = Batch(
                full=True,
                reasons=tuple(self.full_reasons),
                full_keys=frozenset(self.full_keys),
                targeted_keys=frozenset(self.targeted),
                attempt=full.attempts + 1,
                preemptions=full.preemptions,
            )
            self.full_reasons, self.full_keys, self.full_timing = {}, set(), None
            self.targeted = {}
            return batch
        return None

    def failed(self, batch: Batch, now: float, delay: float, *, counted: bool = True) -> None:
        """Put a failed batch back, to be retried no sooner than ``now + delay``.

        ``counted=False`` (waiting for another writer's lock) neither counts as an attempt nor
        escalates targeted work: nothing is wrong with it.
        """
        attempt = batch.attempt if counted else batch.attempt - 1
        if batch.full:
            timing = self._restore_full(batch, now)
            timing.attempts = max(timing.attempts, attempt)
            timing.not_before = max(timing.not_before, now + delay)
            return
        for key in batch.targeted_keys:
            if counted and batch.attempt >= self.escalate_after:
                self.request_full(
                    f"targeted run for binding {key} failed {batch.attempt} times",
                    now,
                    keys=(key,),
                    immediate=True,
                )
                continue
            timing = self.targeted.setdefault(key, _Timing(now, now))
            timing.attempts = max(timing.attempts, attempt)
            timing.not_before = max(timing.not_before, now + delay)

    def requeue(self, batch: Batch, now: float) -> None:
        """Put back a full batch that gave way to targeted work: not a failure, no retry delay."""
        timing = self._restore_full(batch, now)
        timing.attempts = max(timing.attempts, batch.attempt - 1)
        timing.preemptions = max(timing.preemptions, batch.preemptions + 1)

    def _restore_full(self, batch: Batch, now: float) -> _Timing:
        for reason in batch.reasons:
            self.full_reasons[reason] = None
        self.full_keys.update(batch.full_keys)
        timing = self.full_timing or _Timing(now - self.max_delay, now - self.max_delay)
        self.full_timing = timing
        # Logins that rode along get their own targeted run right away.
        for key in batch.targeted_keys:
            self.targeted.setdefault(key, _Timing(now - self.max_delay, now - self.max_delay))
        return timing

    def escalate(self, batch: Batch, reason: str, now: float) -> None:
        """Targeted work that cannot be targeted (not in the stack yet, say) runs in full."""
        self.request_full(reason, now, keys=batch.keys, immediate=True)

    def __bool__(self) -> bool:
        return self.full_timing is not None or bool(self.targeted)


class WorkQueue(Closable):
    """:class:`Pending` shared by the watch threads (producers) and the worker (consumer)."""

    def __init__(self, pending: Pending, clock: Callable[[], float] = time.monotonic) -> None:
        self._pending = pending
        self._clock = clock
        super().__init__()

    def add(self, change: Change) -> None:
        with self._cond:
            self._pending.add(change, self._clock())
            self._cond.notify_all()

    def request_full(self, reason: str, *, immediate: bool = True) -> None:
        with self._cond:
            self._pending.request_full(reason, self._clock(), immediate=immediate)
            self._cond.notify_all()

    def failed(self, batch: Batch, delay: float, *, counted: bool = True) -> None:
        with self._cond:
            self._pending.failed(batch, self._clock(), delay, counted=counted)
            self._cond.notify_all()

    def requeue(self, batch: Batch) -> None:
        with self._cond:
            self._pending.requeue(batch, self._clock())
            self._cond.notify_all()

    def escalate(self, batch: Batch, reason: str) -> None:
        with self._cond:
            self._pending.escalate(batch, reason, self._clock())
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> Batch | None:
        """Block until work is due, ``timeout`` passes (``None``) or the queue is closed."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while not self._closed:
                now = self._clock()
                batch = self._pending.take(now)
                if batch is not None:
                    return batch
                if deadline is not None and now >= deadline:
                    return None
                wakeups = [t for t in (self._pending.next_due(), deadline) if t is not None]
                self._cond.wait(max(0.0, min(wakeups) - now) if wakeups else None)
            return None

    def wait_targeted_due(self, done: threading.Event) -> bool:
        """Block until targeted work is due (True) or ``done`` is set / the queue closes (False).

        Call :meth:`wake` after setting ``done`` so it returns at once.
        """
        with self._cond:
            while not self._closed and not done.is_set():
                now = self._clock()
                due = self._pending.targeted_due_at()
                if due is not None and due <= now:
                    return True
                wait = 0.5 if due is None else min(0.5, max(0.0, due - now))
                self._cond.wait(wait)
            return False

    def has_pending(self) -> bool:
        with self._cond:
            return bool(self._pending)
