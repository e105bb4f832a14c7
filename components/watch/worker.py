"""The one worker thread: take due work, run it as a targeted or a full ``up``, retry, report.

Everything that touches the stack happens here, one operation at a time, so two runs never
overlap and the watcher never contends for its own stack lock. Before each run, stale locks left
by a killed writer are removed (and the pending operations it left are cleared); a live writer's
lock is waited for. A failed run goes back to the queue with a backoff delay, is logged, and is
written to the ``status.statusText`` of the bindings it concerns; the next successful run that
covers those bindings puts their real status back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from components.watch.expiry import next_expiry
from components.watch.locks import LockKeeper, StackLockedError
from components.watch.overrides import Project, bindings_override
from components.watch.retry import Backoff
from components.watch.runner import RunOutcome
from components.watch.scope import (
    NotTargetable,
    TargetedScope,
    bindings_by_workspace,
    plan_scope,
)
from components.watch.statuses import desired_statuses, error_status, has_error_status
from components.watch.targets import UrnIndex
from components.watch.workqueue import Batch, WorkQueue

log = logging.getLogger(__name__)

Bindings = Mapping[str, Mapping[str, Any]]


class Runner(Protocol):
    """What the worker needs from :class:`components.watch.runner.StackRunner`."""

    def up(
        self,
        *,
        targets: list[str] | None = ...,
        config_file: Any = ...,
        continue_on_error: bool = ...,
        message: str = ...,
    ) -> RunOutcome: ...

    def export(self) -> dict[str, Any]: ...

    def import_state(self, state: Mapping[str, Any]) -> None: ...

    def interrupt(self) -> bool: ...


class StatusSink(Protocol):
    def patch(self, key: str, status: Mapping[str, Any]) -> bool: ...


@dataclass(frozen=True)
class WorkerSettings:
    scoped: bool = True
    """Targeted runs make the program declare only the targeted bindings (see overrides)."""
    resync_interval: float = 3600.0
    """Seconds between periodic full runs (drift, missed events); 0 disables them."""
    lock_retry_delay: float = 10.0
    """Longest wait before checking a live writer's lock again."""
    max_preemptions: int = 3
    """How often one full run may be interrupted to let due targeted work (a login) go first."""
    outputs_settle: float = 600.0
    """Seconds of quiet after a scoped run before a full run restores the stack outputs (a
    scoped run's outputs list only its own bindings); 0 leaves that to the periodic resync."""


class Worker:
    def __init__(
        self,
        queue: WorkQueue,
        runner: Runner,
        locks: LockKeeper,
        project: Project,
        stack: str,
        bindings: Callable[[], Bindings],
        *,
        statuses: StatusSink | None = None,
        backoff: Backoff | None = None,
        settings: WorkerSettings | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.queue = queue
        self.runner = runner
        self.locks = locks
        self.project = project
        self.stack = stack
        self.bindings = bindings
        self.statuses = statuses
        self.backoff = backoff or Backoff()
        self.settings = settings or WorkerSettings()
        self.stop = stop or threading.Event()
        self.clock = clock
        self.now = now
        self.index: UrnIndex | None = None
        self.marked: set[str] = set()
        self.last_outcome: RunOutcome | None = None
        self._recover = True
        self._upcoming_expiry: datetime | None = None
        self._restore_outputs_at: float | None = None

    # The loop ------------------------------------------------------------------------------

    def adopt_reported_errors(self) -> None:
        """Bindings still showing an ERROR from an earlier watcher get their status back too."""
        self.marked |= {key for key, m in self.bindings().items() if has_error_status(m)}

    def prepare(self) -> None:
        """Recover and index the stack now, so the first targeted run pays for neither.

        Start-up without a full run (``--initial-run none``) would otherwise export the state
        inside the first login's latency. A live lock is left for the first run to wait on.
        """
        try:
            if self.locks.clear_stale():
                self._recover = True
        except StackLockedError as error:
            log.warning("%s", error)
            return
        if self._recover:
            self._clear_pending_operations()
        if self.index is None:
            self.index = self._load_index()

    def loop(self) -> None:
        """Run due work until ``stop`` is set; timers add periodic and expiry full runs."""
        resync = self.settings.resync_interval
        next_resync = self.clock() + resync if resync > 0 else None
        while not self.stop.is_set():
            self._check_expiry()
            if next_resync is not None and self.clock() >= next_resync:
                self.queue.request_full("periodic resync")
                next_resync = self.clock() + resync
            if self._restore_outputs_at is not None and self.clock() >= self._restore_outputs_at:
                self.queue.request_full("restore the stack outputs after scoped targeted runs")
                self._restore_outputs_at = None
            batch = self.queue.take(timeout=self._seconds_to_timer(next_resync))
            if batch is None or self.stop.is_set():
                continue
            outcome = self.execute(batch)
            if batch.full and outcome is not None and outcome.ok and next_resync is not None:
                next_resync = self.clock() + resync

    def _check_expiry(self) -> None:
        """Ask for a full run once the earliest expiry boundary seen last time has passed."""
        now = self.now()
        if self._upcoming_expiry is not None and self._upcoming_expiry <= now:
            self.queue.request_full(f"bindings expired at {self._upcoming_expiry.isoformat()}")
        self._upcoming_expiry = next_expiry(self.bindings().values(), now)

    def _seconds_to_timer(self, next_resync: float | None) -> float | None:
        waits: list[float] = []
        for timer in (next_resync, self._restore_outputs_at):
            if timer is not None:
                waits.append(timer - self.clock())
        if self._upcoming_expiry is not None:
            waits.append((self._upcoming_expiry - self.now()).total_seconds())
        return max(0.0, min(waits)) if waits else None

    # One batch -----------------------------------------------------------------------------

    def execute(self, batch: Batch) -> RunOutcome | None:
        """Run one batch; ``None`` when it was handed back instead (to a full run because it
        could not be targeted, or to the queue because a login preempted it)."""
        try:
            if self.locks.clear_stale():
                self._recover = True
        except StackLockedError as error:
            return self._finish(batch, RunOutcome("up", error=str(error), locked=True), ())
        if self._recover and not self._clear_pending_operations():
            return self._finish(
                batch, RunOutcome("up", error="cannot read the stack state (see above)"), ()
            )
        if batch.full:
            outcome, preempted = self._run_full(batch)
            if preempted and not outcome.ok:
                log.info("full up interrupted to let a login go first; it runs again afterwards")
                self.queue.requeue(batch)
                return None
            return self._finish(batch, outcome, self.bindings().keys())
        if self.index is None:
            self.index = self._load_index()
        scope = (
            plan_scope(batch.targeted_keys, self.bindings(), self.index, self.now().date())
            if self.index is not None
            else NotTargetable("the stack state could not be read")
        )
        if isinstance(scope, NotTargetable):
            log.info("targeted run not possible (%s); running the whole program", scope.reason)
            self.queue.escalate(batch, scope.reason)
            return None
        outcome = self._run_targeted(scope)
        return self._finish(batch, outcome, scope.binding_keys)

    def _run_full(self, batch: Batch) -> tuple[RunOutcome, bool]:
        """Run the whole program; interrupt it if a login becomes due (``True`` if we did)."""
        log.info("full up: %s", _summarise(batch.reasons))
        done = threading.Event()
        preempted = threading.Event()
        watcher: threading.Thread | None = None
        if batch.preemptions < self.settings.max_preemptions:

            def preempt_for_logins() -> None:
                if self.queue.wait_targeted_due(done) and not done.is_set():
                    preempted.set()
                    self.runner.interrupt()

            watcher = threading.Thread(target=preempt_for_logins, name="preempt", daemon=True)
            watcher.start()
        try:
            outcome = self.runner.up(
                continue_on_error=True, message=f"watch: {_summarise(batch.reasons, 3)}"
            )
        finally:
            done.set()
            self.queue.wake()
            if watcher is not None:
                watcher.join()
        if preempted.is_set() and not outcome.ok:
            return outcome, True  # the index is still right for the bindings that wait
        if not self.stop.is_set():
            self.index = self._load_index()  # even after a failure: some changes were applied
        if outcome.ok:
            self._restore_outputs_at = None
        return outcome, False

    def _run_targeted(self, scope: TargetedScope) -> RunOutcome:
        what = ", ".join(scope.binding_keys)
        log.info(
            "targeted up of %s (%d resources%s)",
            what,
            len(scope.urns),
            ", program scoped to these bindings" if self.settings.scoped else "",
        )
        message = f"watch: targeted {what}"
        if not self.settings.scoped:
            return self.runner.up(targets=list(scope.urns), message=message)
        with bindings_override(
            self.project, self.stack, scope.manifests, legacy_scan=False
        ) as override:
            outcome = self.runner.up(
                targets=list(scope.urns), config_file=override.config_file, message=message
            )
        if outcome.ok and self.settings.outputs_settle > 0:
            self._restore_outputs_at = self.clock() + self.settings.outputs_settle
        return outcome

    def _release_abandoned_lock(self) -> None:
        """An interrupt that reaches ``pulumi`` before it has set up its own handler kills it
        outright, leaving its lock behind; the process is gone, so the lock is stale and removed
        now rather than by whoever runs the stack next. Live locks (other writers) stay."""
        try:
            self.locks.clear_stale()
        except StackLockedError as error:
            log.info("%s", error)

    def _finish(self, batch: Batch, outcome: RunOutcome, covered: Iterable[str]) -> RunOutcome:
        self.last_outcome = outcome
        if outcome.ok:
            changes = ", ".join(f"{op} {n}" for op, n in sorted(outcome.changes.items()))
            log.info(
                "%s finished in %.1fs: %s",
                outcome.operation,
                outcome.seconds,
                changes or "no changes",
            )
            self._restore_statuses(set(covered))
            return outcome
        if self.stop.is_set():
            log.warning("%s stopped by shutdown: %s", outcome.operation, _first_line(outcome.error))
            self._release_abandoned_lock()
            self.queue.failed(batch, 0.0)
            return outcome
        if outcome.locked:
            # Another writer is running: wait for it, which is neither a failure nor news for
            # the bindings' status.
            delay = self.settings.lock_retry_delay
            self.queue.failed(batch, delay, counted=False)
            log.warning("waiting %.0fs for the stack lock: %s", delay, outcome.error)
            return outcome
        delay = self.backoff.delay(batch.attempt)
        self.queue.failed(batch, delay)
        log.error(
            "%s failed (attempt %d, retrying in %.0fs): %s",
            outcome.operation,
            batch.attempt,
            delay,
            outcome.error,
        )
        self._report_failure(batch, outcome, delay)
        return outcome

    # Stack state ---------------------------------------------------------------------------

    def _load_index(self) -> UrnIndex | None:
        try:
            state = self.runner.export()
        except Exception as error:
            log.warning("cannot export the stack state: %s", _first_line(str(error)))
            return None
        return UrnIndex.from_deployment(state.get("deployment"))

    def _clear_pending_operations(self) -> bool:
        """Drop operations a killed run left pending, so the next ``up`` starts clean.

        Safe for this program because every create it makes is idempotent: server-side apply
        upserts Kubernetes objects, the Guacamole providers adopt existing rows, status writes
        are patches, and a password generated again is written to both Secret and connection.
        """
        try:
            state = self.runner.export()
        except Exception as error:
            log.error("cannot export the stack state: %s", _first_line(str(error)))
            return False
        deployment = state.get("deployment") or {}
        pending = deployment.get("pending_operations") or []
        if pending:
            for op in pending:
                log.warning(
                    "clearing pending %s of %s left by an interrupted run",
                    op.get("type"),
                    (op.get("resource") or {}).get("urn"),
                )
            cleaned = {**state, "deployment": {**deployment, "pending_operations": []}}
            try:
                self.runner.import_state(cleaned)
            except Exception as error:
                log.error("cannot clear pending operations: %s", _first_line(str(error)))
                return False
        self.index = UrnIndex.from_deployment(
            {**deployment, "pending_operations": []} if pending else deployment
        )
        self._recover = False
        return True

    # Status reporting ----------------------------------------------------------------------

    def _report_failure(self, batch: Batch, outcome: RunOutcome, delay: float) -> None:
        if self.statuses is None:
            return
        bindings = self.bindings()
        affected = set(batch.keys)
        if self.index is not None and outcome.failed_urns:
            served = bindings_by_workspace(bindings, self.now().date())
            for urn in outcome.failed_urns:
                owner = self.index.owner(urn)
                if owner is None:
                    continue
                kind, name = owner
                affected |= set(served.get(name, ())) if kind == "workspace" else {name}
        status = error_status(outcome.error, attempt=batch.attempt, retry_in=delay)
        for key in sorted(affected & bindings.keys()):
            if self.statuses.patch(key, status):
                self.marked.add(key)

    def _restore_statuses(self, covered: set[str]) -> None:
        restore = self.marked & covered
        if not restore or self.statuses is None:
            return
        desired = desired_statuses(self.bindings(), restore, self.now().date())
        for key in sorted(restore):
            if key in desired:
                self.statuses.patch(key, desired[key])
            self.marked.discard(key)


def _summarise(reasons: Iterable[str], limit: int = 5) -> str:
    items = list(reasons)
    head = "; ".join(items[:limit])
    return head + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), text)
