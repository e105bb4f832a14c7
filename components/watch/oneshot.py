"""``up``: one full update for a pipeline, with the watcher's lock handling and retries.

A merge pipeline and the in-cluster watcher may write the same stack. Both go through
:class:`components.watch.worker.Worker`, so a live writer's lock is waited for (not broken), a
stale one is removed, and a failure is retried with backoff before the job fails. A successful
update that refused bindings exits 4 (:mod:`components.watch.refusals`). A sharded environment
is updated shard by shard (:mod:`components.watch.environment_up`), each shard the same way.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from components.review.access import announce_up
from components.watch import refusals
from components.watch.config import UpConfig
from components.watch.overrides import Project
from components.watch.program_settings import shared_settings
from components.watch.retry import Backoff
from components.watch.runner import StackRunner
from components.watch.shards import check_settled, load_environment
from components.watch.shutdown import Shutdown, drain
from components.watch.worker import Worker, WorkerSettings
from components.watch.workqueue import Pending, WorkQueue

log = logging.getLogger(__name__)


def run(config: UpConfig) -> int:
    project = Project.load(config.common.project_dir)
    environment = load_environment(project, config.common.stack)
    if environment.sharded:
        from components.watch import environment_up

        return environment_up.run(config, environment)
    check_settled(environment, os.environ)
    runner = StackRunner(project, config.common.stack, keep_history=config.common.keep_history)
    if config.repair_drift:
        settings = shared_settings(runner.config_values())
        runner.check_drift(accepted=settings.drift_accepted_managers)
    announce_up(runner, project.directory)  # the log leads with who gains and loses access
    shutdown = Shutdown(runner.interrupt)
    shutdown.install()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(update_stack(runner, config, stop)), daemon=True
    )
    thread.start()
    while thread.is_alive() and not shutdown.requested.wait(0.5):
        pass
    if thread.is_alive():  # a signal: stop the update cleanly, report the job as failed
        stop.set()
        stopped = drain(thread, runner.interrupt, grace=0.0, cancel_timeout=config.cancel_timeout)
        return 1 if stopped else 3
    if not result or result[0] != 0:
        return result[0] if result else 1
    try:
        refused = refusals.stack_refusals(runner)
    except Exception as error:
        log.error("up succeeded, but its problems output cannot be read: %s", error)
        return 1
    return refusals.exit_code(refused, allow=config.allow_refused, what="up")


def update_stack(runner: StackRunner, config: UpConfig, stop: threading.Event) -> int:
    """One full ``up`` of ``runner``'s stack with retries: 0 on success, 1 otherwise.

    Runs in the calling thread and installs no signal handler; setting ``stop`` (and
    interrupting the runner) ends it.
    """
    queue = WorkQueue(Pending(debounce=0.0, max_delay=0.0))
    worker = Worker(
        queue,
        runner,
        runner.lock_keeper(config.common.foreign_lock_timeout),
        runner.project,
        runner.stack_name,
        dict,  # no binding cache: failures go to the job log, the program writes statuses
        backoff=Backoff(initial=config.backoff_initial, maximum=config.backoff_max),
        settings=WorkerSettings(resync_interval=0),
        stop=stop,
    )
    queue.request_full("pipeline up")

    def close_when_stopped() -> None:
        stop.wait()
        queue.close()

    threading.Thread(target=close_when_stopped, daemon=True).start()
    return _attempts(worker, queue, config, stop)


def _attempts(worker: Worker, queue: WorkQueue, config: UpConfig, stop: threading.Event) -> int:
    deadline = time.monotonic() + config.timeout
    failures = 0
    while not stop.is_set():
        batch = queue.take(timeout=max(0.0, deadline - time.monotonic()))
        if batch is None:
            break
        outcome = worker.execute(batch)
        if outcome is not None and outcome.ok:
            return 0
        if outcome is not None and not outcome.locked:
            failures += 1
            if failures >= config.attempts:
                log.error("%s: up failed %d time(s); giving up", worker.stack, failures)
                return 1
    if stop.is_set():
        log.error("%s: up stopped before it succeeded", worker.stack)
    else:
        log.error("%s: up did not succeed within %.0fs", worker.stack, config.timeout)
    return 1
