"""Fixtures for end-to-end tests: a real sandbox, a private copy of the program, a stack.

The sandbox (PostgreSQL + kube-apiserver/etcd/controller-manager) is started once per test
session. The program runs from a temporary copy of the project so tests can edit code (e.g. to
prove a comment-only change previews as no change) without touching the checkout, and so two
test runs never share a stack file.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from components.kube_client import new_api_client
from components.placement_store import PlacementStore
from sandbox.environment import Sandbox, tools_bin
from sandbox.program_copy import copy_program
from sandbox.pulumi_cli import PulumiCli


@pytest.fixture(scope="session")
def toolchain_bin() -> Path:
    """The built toolchain; a missing one fails the run with the command that builds it."""
    try:
        return tools_bin()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@contextmanager
def running_sandbox(workdir: Path) -> Iterator[Sandbox]:
    """A started sandbox in ``workdir``, purged afterwards."""
    box = Sandbox.create(workdir)
    box.up()
    try:
        yield box
    finally:
        box.purge()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("sandbox")) as box:
        yield box


@pytest.fixture(scope="session")
def program_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_program(tmp_path_factory.mktemp("program") / "awms-browser-workspaces")


def new_stack(program: Path, sandbox: Sandbox, name: str) -> PulumiCli:
    """A fresh stack on the sandbox's file backend, configured the way production is."""
    env = sandbox.env()
    env["PULUMI_CONFIG_PASSPHRASE"] = secrets.token_urlsafe(16)
    # The database URL reaches the providers only through (secret) stack config here.
    env.pop("AWMS_GUACAMOLE_DATABASE_URL", None)
    cli = PulumiCli(program, name, env)
    cli.init_stack()
    cli.config_set("bindingsSource", "cluster")
    cli.config_set("namespace", "guacamole")
    cli.config_set("kubeconfig", str(sandbox.kube.kubeconfig))
    cli.config_set("guacamoleDatabaseUrl", sandbox.database_url, secret=True)
    return cli


def run_watch(
    cli: PulumiCli, *args: str, timeout: float = 900.0
) -> subprocess.CompletedProcess[str]:
    """``python -m components.watch`` against ``cli``'s stack, as a pipeline job runs it."""
    return subprocess.run(
        [sys.executable, "-m", "components.watch", *args, "--stack", cli.stack,
         "--project-dir", str(cli.project_dir)],
        cwd=cli.project_dir, env=dict(cli.env), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def placement_store(sandbox: Sandbox, environment: str) -> PlacementStore:
    """The placement map of ``environment`` in the sandbox (the stacks' namespace)."""
    return PlacementStore(
        lambda: new_api_client(str(sandbox.kube.kubeconfig)), "guacamole", environment
    )


def place_by_hand(sandbox: Sandbox, environment: str, shards: int, entries: dict[str, int]) -> None:
    """Store a placement map as a runner would have: the tests say which workspace lives in
    which shard, so they can name a shard's workspaces before the first run."""
    store = placement_store(sandbox, environment)
    store.update(lambda stored: stored.placement.with_entries(entries), shards)
