"""The worker against a fake stack: run choice, scoping, retries, status reports, recovery."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import naming
from components.watch.changes import Change, ChangeKind
from components.watch.locks import LockKeeper, StackLock, StackLockedError
from components.watch.overrides import Project
from components.watch.retry import Backoff
from components.watch.runner import RunOutcome
from components.watch.targets import BROWSER_WORKSPACE_TYPE
from components.watch.worker import Worker, WorkerSettings
from components.watch.workqueue import Batch, Pending, WorkQueue
from tests.factories import manifest

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
WORKSPACE = "default-generic-workspace"


def key(m: Mapping[str, Any]) -> str:
    return f"{m['metadata']['namespace']}/{m['metadata']['name']}"


def state_for(
    bindings: Mapping[str, Mapping[str, Any]], pending: list[Any] | None = None
) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for k, m in bindings.items():
        name = naming.deployment_name(m["spec"]["workspace"], m["spec"]["username"])
        component = f"urn:pulumi:dev::p::{BROWSER_WORKSPACE_TYPE}::{name}"
        resources += [
            {"urn": component, "type": BROWSER_WORKSPACE_TYPE},
            {
                "urn": f"{component}$kubernetes:apps/v1:Deployment::{name}",
                "type": "kubernetes:apps/v1:Deployment",
                "parent": component,
            },
            {
                "urn": f"urn:pulumi:dev::p::pulumi-python:dynamic/awms:BindingStatus::{k}",
                "type": "pulumi-python:dynamic/awms:BindingStatus",
                "inputs": {
                    "bindingNamespace": m["metadata"]["namespace"],
                    "bindingName": m["metadata"]["name"],
                },
            },
        ]
    return {"deployment": {"resources": resources, "pending_operations": pending or []}}


class FakeRunner:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.ups: list[dict[str, Any]] = []
        self.outcomes: list[RunOutcome] = []
        self.imported: list[Mapping[str, Any]] = []
        self.interrupted = 0
        self.release = threading.Event()
        self.block_full: Callable[[], None] | None = None

    def up(self, **kwargs: Any) -> RunOutcome:
        config_file = kwargs.get("config_file")
        if config_file is not None:
            config = yaml.safe_load(Path(config_file).read_text())["config"]
            bindings_file = Path(config["awms-browser-workspaces:bindingsFile"])
            kwargs["scoped_bindings"] = [
                key(m) for m in yaml.safe_load_all(bindings_file.read_text())
            ]
            kwargs["source"] = config["awms-browser-workspaces:bindingsSource"]
        self.ups.append(kwargs)
        operation = "targeted up" if kwargs.get("targets") else "up"
        if not kwargs.get("targets") and self.block_full is not None:
            self.block_full()
            self.release.wait(10)
            return RunOutcome(operation, 1.0, error="update canceled")
        return self.outcomes.pop(0) if self.outcomes else RunOutcome(operation, 1.0)

    def export(self) -> dict[str, Any]:
        return self.state

    def interrupt(self) -> bool:
        self.interrupted += 1
        self.release.set()
        return True

    def import_state(self, state: Mapping[str, Any]) -> None:
        self.imported.append(state)
        self.state = dict(state)


class FakeStatuses:
    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []

    def patch(self, key: str, status: Mapping[str, Any]) -> bool:
        self.patches.append((key, dict(status)))
        return True


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "Pulumi.yaml").write_text("name: awms-browser-workspaces\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  awms-browser-workspaces:x: y\n")
    return Project.load(tmp_path)


def take_full(queue: WorkQueue, reason: str) -> Batch:
    """Request a full run and take it off the queue, as the worker loop would."""
    queue.request_full(reason)
    batch = queue.take(0)
    assert batch is not None
    return batch


def make_worker(
    project: Project,
    bindings: dict[str, Any],
    runner: FakeRunner,
    *,
    scoped: bool = True,
    locks: LockKeeper | None = None,
) -> tuple[Worker, WorkQueue, FakeStatuses]:
    queue = WorkQueue(Pending(debounce=0.0, max_delay=0.0), clock=lambda: 0.0)
    statuses = FakeStatuses()
    worker = Worker(
        queue,
        runner,
        locks or LockKeeper(None, project.name, "dev"),
        project,
        "dev",
        lambda: bindings,
        statuses=statuses,
        backoff=Backoff(jitter=0.0),
        settings=WorkerSettings(scoped=scoped),
        clock=lambda: 0.0,
        now=lambda: NOW,
    )
    return worker, queue, statuses


def two_bindings() -> dict[str, Any]:
    a = manifest("a", username="jane@x.org", replicas=1)
    b = manifest("b", username="john@x.org")
    return {key(a): a, key(b): b}


def test_a_replicas_change_runs_a_scoped_targeted_up(project: Project) -> None:
    bindings = two_bindings()
    runner = FakeRunner(state_for(bindings))
    worker, queue, _ = make_worker(project, bindings, runner)
    queue.add(Change(ChangeKind.BINDING, "jupyterhub/a", "replicas"))
    batch = queue.take(0)
    assert batch is not None
    outcome = worker.execute(batch)
    assert outcome is not None and outcome.ok
    (call,) = runner.ups
    name = naming.deployment_name(WORKSPACE, "jane@x.org")
    assert call["targets"][0].endswith(f"::{name}") and len(call["targets"]) == 3
    assert call["source"] == "file" and call["scoped_bindings"] == ["jupyterhub/a"]
    assert not any(naming.deployment_name(WORKSPACE, "john@x.org") in u for u in call["targets"])


def test_whole_program_targeting_when_scoping_is_off(project: Project) -> None:
    bindings = two_bindings()
    runner = FakeRunner(state_for(bindings))
    worker, queue, _ = make_worker(project, bindings, runner, scoped=False)
    queue.add(Change(ChangeKind.BINDING, "jupyterhub/b", "replicas"))
    batch = queue.take(0)
    assert batch is not None
    worker.execute(batch)
    assert runner.ups[0].get("config_file") is None and len(runner.ups[0]["targets"]) == 3


def test_full_runs_continue_on_error_and_reindex(project: Project) -> None:
    bindings = two_bindings()
    runner = FakeRunner({"deployment": {"resources": []}})
    worker, queue, _ = make_worker(project, bindings, runner)
    batch = take_full(queue, "start-up")
    runner.state = state_for(bindings)  # what the full run created
    worker.execute(batch)
    assert runner.ups == [{"continue_on_error": True, "message": "watch: start-up"}]
    assert worker.index is not None and set(worker.index.statuses) == set(bindings)


def test_untargetable_work_is_escalated_to_a_full_run(project: Project) -> None:
    bindings = two_bindings()
    runner = FakeRunner(state_for({}))  # nothing deployed yet
    worker, queue, _ = make_worker(project, bindings, runner)
    queue.add(Change(ChangeKind.BINDING, "jupyterhub/a", "replicas"))
    batch = queue.take(0)
    assert batch is not None
    assert worker.execute(batch) is None and runner.ups == []
    again = queue.take(0)
    assert again is not None and again.full and again.full_keys == {"jupyterhub/a"}


def test_failures_are_requeued_and_reported_then_cleared(project: Project) -> None:
    bindings = two_bindings()
    runner = FakeRunner(state_for(bindings))
    worker, queue, statuses = make_worker(project, bindings, runner)
    name = naming.deployment_name(WORKSPACE, "jane@x.org")
    runner.outcomes.append(
        RunOutcome("targeted up", error="connection refused", failed_urns=["urn:unknown"])
    )
    queue.add(Change(ChangeKind.BINDING, "jupyterhub/a", "replicas"))
    batch = queue.take(0)
    assert batch is not None
    outcome = worker.execute(batch)
    assert outcome is not None and not outcome.ok
    assert statuses.patches == [
        (
            "jupyterhub/a",
            {"statusText": "ERROR: connection refused (attempt 1, retry in 2s)"},
        )
    ]
    assert worker.marked == {"jupyterhub/a"}
    assert queue.take(0) is None  # waiting out the backoff
    worker.clock = lambda: 2.0
    queue._clock = lambda: 2.0
    retry = queue.take(0)
    assert retry is not None and retry.attempt == 2
    worker.execute(retry)
    assert statuses.patches[-1] == (
        "jupyterhub/a",
        {"statusText": "READY", "deploymentName": name},
    )
    assert worker.marked == set()


def test_failed_full_run_reports_the_bindings_whose_resources_failed(project: Project) -> None:
    bindings = two_bindings()
    state = state_for(bindings)
    runner = FakeRunner(state)
    worker, queue, statuses = make_worker(project, bindings, runner)
    deployment_urn = state["deployment"]["resources"][4]["urn"]  # john's Deployment
    runner.outcomes.append(RunOutcome("up", error="boom", failed_urns=[deployment_urn]))
    batch = take_full(queue, "resync")
    worker.execute(batch)
    assert [k for k, _ in statuses.patches] == ["jupyterhub/b"]


def test_a_live_lock_is_waited_for_without_running(project: Project) -> None:
    class Locked(LockKeeper):
        def clear_stale(self) -> list[StackLock]:
            raise StackLockedError([StackLock(Path("/x.json"), 5, "u", "h", None)])

    bindings = two_bindings()
    runner = FakeRunner(state_for(bindings))
    worker, queue, statuses = make_worker(
        project, bindings, runner, locks=Locked(None, project.name, "dev")
    )
    batch = take_full(queue, "start-up")
    outcome = worker.execute(batch)
    assert outcome is not None and outcome.locked and runner.ups == []
    assert queue.has_pending() and statuses.patches == []
    worker.clock = lambda: 100.0
    queue._clock = lambda: 100.0
    again = queue.take(0)
    assert again is not None and again.full and again.attempt == 1  # waiting is not failing


def test_pending_operations_of_a_killed_run_are_cleared_once(project: Project) -> None:
    bindings = two_bindings()
    pending = [{"type": "updating", "resource": {"urn": "urn:x"}}]
    runner = FakeRunner(state_for(bindings, pending))
    worker, queue, _ = make_worker(project, bindings, runner)
    batch = take_full(queue, "start-up")
    worker.execute(batch)
    assert len(runner.imported) == 1
    assert runner.imported[0]["deployment"]["pending_operations"] == []
    again = take_full(queue, "again")
    worker.execute(again)
    assert len(runner.imported) == 1


def test_errors_left_by_an_earlier_watcher_are_adopted(project: Project) -> None:
    bindings = two_bindings()
    bindings["jupyterhub/b"]["status"] = {"statusText": "ERROR: old failure"}
    runner = FakeRunner(state_for(bindings))
    worker, queue, statuses = make_worker(project, bindings, runner)
    worker.adopt_reported_errors()
    batch = take_full(queue, "start-up")
    worker.execute(batch)
    assert statuses.patches[0][0] == "jupyterhub/b"
    assert statuses.patches[0][1]["statusText"] == "READY"


def test_an_update_killed_by_shutdown_leaves_no_lock(project: Project) -> None:
    """SIGINT that reaches pulumi before its handler is installed kills it with its lock held."""
    released: list[bool] = []

    class Keeper(LockKeeper):
        def clear_stale(self) -> list[StackLock]:
            released.append(True)
            return []

    bindings = two_bindings()
    runner = FakeRunner(state_for(bindings))
    worker, queue, _ = make_worker(
        project, bindings, runner, locks=Keeper(None, project.name, "dev")
    )
    batch = take_full(queue, "start-up")
    worker.stop.set()
    runner.outcomes.append(RunOutcome("up", 0.1, error="code: -2"))
    outcome = worker.execute(batch)
    assert outcome is not None and not outcome.ok
    assert len(released) == 2  # before the run, as always, and again once it was killed


def test_loop_stops_when_asked(project: Project) -> None:
    bindings = two_bindings()
    runner = FakeRunner(state_for(bindings))
    worker, queue, _ = make_worker(project, bindings, runner)
    thread = threading.Thread(target=worker.loop)
    thread.start()
    worker.stop.set()
    queue.close()
    thread.join(5)
    assert not thread.is_alive()


def test_a_login_preempts_a_running_full_run(project: Project) -> None:
    bindings = two_bindings()
    runner = FakeRunner(state_for(bindings))
    worker, queue, _ = make_worker(project, bindings, runner)
    runner.block_full = lambda: queue.add(Change(ChangeKind.BINDING, "jupyterhub/a", "login"))
    batch = take_full(queue, "periodic resync")
    assert worker.execute(batch) is None  # handed back, not failed
    assert runner.interrupted == 1
    login = queue.take(0)
    assert login is not None and not login.full and login.targeted_keys == {"jupyterhub/a"}
    runner.block_full = None
    worker.execute(login)
    resumed = queue.take(0)
    assert resumed is not None and resumed.full and resumed.preemptions == 1
    assert resumed.attempt == 1
    outcome = worker.execute(resumed)
    assert outcome is not None and outcome.ok


def test_preemption_is_bounded(project: Project) -> None:
    bindings = two_bindings()
    runner = FakeRunner(state_for(bindings))
    worker, queue, _ = make_worker(project, bindings, runner)
    batch = take_full(queue, "periodic resync")
    exhausted = replace(batch, preemptions=worker.settings.max_preemptions)
    queue.add(Change(ChangeKind.BINDING, "jupyterhub/a", "login"))
    outcome = worker.execute(exhausted)
    assert outcome is not None and outcome.ok and runner.interrupted == 0


def test_scoped_runs_schedule_a_full_run_that_restores_the_outputs(project: Project) -> None:
    bindings = two_bindings()
    runner = FakeRunner(state_for(bindings))
    worker, queue, _ = make_worker(project, bindings, runner)
    queue.add(Change(ChangeKind.BINDING, "jupyterhub/a", "login"))
    batch = queue.take(0)
    assert batch is not None
    worker.execute(batch)
    assert worker._restore_outputs_at == worker.settings.outputs_settle
    full_batch = take_full(queue, "resync")
    worker.execute(full_batch)
    assert worker._restore_outputs_at is None
