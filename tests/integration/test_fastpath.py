"""The login fast path on the real kube-apiserver, with the real CLI recording what it did.

A stack of 52 bindings is brought up once by a pipeline ``up``. Then:

* one user logs in and out with the watcher running: the fast path scales the Deployment before
  the targeted run records it, a pipeline ``up`` afterwards has nothing to fight over (no
  field-manager conflict), ``preview`` shows no changes, and a watch on the Deployment saw
  ``spec.replicas`` go 0 -> 1 -> 0 and nothing else (no flap);
* 50 users log in within a second: every Deployment is scaled, each exactly once, and the state
  converges; then they all log out;
* a Deployment the stack does not manage (an impostor with the planned name, one re-created
  behind the stack's back, one deleted) is never touched or created.

Nothing asserts on durations; ``bench.watch_latency`` measures them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from components import naming
from components.bindings import GROUP, PLURAL, VERSION
from components.manifests import FIELD_MANAGER as PROGRAM_FIELD_MANAGER
from components.watch.fastpath import FIELD_MANAGER, FastPath
from components.watch.login_plan import LoginTarget, plan_login
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.factories import manifest
from tests.integration.conftest import new_stack, running_sandbox
from tests.integration.test_watch import Watcher, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

NAMESPACE = "fastpath-bindings"
WORKSPACE = "fastpath-workspace"
USERS = [f"user{i}@example.org" for i in range(50)]
SPARES = ["spare0@example.org", "spare1@example.org"]


def binding_name(user: str) -> str:
    return "fp-" + user.split("@")[0]


def deployment_of(user: str) -> str:
    return naming.deployment_name(WORKSPACE, user)


def binding(user: str, replicas: int = 0) -> dict[str, Any]:
    return manifest(
        binding_name(user), NAMESPACE, workspace=WORKSPACE, username=user, replicas=replicas
    )


class ReplicaRecorder:
    """Every ``spec.replicas`` value the API server reports for each Deployment, in order."""

    def __init__(self, kubeconfig: Path) -> None:
        self._apps = client.AppsV1Api(config.new_client_from_config(str(kubeconfig)))
        listed = self._apps.list_namespaced_deployment(BROWSER_NAMESPACE)
        self._lock = threading.Lock()
        self.values: dict[str, list[int]] = {
            d.metadata.name: [int(d.spec.replicas or 0)] for d in listed.items
        }
        self._version = listed.metadata.resource_version
        self._stream = watch.Watch()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                for event in self._stream.stream(
                    self._apps.list_namespaced_deployment,
                    BROWSER_NAMESPACE,
                    resource_version=self._version,
                    timeout_seconds=30,
                ):
                    obj = event["object"]
                    if event["type"] == "ERROR" or not hasattr(obj, "metadata"):
                        raise RuntimeError("watch expired")  # a test fails on the gap
                    self._version = obj.metadata.resource_version
                    if event["type"] == "DELETED":
                        continue
                    with self._lock:
                        self.values.setdefault(obj.metadata.name, []).append(
                            int(obj.spec.replicas or 0)
                        )

    def transitions(self, name: str) -> list[int]:
        """The distinct successive values (a status-only update repeats the value)."""
        with self._lock:
            values = list(self.values.get(name, []))
        return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]

    def stop(self) -> None:
        self._stop.set()
        self._stream.stop()


class Fleet:
    def __init__(self, cli: PulumiCli, sandbox: Sandbox) -> None:
        self.cli = cli
        self.sandbox = sandbox
        api = config.new_client_from_config(str(sandbox.kube.kubeconfig))
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)

    def patch(self, user: str, replicas: int) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, binding_name(user), {"spec": {"replicas": replicas}}
        )

    def status_replicas(self, user: str) -> Any:
        body = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, binding_name(user)
        )
        return (body.get("status") or {}).get("replicas")

    def replicas(self, user: str) -> int | None:
        try:
            body = self.apps.read_namespaced_deployment(deployment_of(user), BROWSER_NAMESPACE)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return int(body.spec.replicas or 0)

    def managers(self, name: str) -> set[str]:
        """Field managers owning ``spec.replicas`` of Deployment ``name``."""
        body = self.apps.read_namespaced_deployment(name, BROWSER_NAMESPACE)
        return {
            entry.manager
            for entry in body.metadata.managed_fields or []
            if "f:replicas" in ((entry.fields_v1 or {}).get("f:spec") or {})
        }

    def bindings(self) -> dict[str, dict[str, Any]]:
        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
        return {f"{NAMESPACE}/{b['metadata']['name']}": b for b in listed["items"]}

    def converged(self) -> None:
        """A pipeline ``up`` succeeds without a conflict and the next preview is empty."""
        result = self.cli.up()
        assert "conflict" not in result.output.lower(), result.output[-4000:]
        assert change_summary(self.cli.preview_json()) == {}


@dataclass
class Running:
    watcher: Watcher
    recorder: ReplicaRecorder


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    """A sandbox of this module's own: 52 browsers must not show up in other modules' exact
    checks of what exists in the shared one."""
    with running_sandbox(tmp_path_factory.mktemp("fastpath-sandbox")) as box:
        yield box


@pytest.fixture(scope="module")
def fleet(program_dir: Path, sandbox: Sandbox) -> Fleet:
    sandbox.kubectl("create", "namespace", NAMESPACE)
    cli = new_stack(program_dir, sandbox, "fastpath")
    cli.config_set("bindingsNamespace", NAMESPACE)
    fleet = Fleet(cli, sandbox)
    for user in USERS + SPARES:
        fleet.custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, binding(user)
        )
    # Set-up only: without checkpoints the file backend does not rewrite the state per create.
    setup = PulumiCli(cli.project_dir, cli.stack, {**cli.env, "PULUMI_SKIP_CHECKPOINTS": "true"})
    setup.up()
    return fleet


@pytest.fixture
def running(fleet: Fleet, tmp_path: Path) -> Iterator[Running]:
    recorder = ReplicaRecorder(fleet.sandbox.kube.kubeconfig)
    watcher = Watcher(fleet.cli, tmp_path / "watch.log")
    watcher.start("--initial-run", "none")
    wait_until("the watcher to start", lambda: watcher.logged("watching "), watcher)
    yield Running(watcher, recorder)
    recorder.stop()
    if watcher.process is not None and watcher.process.poll() is None:
        watcher.terminate()


def runs_finished(watcher: Watcher) -> int:
    return watcher.output()[watcher.offset :].count(" finished in ")


def test_login_then_run_then_logout_then_pipeline_up_share_replicas(
    fleet: Fleet, running: Running
) -> None:
    watcher, user = running.watcher, USERS[0]
    name = deployment_of(user)

    fleet.patch(user, 1)
    wait_until("the login to scale the Deployment", lambda: fleet.replicas(user) == 1, watcher)
    wait_until("status.replicas to follow", lambda: fleet.status_replicas(user) == 1, watcher)
    wait_until("the targeted run to record it", lambda: runs_finished(watcher) >= 1, watcher)
    log = watcher.output()[watcher.offset :]
    scaled = log.find(f"fast path: binding {NAMESPACE}/{binding_name(user)}: Deployment")
    assert 0 <= scaled < log.find(f"targeted up of {NAMESPACE}/{binding_name(user)}"), log[-4000:]
    assert watcher.logged("up finished in"), log[-4000:]  # the run succeeded
    # Both writers hold the same value, so both may own it; neither conflicted.
    assert PROGRAM_FIELD_MANAGER in fleet.managers(name), fleet.managers(name)

    fleet.patch(user, 0)
    wait_until("the logout to scale it down", lambda: fleet.replicas(user) == 0, watcher)
    wait_until("status.replicas to follow", lambda: fleet.status_replicas(user) == 0, watcher)
    wait_until("the targeted run to record it", lambda: runs_finished(watcher) >= 2, watcher)
    assert FIELD_MANAGER in fleet.managers(name) or PROGRAM_FIELD_MANAGER in fleet.managers(name)
    assert watcher.terminate() == 0, watcher.output()[-4000:]
    assert "conflict" not in watcher.output()[watcher.offset :].lower()

    fleet.converged()
    assert fleet.replicas(user) == 0
    assert running.recorder.transitions(name) == [0, 1, 0]
    for other in USERS[1:]:
        assert running.recorder.transitions(deployment_of(other)) == [0], other


def test_a_burst_of_fifty_logins_scales_every_browser_once(fleet: Fleet, running: Running) -> None:
    watcher = running.watcher
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda user: fleet.patch(user, 1), USERS))
    wait_until(
        "all 50 Deployments to scale to 1",
        lambda: all(fleet.replicas(u) == 1 for u in USERS),
        watcher,
    )
    wait_until(
        "all 50 statuses to follow",
        lambda: all(fleet.status_replicas(u) == 1 for u in USERS),
        watcher,
    )
    wait_until("a targeted run to record them", lambda: runs_finished(watcher) >= 1, watcher)
    assert watcher.terminate() == 0, watcher.output()[-4000:]
    fleet.converged()  # whatever the watcher had not recorded yet, the pipeline does

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda user: fleet.patch(user, 0), USERS))
    fleet.converged()  # without the watcher, the pipeline alone scales them down
    assert all(fleet.replicas(u) == 0 for u in USERS)
    for user in USERS:
        assert running.recorder.transitions(deployment_of(user)) == [0, 1, 0], user
    assert running.recorder.transitions(deployment_of(SPARES[0])) == [0]


def test_deployments_the_stack_does_not_manage_are_never_touched(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    """In-process fast path on the real API server, fed the stack's own exported state."""
    caplog.set_level(logging.INFO, logger="components.watch.fastpath")
    newcomer = "newcomer@example.org"
    fleet.custom.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, binding(newcomer)
    )
    impostor = deployment_of(newcomer)
    fleet.apps.create_namespaced_deployment(BROWSER_NAMESPACE, _deployment(impostor))
    recreated, deleted = deployment_of(SPARES[0]), deployment_of(SPARES[1])
    fleet.apps.delete_namespaced_deployment(recreated, BROWSER_NAMESPACE)
    wait_until("the old Deployment to go", lambda: fleet.replicas(SPARES[0]) is None)
    fleet.apps.create_namespaced_deployment(BROWSER_NAMESPACE, _deployment(recreated))
    fleet.apps.delete_namespaced_deployment(deleted, BROWSER_NAMESPACE)

    bindings: dict[str, dict[str, Any]] = fleet.bindings()
    fast = FastPath(fleet.apps, lambda: dict(bindings), statuses=None, workers=4)
    fast.update_managed(fleet.cli.export_state()["deployment"])
    try:
        for user in (newcomer, *SPARES):
            key = f"{NAMESPACE}/{binding_name(user)}"
            old = bindings[key]
            bindings[key] = {**old, "spec": {**old["spec"], "replicas": 1}}
            # Valid and planned: only the managed-set and uid checks stand in the way.
            assert isinstance(plan_login(key, bindings, datetime.now(UTC).date()), LoginTarget)
            fast.on_binding_change(key, old, bindings[key])
        assert fast.wait_idle(60)
    finally:
        fast.close()

    assert fleet.replicas(newcomer) == 0, "an impostor with the planned name is not scaled"
    assert FIELD_MANAGER not in fleet.managers(impostor)
    assert fleet.replicas(SPARES[0]) == 0, "a Deployment re-created behind the stack's back"
    assert FIELD_MANAGER not in fleet.managers(recreated)
    assert fleet.replicas(SPARES[1]) is None, "the fast path never creates a Deployment"
    said = caplog.text
    assert f"maps to Deployment {impostor}, which the stack does not manage" in said
    assert f"Deployment {BROWSER_NAMESPACE}/{recreated} is not the object the stack manages" in said
    assert f"Deployment {BROWSER_NAMESPACE}/{deleted} (binding" in said and "not found" in said


def _deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=0,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )
