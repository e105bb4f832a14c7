"""``watch``: wire the informers, the work queues and the workers, and run until told to stop.

Start-up order matters: the stack and its settings are checked first (a wrong stack, a stack
that reads bindings from a file, or a cluster that cannot be listed is fatal and exits non-zero
at once), then the bindings are listed so the workers have a complete cache, then one full run
converges whatever changed while nobody was watching. A sharded environment has one worker per
shard stack (:mod:`components.watch.shard_watch`); its start-up runs only the shards whose
inputs changed, and a SIGTERM drains every shard within one grace period.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from kubernetes import client

from components.bindings import GROUP, PLURAL, VERSION
from components.kube_client import new_api_client
from components.placement import PlacementError
from components.placement_store import PlacementStoreError
from components.settings import SettingsError
from components.shard_digest import CONTEXT_ENV
from components.watch import reaper
from components.watch.config import WatchConfig
from components.watch.environment_up import EnvironmentStacks
from components.watch.informer import Informer, WatchedKind
from components.watch.overrides import Project
from components.watch.run_slots import RunSlots
from components.watch.shard_watch import (
    Lanes,
    StackFileWatch,
    StackTag,
    context_started,
    tag_stacks,
)
from components.watch.shards import check_settled, load_environment, run_context
from components.watch.shutdown import Shutdown, drain_all
from components.watch.status_writer import StatusWriter

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
    environment = load_environment(project, config.common.stack)
    context = run_context(environment) if environment.sharded else ""
    # A move between shard counts must be complete before a watcher writes any of the stacks.
    check_settled(environment, os.environ)
    try:
        # A sharded environment's shard stack files are written and missing stacks created
        # here, once: edits to the environment's stack file take effect on restart.
        stacks = EnvironmentStacks(
            environment,
            {CONTEXT_ENV: context} if context else {},
            keep_history=config.common.keep_history,
        )
    except SettingsError as error:
        raise FatalError(f"stack {config.common.stack}: {error}") from error
    settings = stacks.settings
    lanes = Lanes(stacks, config, RunSlots())
    shutdown = Shutdown(lanes.interrupt)
    shutdown.install()
    if environment.sharded:
        tag_stacks()
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
    if config.fast_path:
        lanes.add_fast_paths(
            client.AppsV1Api(api_client()),
            lambda: bindings.snapshot(),
            StatusWriter(api_client) if settings.write_binding_status else None,
        )
    bindings = Informer(
        BINDINGS,
        api_client,
        lanes.on_binding,
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
                lanes.on_workspace,
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

    # Before the workers: reading the secret DSN uses a runner's CLI, which a run must not
    # share. Once for the environment: shard 0's settings are the environment's.
    # A shard stack watched alone stops only its own idle browsers.
    reaped = (
        bindings.snapshot
        if environment.only is None
        else lanes.owned(bindings.snapshot, lanes.first.index)
    )
    reaper.start(lanes.first.runner, settings.idle, api_client, reaped, stop)
    lanes.add_workers(bindings.snapshot, StatusWriter(api_client) if report else None, stop)
    try:
        lanes.start_up(context, bindings.snapshot)
    except (PlacementError, PlacementStoreError) as error:
        stop.set()
        raise FatalError(str(error)) from error
    failure: list[BaseException] = []
    threads = [
        threading.Thread(
            target=_guard(lane.worker.loop, failure, shutdown.requested),
            name=f"{StackTag.PREFIX}{lane.stack}" if environment.sharded else "worker",
            daemon=True,
        )
        for lane in lanes
        if lane.worker is not None
    ]
    for thread in threads:
        thread.start()
    log.info(
        "watching %s in %s for %s (%s targeted runs, login fast path %s)",
        ", ".join(str(i.kind) for i in informers),
        f"namespace {namespace}" if namespace else "all namespaces",
        context_started(lanes),
        "scoped" if config.scoped else "whole-program",
        "on" if config.fast_path else "off",
    )
    settings_file = None
    if environment.sharded:
        settings_file = StackFileWatch(project.stack_file(environment.name))
        log.info(
            "shard stacks run with %s as read at start-up: restart the watcher after editing it",
            settings_file.path.name,
        )

    ticks = 0
    while not shutdown.requested.wait(1.0):
        ticks += 1
        if bindings.error is not None:
            failure.append(FatalError(str(bindings.error)))
            shutdown.requested.set()
        if settings_file is not None and ticks % 10 == 0:
            settings_file.check()
    stop.set()
    lanes.close()
    clean = drain_all(
        threads,
        lanes.interrupt,
        grace=config.grace_period,
        cancel_timeout=config.cancel_timeout,
        urgent=shutdown.urgent,
    )
    if failure:
        raise FatalError(str(failure[0])) from failure[0]
    log.info("stopped%s", "" if clean else " (an update was still running)")
    return EXIT_OK if clean else EXIT_UNCLEAN


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
