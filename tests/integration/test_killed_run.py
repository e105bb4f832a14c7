"""A ``pulumi up`` killed with SIGKILL at any point is repaired by the next run, hands off.

The CLI (and the plugins it started) is killed once some Secrets or some Guacamole connections
exist, with and without ``PULUMI_SKIP_CHECKPOINTS``: a stale lock, pending operations or no
record at all of what was created are left behind. The runner's ``up`` (``scripts/watch up``)
must then converge with no hand work and no server-side-apply conflict, and for every binding
the Secret, Guacamole's ``password`` parameter and the password the pod template was rolled with
must be the same. A manual ``pulumi cancel`` + ``pulumi up`` (the README's recovery) converges
too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client, config

from components import naming
from components.watch.checkpoints import checkpoint_path
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.conftest import new_stack
from tests.integration.helpers_guacamole import (
    apply_bindings,
    assert_passwords_agree,
    binding,
    connection_parameters,
    run_watch,
)
from tests.integration.test_watch import descendants

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

USERS = [f"k{i}@example.org" for i in range(6)]

CASES = {
    "checkpoints-after-secrets": (False, "secrets", 2, "runner"),
    "checkpoints-after-connections": (False, "connections", 2, "runner"),
    "no-checkpoints-after-secrets": (True, "secrets", 2, "runner"),
    "no-checkpoints-after-connections": (True, "connections", 3, "runner"),
    "checkpoints-manual-cancel": (False, "connections", 2, "manual"),
}


def secrets_created(kube: client.CoreV1Api, workspace: str) -> int:
    names = {naming.vnc_secret_name(naming.deployment_name(workspace, u)) for u in USERS}
    items = kube.list_namespaced_secret(BROWSER_NAMESPACE).items
    return sum(1 for s in items if s.metadata.name in names)


def kill_when(process: subprocess.Popen[bytes], reached: Callable[[], bool]) -> None:
    """SIGKILL the CLI and its children as soon as ``reached`` holds."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and process.poll() is None and not reached():
        time.sleep(0.1)
    if process.poll() is None:
        # The CLI and every process it started (the language host runs the program in its own
        # process group), as a pod kill would; no child may outlive the test.
        tree = [process.pid, *descendants(process.pid)]
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        for pid in [*tree, *descendants(process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    process.wait(60)


@pytest.mark.parametrize("case", sorted(CASES))
def test_killed_up_converges_on_the_next_run(
    case: str, program_dir: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    skip_checkpoints, what, after, recovery = CASES[case]
    namespace = f"killed-{sorted(CASES).index(case)}"
    workspace = f"{namespace}-workspace"
    cli = new_stack(program_dir, sandbox, namespace)
    cli.config_set("bindingsNamespace", namespace)
    env = dict(cli.env)
    if skip_checkpoints:
        env["PULUMI_SKIP_CHECKPOINTS"] = "true"
    cli = PulumiCli(cli.project_dir, cli.stack, env)
    apply_bindings(
        sandbox,
        namespace,
        [binding(namespace, f"k-{i}", workspace, user) for i, user in enumerate(USERS)],
    )
    kube = client.CoreV1Api(config.new_client_from_config(str(sandbox.kube.kubeconfig)))

    def reached() -> bool:
        if what == "secrets":
            return secrets_created(kube, workspace) >= after
        return len(connection_parameters(sandbox, workspace)) >= after

    with (tmp_path / "killed-up.log").open("wb") as log:
        process = subprocess.Popen(
            ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive",
             "--stack", cli.stack],
            cwd=cli.project_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        kill_when(process, reached)
    assert process.returncode == -signal.SIGKILL, "the update finished before it was killed"

    if recovery == "runner":
        result = run_watch(cli, "up")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
    else:
        # The README's manual recovery, first step: a kill between the blob store's truncation
        # and rewrite of a metadata file leaves it empty and the stack unreadable ("EOF").
        for sidecar in (sandbox.backend_dir / ".pulumi").rglob("*.attrs"):
            if sidecar.stat().st_size == 0:
                sidecar.unlink()
        cli.run("cancel", "--yes")
        output = cli.up().output
    assert "conflict" not in output.lower(), output[-4000:]
    assert_passwords_agree(sandbox, workspace, USERS)
    assert change_summary(cli.preview_json()) == {}


def test_an_empty_metadata_file_left_by_a_kill_is_repaired(
    program_dir: Path, sandbox: Sandbox
) -> None:
    """The exact leftovers of a kill inside the blob store's write, on the real CLI.

    ``<stack>.json.attrs`` truncated and never rewritten, and the write's temporary file never
    renamed: the CLI then cannot read the stack, and ``pulumi stack ls`` fails for the project.
    (``<stack>.json.zst.attrs`` when the CLI compresses its checkpoints.)
    """
    namespace = "killed-attrs"
    cli = new_stack(program_dir, sandbox, namespace)
    cli.config_set("bindingsNamespace", namespace)
    apply_bindings(sandbox, namespace, [binding(namespace, "k-0", f"{namespace}-ws", USERS[0])])
    cli.up()
    checkpoint = checkpoint_path(sandbox.backend_dir, "awms-browser-workspaces", namespace)
    checkpoint.with_name(checkpoint.name + ".attrs").write_bytes(b"")
    checkpoint.with_name(f"{checkpoint.name}.{time.time_ns():x}.tmp").write_bytes(b"{")
    broken = cli.run("preview", check=False)
    assert "EOF" in broken.output, broken.output  # the fault is real

    result = run_watch(cli, "up")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "an empty metadata file" in result.stderr + result.stdout
    assert change_summary(cli.preview_json()) == {}
