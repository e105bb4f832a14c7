"""``watch``: wire the informers, the work queue and the worker, and run until told to stop.

Start-up order matters: the stack and its settings are checked first (a wrong stack, a stack
that reads bindings from a file, or a cluster that cannot be listed is fatal and exits non-zero
at once), then the bindings are listed so the worker has a complete cache, then one full run
converges whatever changed while nobody was watching.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client

from components.bindings import GROUP, PLURAL, VERSION
from components.kube_client import new_api_client
from components.settings import SettingsError
from components.watch import reaper
from components.watch.changes import Change, ChangeKind, classify_binding, classify_workspace
from components.watch.config import WatchConfig
from components.watch.fastpath import FastPath, FastPathRunner
from components.watch.informer import Informer, OnChange, WatchedKind
from components.watch.overrides import Project
from components.watch.program_settings import shared_settings
from components.watch.retry import Backoff
from components.watch.runner import StackRunner
from components.watch.shards import check_settled, load_environment
from components.watch.shutdown import Shutdown, drain
from components.watch.status_writer import StatusWriter
from components.watch.worker import Worker, WorkerSettings
from components.watch.workqueue import Pending, WorkQueue

log = logging.getLogger(__name__)

BINDINGS = WatchedKind(GROUP, VERSION, PLURAL)
WORKSPACES = WatchedKind(GROUP, VERSION, "analyticsworkspaces")

EXIT_OK = 0
EXIT_FATAL = 2
EXIT_UNCLEAN = 3


class FatalError(RuntimeError):
    """The watcher cannot do its job; exit non-zero with this message."""


def run(config: WatchConfig) -> int:
    project = Project.load(config.common.project_dir)
    # A move between shard counts must be complete before a watcher writes any of the stacks.
    check_settled(load_environment(project, config.common.stack), os.environ, always=True)
    runner = StackRunner(project, config.common.stack)
    if config.repair_drift:  # at start-up, then with the periodic resync
        runner.check_drift(every=config.resync_interval or float("inf"))
    shutdown = Shutdown(runner.interrupt)
    shutdown.install()
    try:
        settings = shared_settings(runner.config_values())
    except SettingsError as error:
        raise FatalError(f"stack {config.common.stack}: {error}") from error
    if settings.bindings_source != "cluster":
        raise FatalError(
            f"stack {config.common.stack} reads bindings from a file (bindingsSource: file); "
            "there is nothing to watch: run `up` from the pipeline that changes the file"
        )
    kubeconfig = config.kube.kubeconfig or settings.kubeconfig or None
    namespace = (
        config.kube.namespace if config.kube.namespace is not None else settings.bindings_namespace
    )
    report = settings.write_binding_status if config.report_status is None else config.report_status

    def api_client() -> client.ApiClient:
        return new_api_client(kubeconfig)

    stop = threading.Event()
    queue = WorkQueue(Pending(config.debounce, config.max_delay, config.escalate_after))
    on_binding = _enqueue(queue, classify_binding)
    fast_path: FastPath | None = None
    if config.fast_path:
        fast_path = FastPath(
            client.AppsV1Api(api_client()),
            lambda: bindings.snapshot(),
            statuses=StatusWriter(api_client) if settings.write_binding_status else None,
        )
        on_binding = _both(fast_path.on_binding_change, on_binding)
    bindings = Informer(
        BINDINGS,
        api_client,
        on_binding,
        stop,
        namespace=namespace,
        watch_timeout=config.watch_timeout,
    )
    informers = [bindings]
    if config.watch_workspaces:
        informers.append(
            Informer(
                WORKSPACES,
                api_client,
                _enqueue(queue, classify_workspace),
                stop,
                namespace=namespace,
                watch_timeout=config.watch_timeout,
            )
        )
    for informer in informers:
        threading.Thread(
            target=informer.run, name=f"watch-{informer.kind.plural}", daemon=True
        ).start()
    if not _wait_synced(bindings, shutdown.requested):
        stop.set()
        if bindings.error is not None:
            raise FatalError(str(bindings.error))
        return EXIT_OK

    # Before the worker: reading the secret DSN uses the runner's CLI, which a run must not share.
    reaper.start(runner, settings.idle, api_client, bindings.snapshot, stop)
    worker = Worker(
        queue,
        runner if fast_path is None else FastPathRunner(runner, fast_path),
        runner.lock_keeper(config.common.foreign_lock_timeout),
        project,
        config.common.stack,
        bindings.snapshot,
        statuses=StatusWriter(api_client) if report else None,
        backoff=Backoff(initial=config.backoff_initial, maximum=config.backoff_max),
        settings=WorkerSettings(
            scoped=config.scoped,
            resync_interval=config.resync_interval,
            max_preemptions=config.max_preemptions,
            outputs_settle=config.outputs_settle,
        ),
        stop=stop,
    )
    worker.adopt_reported_errors()
    if config.initial_run == "full":
        queue.request_full("start-up: converge whatever changed while nobody watched")
    else:
        worker.prepare()
    failure: list[BaseException] = []
    thread = threading.Thread(
        target=_guard(worker.loop, failure, shutdown.requested), name="worker", daemon=True
    )
    thread.start()
    log.info(
        "watching %s in %s for stack %s (%s targeted runs, login fast path %s)",
        ", ".join(str(i.kind) for i in informers),
        f"namespace {namespace}" if namespace else "all namespaces",
        config.common.stack,
        "scoped" if config.scoped else "whole-program",
        "on" if fast_path is not None else "off",
    )

    while not shutdown.requested.wait(1.0):
        if bindings.error is not None:
            failure.append(FatalError(str(bindings.error)))
            shutdown.requested.set()
    stop.set()
    queue.close()
    if fast_path is not None:
        fast_path.close()
    clean = drain(
        thread,
        runner.interrupt,
        grace=config.grace_period,
        cancel_timeout=config.cancel_timeout,
        urgent=shutdown.urgent,
    )
    if failure:
        raise FatalError(str(failure[0])) from failure[0]
    log.info("stopped%s", "" if clean else " (an update was still running)")
    return EXIT_OK if clean else EXIT_UNCLEAN


def _enqueue(
    queue: WorkQueue,
    classify: Callable[[str, Mapping[str, Any] | None, Mapping[str, Any] | None], Change],
) -> Callable[[str, Mapping[str, Any] | None, Mapping[str, Any] | None], None]:
    def on_change(key: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        change = classify(key, old, new)
        if change.kind is not ChangeKind.IGNORE:
            log.info("%s (%s run)", change.reason, change.kind)
            queue.add(change)

    return on_change


def _both(first: OnChange, then: OnChange) -> OnChange:
    """The login fast path sees a change before it is queued for its run."""

    def on_change(key: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        first(key, old, new)
        then(key, old, new)

    return on_change


def _wait_synced(informer: Informer, stopping: threading.Event) -> bool:
    while not informer.synced.wait(0.5):
        if informer.error is not None or stopping.is_set():
            return False
    return True


def _guard(
    body: Callable[[], None], failure: list[BaseException], stopping: threading.Event
) -> Callable[[], None]:
    """Run ``body``; an unexpected exception stops the watcher instead of dying silently."""

    def guarded() -> None:
        try:
            body()
        except BaseException as error:
            log.exception("worker crashed")
            failure.append(error)
            stopping.set()

    return guarded
