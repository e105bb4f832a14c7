"""The pipeline trigger end to end: ``python -m components.watch`` on the sandbox.

One watcher process against a real stack: a login-style ``spec.replicas`` 0 -> 1 patch on one
binding among several scales exactly that Deployment (through a targeted run) and the binding's
``status.replicas`` follows; deleting a binding removes its objects; killing the watcher and its
``pulumi`` child with SIGKILL in the middle of an update and starting it again converges (the
stale stack lock is removed with a log line). A separate stack checks ``preview`` (nothing
applied) and ``up``. Waits are bounded by generous deadlines; nothing asserts on durations.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from components import naming
from components.bindings import GROUP, PLURAL, VERSION
from sandbox.environment import BINDINGS_NAMESPACE, BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli
from tests.factories import manifest
from tests.integration.conftest import new_stack, run_watch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

WORKSPACE = "watch-workspace"
DEADLINE = 600.0


# Helpers -------------------------------------------------------------------------------------


def binding(name: str, username: str, replicas: int = 0) -> dict[str, Any]:
    return manifest(
        name, BINDINGS_NAMESPACE, workspace=WORKSPACE, username=username, replicas=replicas
    )


def deployment_of(username: str) -> str:
    return naming.deployment_name(WORKSPACE, username)


class Cluster:
    """Just enough of the kube API for these tests."""

    def __init__(self, kubeconfig: Path) -> None:
        api = config.new_client_from_config(str(kubeconfig))
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, BINDINGS_NAMESPACE, PLURAL, body
        )

    def patch_replicas(self, name: str, replicas: int) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, BINDINGS_NAMESPACE, PLURAL, name, {"spec": {"replicas": replicas}}
        )

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, BINDINGS_NAMESPACE, PLURAL, name
        )

    def binding_status(self, name: str) -> dict[str, Any]:
        body = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, BINDINGS_NAMESPACE, PLURAL, name
        )
        return dict(body.get("status") or {})

    def replicas(self, deployment: str) -> int | None:
        """The Deployment's spec.replicas, ``None`` if it does not exist."""
        try:
            body = self.apps.read_namespaced_deployment(deployment, BROWSER_NAMESPACE)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return int(body.spec.replicas or 0)

    def service_exists(self, deployment: str) -> bool:
        try:
            self.core.read_namespaced_service(naming.service_name(deployment), BROWSER_NAMESPACE)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True


class Watcher:
    """``python -m components.watch watch`` as a subprocess, its output in a log file."""

    def __init__(self, cli: PulumiCli, log: Path) -> None:
        self.cli = cli
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.offset = 0

    def start(self, *extra: str) -> None:
        """Start the watcher; :meth:`logged` then only looks at what this run writes."""
        self.offset = len(self.output())
        argv = [
            sys.executable, "-m", "components.watch", "watch",
            "--stack", self.cli.stack,
            "--project-dir", str(self.cli.project_dir),
            "--debounce", "0.2",
            "--resync-interval", "0",
            "--backoff-initial", "1",
            "--backoff-max", "5",
            "--grace-period", "60",
            "--log-level", "DEBUG",
            *extra,
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=self.cli.project_dir,
                env=dict(self.cli.env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def logged(self, text: str) -> bool:
        return text in self.output()[self.offset :]

    def assert_running(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        assert code is None, f"watch exited with {code}:\n{self.output()[-6000:]}"

    def kill_tree(self) -> None:
        """SIGKILL the watcher and everything it started, as a pod kill would.

        The tree is frozen (SIGSTOP) first so nothing can start a child between the listing
        and the kill.
        """
        assert self.process is not None
        frozen: list[int] = []
        for _ in range(10):
            fresh = [
                p for p in [self.process.pid, *descendants(self.process.pid)] if p not in frozen
            ]
            if not fresh:
                break
            for pid in fresh:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            frozen += fresh
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(30)

    def terminate(self, timeout: float = 120) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (the CLI runs in its own session, so not its group)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def wait_until(what: str, check: Callable[[], bool], watcher: Watcher | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if check():
            return
        if watcher is not None:
            watcher.assert_running()
        time.sleep(0.5)
    log = watcher.output()[-6000:] if watcher else ""
    pytest.fail(f"timed out waiting for {what}\n{log}")


def stack_locks(sandbox: Sandbox) -> list[Path]:
    return sorted((sandbox.backend_dir / ".pulumi" / "locks").rglob("*.json"))


# Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> Cluster:
    return Cluster(sandbox.kube.kubeconfig)


@pytest.fixture
def watcher(program_dir: Path, sandbox: Sandbox, tmp_path: Path) -> Iterator[Watcher]:
    cli = new_stack(program_dir, sandbox, "watch")
    cli.config_set("bindingsNamespace", BINDINGS_NAMESPACE)
    running = Watcher(cli, tmp_path / "watch.log")
    yield running
    if running.process is not None and running.process.poll() is None:
        running.terminate()


# Tests ---------------------------------------------------------------------------------------


def test_watch_scales_one_binding_deletes_and_survives_sigkill(
    watcher: Watcher, cluster: Cluster, sandbox: Sandbox
) -> None:
    users = [f"user{i}@example.org" for i in range(6)]
    for index, user in enumerate(users):
        cluster.create(binding(f"watch-{index}", user))

    watcher.start()
    wait_until(
        "the start-up run to finish",
        lambda: watcher.logged("up finished in"),
        watcher,
    )
    assert all(cluster.replicas(deployment_of(u)) == 0 for u in users)

    # A login: one binding among many goes 0 -> 1.
    cluster.patch_replicas("watch-2", 1)
    wait_until(
        "Deployment of watch-2 to scale to 1",
        lambda: cluster.replicas(deployment_of(users[2])) == 1,
        watcher,
    )
    wait_until(
        "status.replicas of watch-2 to follow",
        lambda: cluster.binding_status("watch-2").get("replicas") == 1,
        watcher,
    )
    status = cluster.binding_status("watch-2")
    assert status["statusText"] == "READY"
    assert status["deploymentName"] == deployment_of(users[2])
    assert watcher.logged("targeted up of jupyterhub/watch-2")
    assert [cluster.replicas(deployment_of(u)) for u in users] == [0, 0, 1, 0, 0, 0]

    # Deleting a binding removes its browser.
    cluster.delete("watch-5")
    wait_until(
        "Deployment and Service of watch-5 to be deleted",
        lambda: (
            cluster.replicas(deployment_of(users[5])) is None
            and not cluster.service_exists(deployment_of(users[5]))
        ),
        watcher,
    )

    # SIGKILL in the middle of an update (new bindings make it a full run).
    newcomers = ["late0@example.org", "late1@example.org"]
    for index, user in enumerate(newcomers):
        cluster.create(binding(f"late-{index}", user))
    wait_until("the update to take the stack lock", lambda: bool(stack_locks(sandbox)), watcher)
    watcher.kill_tree()
    if not stack_locks(sandbox):
        # The update won the race and finished; leave a lock the way a killed one does.
        dead = subprocess.Popen(["true"])
        dead.wait()
        lock_dir = (
            sandbox.backend_dir / ".pulumi" / "locks" / "organization"
            / "awms-browser-workspaces" / "watch"
        )  # fmt: skip
        lock_dir.mkdir(parents=True, exist_ok=True)
        (lock_dir / "killed.json").write_text(
            json.dumps(
                {
                    "pid": dead.pid,
                    "username": "test",
                    "hostname": os.uname().nodename,
                    "timestamp": "2026-01-01T00:00:00Z",
                }
            )
        )
    assert stack_locks(sandbox), "a killed update leaves its lock behind"

    watcher.start()
    wait_until(
        "the restarted watcher to converge",
        lambda: (
            all(cluster.replicas(deployment_of(u)) == 0 for u in newcomers)
            and not stack_locks(sandbox)
        ),
        watcher,
    )
    assert watcher.logged("removed stale stack lock")
    assert cluster.replicas(deployment_of(users[2])) == 1
    assert cluster.replicas(deployment_of(users[5])) is None

    # And the fast path still works after recovery.
    cluster.patch_replicas("watch-2", 0)
    wait_until(
        "watch-2 to scale back to 0 with its status",
        lambda: (
            cluster.replicas(deployment_of(users[2])) == 0
            and cluster.binding_status("watch-2").get("replicas") == 0
        ),
        watcher,
    )

    assert watcher.terminate() == 0, watcher.output()[-4000:]
    assert not stack_locks(sandbox)
    assert "stopped" in watcher.output().splitlines()[-1]

    # SIGTERM mid-update with no grace: the update is interrupted (SIGINT), saves its state and
    # releases the lock; the watcher exits 0. Whatever was not applied converges on restart.
    watcher.start("--grace-period", "0", "--initial-run", "none")
    wait_until("the watcher to start", lambda: watcher.logged("watching "), watcher)
    stragglers = [f"term{i}@example.org" for i in range(3)]
    for index, user in enumerate(stragglers):
        cluster.create(binding(f"term-{index}", user))
    wait_until("the update to take the stack lock", lambda: bool(stack_locks(sandbox)), watcher)
    assert watcher.terminate() == 0, watcher.output()[-4000:]
    assert not stack_locks(sandbox), "an interrupted update releases its lock"
    watcher.start()
    wait_until(
        "the stragglers to converge after the interrupted update",
        lambda: all(cluster.replicas(deployment_of(u)) == 0 for u in stragglers),
        watcher,
    )
    assert watcher.terminate() == 0, watcher.output()[-4000:]
    assert not stack_locks(sandbox)


def test_preview_applies_nothing_and_up_applies(
    program_dir: Path, sandbox: Sandbox, cluster: Cluster, tmp_path: Path
) -> None:
    cli = new_stack(program_dir, sandbox, "watch-review")
    cli.config_set("bindingsNamespace", "review")
    sandbox.kubectl("create", "namespace", "review")
    proposed = binding("review-0", "reviewer@example.org")
    proposed["metadata"]["namespace"] = "review"
    manifests = tmp_path / "bindings.yaml"
    manifests.write_text(yaml.safe_dump(proposed))
    report = tmp_path / "preview.json"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_watch(cli, *args, timeout=DEADLINE)

    preview = run(
        "preview", "--bindings-file", str(manifests), "--json", str(report), "--engine-diff", "-"
    )
    assert preview.returncode == 0, preview.stdout + preview.stderr
    summary = json.loads(report.read_text())
    assert summary["ok"] and summary["changes"].get("create", 0) > 0
    assert "kubernetes:apps/v1:Deployment" in preview.stdout
    deployment = naming.deployment_name(WORKSPACE, "reviewer@example.org")
    assert cluster.replicas(deployment) is None  # a preview applies nothing

    cluster.custom.create_namespaced_custom_object(GROUP, VERSION, "review", PLURAL, proposed)
    up = run("up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert cluster.replicas(deployment) == 0

    overlay = run("preview", "--bindings-file", str(manifests), "--overlay")
    assert overlay.returncode == 0, overlay.stdout + overlay.stderr
    assert "preview of" in overlay.stdout and "no changes" in overlay.stdout
