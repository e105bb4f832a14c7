"""The watcher's lanes: one queue, runner and worker per stack it runs, fed by routing.

An unsharded stack is one lane. A sharded environment (``shards: N``) gets one lane per shard
stack, so shards run independently: a login in one shard never waits for a full run of another,
and a burst in one shard runs only that shard. Each lane carries over the single stack's
behaviour unchanged (debounce, targeted runs, preemption, retries, stale locks and pending
operations, drift repair before full runs, the login fast path with the managed set read from
its own stack's state); what is shared is the process-wide limit on CLI processes
(:mod:`components.watch.run_slots`) and the fast path's pool of scale requests.

Events reach the lanes through :class:`components.watch.routing.ShardRouter`; each worker sees
only its shard's bindings, so its expiry timer, status reports and targeted scopes are its own.
At start-up a sharded environment runs only the shards whose input digest differs from the one
their last complete run recorded (:mod:`components.watch.shards`); the others only recover their
state (stale locks, pending operations) and index it for the first login.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.inert import escape
from components.placement import PlacementError
from components.placement_store import PlacementStoreError
from components.sharding import workspace_named
from components.watch.changes import Change, ChangeKind, classify_binding, classify_workspace
from components.watch.config import WatchConfig
from components.watch.environment_up import EnvironmentStacks
from components.watch.fastpath import WORKERS, FastPath, FastPathRunner
from components.watch.retry import Backoff
from components.watch.routing import ShardRouter
from components.watch.run_slots import RunSlots, SlottedRunner
from components.watch.runner import StackRunner
from components.watch.shards import largest_first
from components.watch.worker import StatusSink, Worker, WorkerSettings
from components.watch.workqueue import Pending, WorkQueue

log = logging.getLogger(__name__)

Snapshot = Callable[[], Mapping[str, Mapping[str, Any]]]
Manifest = Mapping[str, Any] | None


@dataclass
class Lane:
    """Everything one stack's runs need."""

    index: int
    stack: str
    runner: StackRunner
    queue: WorkQueue
    fast_path: FastPath | None = None
    worker: Worker | None = None


class Lanes:
    """The lanes of one watcher and the routing of watch events to them."""

    def __init__(
        self, stacks: EnvironmentStacks, config: WatchConfig, slots: RunSlots | None = None
    ) -> None:
        environment = stacks.environment
        self.stacks = stacks
        self.config = config
        self.sharded = environment.sharded
        self.slots = slots or RunSlots()
        self.lanes: list[Lane] = []
        for stack in environment.stacks():
            runner = stacks.runner(stack)
            if config.repair_drift:  # at start-up, then with the periodic resync
                runner.check_drift(
                    every=config.resync_interval or float("inf"),
                    accepted=stacks.settings.drift_accepted_managers,
                )
            pending = Pending(config.debounce, config.max_delay, config.escalate_after)
            self.lanes.append(
                Lane(environment.scope(stack).index, stack, runner, WorkQueue(pending))
            )
        self.router = ShardRouter(
            environment.shards,
            (lane.index for lane in self.lanes),
            stacks.book.locate if self.sharded else None,
        )
        self._placed_from: Snapshot | None = None
        """Set at start-up, once every listed workspace is placed: from then on a binding to a
        workspace with no shard places it before it is routed."""
        self._by_index = {lane.index: lane for lane in self.lanes}
        self._pool: ThreadPoolExecutor | None = None
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[Lane]:
        return iter(self.lanes)

    @property
    def first(self) -> Lane:
        return self.lanes[0]

    # Events ----------------------------------------------------------------------------------

    def on_binding(self, key: str, old: Manifest, new: Manifest) -> None:
        """A binding changed: the fast path of its (new) shard first, then the run queues."""
        if new is not None:
            self._place(new)
            for index in self.router.for_binding(None, new):
                fast_path = self._by_index[index].fast_path
                if fast_path is not None:
                    fast_path.on_binding_change(key, old, new)
        self._queue(classify_binding(key, old, new), self.router.for_binding(old, new))

    def on_workspace(self, key: str, old: Manifest, new: Manifest) -> None:
        self._queue(classify_workspace(key, old, new), self.router.for_workspace(key, old, new))

    def _place(self, manifest: Mapping[str, Any]) -> None:
        """Give a new workspace a shard (stored in the map) before its first binding is routed;
        until then (or if the map cannot be written) no shard declares it."""
        snapshot = self._placed_from
        workspace = workspace_named(manifest)
        if snapshot is None or workspace is None or self.stacks.book.locate(workspace) is not None:
            return
        try:
            self.stacks.place_one(workspace, list(snapshot().values()))
        except (PlacementError, PlacementStoreError) as error:
            log.error(
                "%s; the bindings of workspace %s are declared by no shard until it is placed "
                "(the next binding event or a restart tries again)",
                error,
                escape(workspace),
            )

    def _queue(self, change: Change, indices: frozenset[int]) -> None:
        if change.kind is ChangeKind.IGNORE or not indices:
            return
        lanes = [self._by_index[i] for i in sorted(indices)]
        where = f" in {', '.join(lane.stack for lane in lanes)}" if self.sharded else ""
        log.info("%s (%s run%s)", change.reason, change.kind, where)
        for lane in lanes:
            lane.queue.add(change)

    # Wiring ----------------------------------------------------------------------------------

    def owned(self, snapshot: Snapshot, index: int) -> Callable[[], dict[str, Any]]:
        """The bindings snapshot of one lane: only the bindings its stack declares."""
        return lambda: self.router.owned(snapshot(), index)

    def add_fast_paths(self, apps: Any, snapshot: Snapshot, statuses: StatusSink | None) -> None:
        """One fast path per lane, its managed set read from its own stack's state."""
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="fastpath")
        for lane in self.lanes:
            lane.fast_path = FastPath(
                apps, self.owned(snapshot, lane.index), statuses=statuses, executor=self._pool
            )

    def add_workers(
        self, snapshot: Snapshot, statuses: StatusSink | None, stop: threading.Event
    ) -> None:
        config = self.config
        for lane in self.lanes:
            runner: Any = SlottedRunner(lane.runner, self.slots)
            if lane.fast_path is not None:
                runner = FastPathRunner(runner, lane.fast_path)
            lane.worker = Worker(
                lane.queue,
                runner,
                lane.runner.lock_keeper(config.common.foreign_lock_timeout),
                self.stacks.environment.project,
                lane.stack,
                self.owned(snapshot, lane.index),
                statuses=statuses,
                backoff=Backoff(initial=config.backoff_initial, maximum=config.backoff_max),
                settings=WorkerSettings(
                    scoped=config.scoped,
                    resync_interval=config.resync_interval,
                    max_preemptions=config.max_preemptions,
                    outputs_settle=config.outputs_settle,
                ),
                stop=stop,
            )
            lane.worker.adopt_reported_errors()

    # Start-up --------------------------------------------------------------------------------

    def start_up(self, context: str, snapshot: Snapshot) -> None:
        """Queue the start-up runs; prepare (recover, index) every lane that gets none.

        An unsharded stack converges in full. A sharded environment runs only the shards
        whose input digest differs; ``--initial-run none`` runs nothing.
        """
        if self.sharded:
            # Events from here on place their own workspace: one that arrives while the
            # listed ones are placed is placed either way.
            self._placed_from = snapshot
            self.stacks.place(list(snapshot().values()), write=True)
        if self.config.initial_run != "full":
            full: list[Lane] = []
        elif not self.sharded:
            full = list(self.lanes)
        else:
            manifests = list(snapshot().values())
            touched = self.stacks.touched(manifests, context, self.config.all_shards)
            # Queued largest first: the run slots serve waiting shards in the order they ask.
            order = largest_first(self.stacks.environment, touched, manifests, zero_first=False)
            lanes = {lane.stack: lane for lane in self.lanes}
            full = [lanes[stack] for stack in order if stack in lanes]
            log.info(
                "environment %s: %d shard stack(s), %s%s",
                self.stacks.environment.name,
                len(self.lanes),
                "every one runs (--all-shards)"
                if self.config.all_shards
                else f"{len(full)} changed since their last complete run",
                f" ({', '.join(lane.stack for lane in full)})" if full else "",
            )
        reason = (
            "start-up: converge whatever changed while nobody watched"
            if not self.sharded
            else "start-up: the shard's input digest changed since its last complete run"
        )
        first = self.lanes[0]
        if self.sharded and first.index == 0 and first in full and self._bootstrap_first():
            # Shard 0 declares the database the others' rows live in: it goes first.
            first.queue.request_full(reason)
            later = [lane for lane in full if lane is not first]
            threading.Thread(
                target=self._after_first_run, args=(later, reason), name="bootstrap-first"
            ).start()
        else:
            for lane in full:
                lane.queue.request_full(reason)
        rest = [lane for lane in self.lanes if lane not in full]
        threads = [
            threading.Thread(target=_prepare, args=(lane,), name=f"{StackTag.PREFIX}{lane.stack}")
            for lane in rest
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _bootstrap_first(self) -> bool:
        return bool(self.stacks.settings.database_bootstrap.enabled)

    def _after_first_run(self, later: list[Lane], reason: str) -> None:
        """Queue the other shards' start-up runs once shard 0's has ended (or on shutdown)."""
        worker = self.lanes[0].worker
        while not self._closed.wait(0.5):
            if worker is None or worker.last_outcome is not None:
                break
        for lane in later:
            lane.queue.request_full(reason)

    # Shutdown --------------------------------------------------------------------------------

    def interrupt(self) -> bool:
        """Interrupt every running update (and abandon every wait for a run slot)."""
        interrupted = [
            lane.worker.runner.interrupt() if lane.worker is not None else lane.runner.interrupt()
            for lane in self.lanes
        ]
        return any(interrupted)

    def close(self) -> None:
        self._closed.set()
        self.slots.close()
        for lane in self.lanes:
            lane.queue.close()
            if lane.fast_path is not None:
                lane.fast_path.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _prepare(lane: Lane) -> None:
    if lane.worker is None:
        return
    try:
        lane.worker.prepare()
    except Exception:  # a lane that cannot be read now is recovered by its first run
        log.exception("%s: cannot read the stack state at start-up", lane.stack)


class StackTag(logging.Filter):
    """Prefix the records a lane's threads log with their stack, so one log tells shards apart.

    The worker, its preemption watcher and its CLI calls log from the lane's worker thread;
    naming that thread ``worker <stack>`` is enough.
    """

    PREFIX = "worker "

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.threadName or ""
        if name.startswith(self.PREFIX) and not getattr(record, "stack_tagged", False):
            record.msg = f"[{name[len(self.PREFIX) :]}] {record.msg}"
            setattr(record, "stack_tagged", True)  # noqa: B010 - a LogRecord has no such field
        return True


def tag_stacks() -> None:
    """Install :class:`StackTag` on the root logger's handlers (sharded environments)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, StackTag) for f in handler.filters):
            handler.addFilter(StackTag())


class StackFileWatch:
    """Notices edits to the environment's stack file after start-up.

    The shard stack files are copies written at start-up and the run context (which goes into
    every shard's input digest) is computed then, so an edit takes effect only on restart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self._digest()

    def _digest(self) -> str:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""

    def check(self) -> bool:
        """True (and a warning) once per new content of the file."""
        digest = self._digest()
        if digest == self._seen:
            return False
        self._seen = digest
        log.warning(
            "%s changed since start-up; the shard stacks still run with the settings read then: "
            "restart the watcher to apply the edit",
            self.path.name,
        )
        return True


def context_started(lanes: Lanes) -> str:
    """The start-up log line naming what runs where."""
    if not lanes.sharded:
        return f"stack {lanes.first.stack}"
    stacks = [lane.stack for lane in lanes]
    named = stacks[0] if len(stacks) == 1 else f"{stacks[0]} ... {stacks[-1]}"
    return (
        f"environment {lanes.stacks.environment.name} ({len(stacks)} shard stack(s): {named}; "
        f"at most {lanes.slots.capacity} pulumi process(es) at once)"
    )
