"""The fast path's decisions with a recording stand-in for the apps API (the real API server
is exercised in tests/integration/test_fastpath.py)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date
from typing import Any

from kubernetes.client import V1Scale, V1ScaleSpec
from kubernetes.client.exceptions import ApiException

from components import naming
from components.watch.fastpath import FIELD_MANAGER, FastPath, FastPathRunner
from components.watch.managed import DEPLOYMENT_TYPE
from components.watch.runner import RunOutcome
from components.watch.targets import BROWSER_WORKSPACE_TYPE
from tests.factories import manifest

TODAY = date(2025, 6, 1)
WORKSPACE = "default-generic-workspace"


class Apps:
    """Records scale patches; ``missing`` answer 404, ``gate`` holds requests back."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str, str]] = []
        self.missing: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def patch_namespaced_deployment_scale(
        self, name: str, namespace: str, body: list[dict[str, Any]], **options: Any
    ) -> V1Scale:
        self.gate.wait(10)
        if name in self.missing:
            raise ApiException(status=404, reason="Not Found")
        replicas = next(op["value"] for op in body if op["path"] == "/spec/replicas")
        uid = next(op["value"] for op in body if op["op"] == "test")
        with self.lock:
            self.calls.append((name, replicas, uid, options["field_manager"]))
        return V1Scale(spec=V1ScaleSpec(replicas=replicas))


class Statuses:
    def __init__(self) -> None:
        self.written: list[tuple[str, dict[str, Any]]] = []

    def patch(self, key: str, status: Mapping[str, Any]) -> bool:
        self.written.append((key, dict(status)))
        return True


def deployment_of(username: str) -> str:
    return naming.deployment_name(WORKSPACE, username)


def state(*usernames: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for user in usernames:
        name = deployment_of(user)
        component = f"urn:pulumi:s::p::{BROWSER_WORKSPACE_TYPE}::{name}"
        resources.append({"urn": component, "type": BROWSER_WORKSPACE_TYPE})
        resources.append(
            {
                "urn": f"{component}$kubernetes:apps/v1:Deployment::{name}",
                "type": DEPLOYMENT_TYPE,
                "parent": component,
                "outputs": {
                    "metadata": {"name": name, "namespace": "guacamole", "uid": f"uid-{name}"}
                },
            }
        )
    return {"resources": resources}


class Setup:
    def __init__(self, *bindings: dict[str, Any]) -> None:
        self.apps = Apps()
        self.statuses = Statuses()
        self.bindings = {f"jupyterhub/{b['metadata']['name']}": b for b in bindings}
        self.fast = FastPath(
            self.apps,
            lambda: dict(self.bindings),
            statuses=self.statuses,
            today=lambda: TODAY,
        )

    def change(self, name: str, replicas: int) -> None:
        key = f"jupyterhub/{name}"
        old = self.bindings[key]
        new = {**old, "spec": {**old["spec"], "replicas": replicas}}
        self.bindings[key] = new
        self.fast.on_binding_change(key, old, new)


def test_a_login_scales_the_managed_deployment_and_writes_the_status() -> None:
    setup = Setup(manifest("b-jane", username="jane@example.org", replicas=0))
    setup.fast.update_managed(state("jane@example.org"))
    setup.change("b-jane", 1)
    assert setup.fast.wait_idle(10)
    name = deployment_of("jane@example.org")
    assert setup.apps.calls == [(name, 1, f"uid-{name}", FIELD_MANAGER)]
    assert setup.statuses.written == [("jupyterhub/b-jane", {"replicas": 1})]


def test_unmanaged_unknown_or_missing_deployments_are_left_alone() -> None:
    setup = Setup(
        manifest("b-jane", username="jane@example.org", replicas=0),
        manifest("b-john", username="john@example.org", replicas=0),
    )
    setup.change("b-jane", 1)  # the state has not been read yet
    assert setup.fast.wait_idle(10)
    setup.fast.update_managed(state("jane@example.org"))
    setup.change("b-john", 1)  # not in the state
    setup.apps.missing.add(deployment_of("jane@example.org"))
    setup.change("b-jane", 0)  # in the state, gone from the cluster
    assert setup.fast.wait_idle(10)
    assert setup.apps.calls == []
    assert setup.statuses.written == []


def test_changes_queued_behind_a_slow_request_apply_the_newest_value_last() -> None:
    setup = Setup(manifest("b-jane", username="jane@example.org", replicas=0))
    setup.fast.update_managed(state("jane@example.org"))
    setup.apps.gate.clear()
    setup.change("b-jane", 1)
    setup.change("b-jane", 0)
    setup.change("b-jane", 1)
    setup.apps.gate.set()
    assert setup.fast.wait_idle(10)
    values = [replicas for _, replicas, _, _ in setup.apps.calls]
    assert values[-1] == 1 and len(values) <= 2


def test_a_burst_of_logins_is_scaled_in_parallel() -> None:
    users = [f"user{i}@example.org" for i in range(50)]
    setup = Setup(*(manifest(f"b-{i}", username=u, replicas=0) for i, u in enumerate(users)))
    setup.fast.update_managed(state(*users))
    setup.apps.gate.clear()
    for index in range(50):
        setup.change(f"b-{index}", 1)
    setup.apps.gate.set()
    assert setup.fast.wait_idle(30)
    assert sorted(name for name, *_ in setup.apps.calls) == sorted(deployment_of(u) for u in users)


class FailingRunner:
    def __init__(self, during: Any) -> None:
        self.during = during
        self.exports = 0

    def up(self, **options: Any) -> RunOutcome:
        self.during()
        return RunOutcome("up", error="boom")

    def export(self) -> dict[str, Any]:
        self.exports += 1
        return {"deployment": state("jane@example.org")}

    def import_state(self, state: Mapping[str, Any]) -> None:
        pass

    def interrupt(self) -> bool:
        return False


def test_a_failed_run_undoes_nothing_and_changes_during_it_are_asserted_again() -> None:
    setup = Setup(manifest("b-jane", username="jane@example.org", replicas=0))
    inner = FailingRunner(lambda: setup.change("b-jane", 1))
    runner = FastPathRunner(inner, setup.fast)
    runner.export()  # the worker's export teaches the fast path the managed set
    outcome = runner.up(message="x")
    assert not outcome.ok
    assert setup.fast.wait_idle(10)
    values = [replicas for _, replicas, _, _ in setup.apps.calls]
    assert values == [1, 1]  # scaled at the login, asserted again after the run; never 0
