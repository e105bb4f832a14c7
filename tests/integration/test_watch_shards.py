"""The long-running watcher on a sharded environment, on the real sandbox.

The environment ``shardwatch`` has ``shards: 3``, with bindings to workspaces of every shard.
One ``python -m components.watch watch --stack shardwatch`` process runs a worker per shard
stack:

* its start-up runs every shard that never completed a run, and a restart runs none;
* a binding created for a workspace of shard k runs shard k alone: the other shards'
  checkpoints are byte for byte unchanged;
* a login (``spec.replicas`` 0 -> 1) is scaled by the fast path from that shard's state and
  recorded by a targeted run of that shard alone;
* a binding re-pointed to a workspace of another shard is revoked by the old shard (its
  Guacamole login and Deployment go) and granted by the new one;
* SIGTERM while idle stops every worker, exit 0, no lock left;
* ``--stack shardwatch.shard-2`` watches that shard alone.

Waits are bounded by generous deadlines; nothing asserts on durations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.naming import deployment_name, guacamole_username
from components.sharding import shard_of
from components.watch.checkpoints import checkpoint_path
from sandbox.environment import Sandbox
from sandbox.pulumi_cli import PulumiCli
from tests.factories import workspaces_by_shard as shards_of_workspaces
from tests.integration.conftest import (
    new_stack,
    place_by_hand,
    placement_store,
    running_sandbox,
)
from tests.integration.test_lifecycle import active_logins, apply, binding, names, query
from tests.integration.test_watch import Cluster, Watcher, stack_locks, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

SHARDS = 3
STACK = "shardwatch"
PROJECT = "awms-browser-workspaces"


def workspaces_by_shard(each: int) -> dict[int, list[str]]:
    return shards_of_workspaces("watch-ws", SHARDS, each)


WORKSPACES = workspaces_by_shard(2)
INITIAL = [
    (f"sw-{shard}-{user}", WORKSPACES[shard][0], f"{user}@x.org")
    for shard in range(SHARDS)
    for user in ("ann", "bob")
]


def shard_stack(index: int) -> str:
    return f"{STACK}.shard-{index}"


def logins(sandbox: Sandbox) -> set[str]:
    return active_logins(sandbox, "watch-ws-")


def connections(sandbox: Sandbox) -> set[tuple[str, str]]:
    """(workspace group, connection name) of every Guacamole connection."""
    rows = query(
        sandbox,
        "SELECT g.connection_group_name, c.connection_name FROM guacamole_connection c "
        "JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id",
    )
    return {(row[0], row[1]) for row in rows}


def checkpoints(sandbox: Sandbox) -> dict[int, str]:
    """Each shard stack's checkpoint file, hashed: unchanged bytes mean no run wrote it."""
    digests = {}
    for index in range(SHARDS):
        path = checkpoint_path(sandbox.backend_dir, PROJECT, shard_stack(index))
        digests[index] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""
    return digests


class Log:
    """What the watcher logged after a mark."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.start = len(watcher.output())

    def text(self) -> str:
        return self.watcher.output()[self.start :]

    def has(self, text: str) -> bool:
        return text in self.text()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("watch-shards-sandbox")) as box:
        yield box


@pytest.fixture(scope="module")
def env(program_dir: Path, sandbox: Sandbox) -> PulumiCli:
    cli = new_stack(program_dir, sandbox, STACK)
    cli.config_set("shards", str(SHARDS))
    # Each workspace in its hash shard, stored before the first run; "watch-ws-new" is not.
    placed = {ws: shard for shard, names in WORKSPACES.items() for ws in names}
    place_by_hand(sandbox, STACK, SHARDS, placed)
    apply(sandbox, *(binding(*spec) for spec in INITIAL))
    return cli


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> Cluster:
    return Cluster(sandbox.kube.kubeconfig)


@pytest.fixture(scope="module")
def watcher(env: PulumiCli, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watcher]:
    running = Watcher(env, tmp_path_factory.mktemp("watch-shards") / "watch.log")
    running.start("--outputs-settle", "0")
    yield running
    if running.process is not None and running.process.poll() is None:
        running.terminate()


def test_start_up_runs_every_new_shard_and_a_restart_runs_none(
    watcher: Watcher, sandbox: Sandbox
) -> None:
    wait_until(
        "every shard's start-up run",
        lambda: all(watcher.logged(f"[{shard_stack(i)}] up finished in") for i in range(SHARDS)),
        watcher,
    )
    assert watcher.logged(f"{SHARDS} shard stack(s), {SHARDS} changed since their last")
    assert names(sandbox, "deployments") >= {deployment_name(ws, u) for _, ws, u in INITIAL}
    assert logins(sandbox) == {guacamole_username(ws, u) for _, ws, u in INITIAL}

    before = checkpoints(sandbox)
    assert watcher.terminate() == 0, watcher.output()[-4000:]
    assert "stopped" in watcher.output().splitlines()[-1]
    assert not stack_locks(sandbox)
    watcher.start("--outputs-settle", "0")
    wait_until("the restarted watcher", lambda: watcher.logged("watching "), watcher)
    assert watcher.logged(f"{SHARDS} shard stack(s), 0 changed since their last")
    assert not watcher.logged("full up:")
    assert checkpoints(sandbox) == before


def test_a_new_binding_runs_its_shard_alone(
    watcher: Watcher, sandbox: Sandbox, cluster: Cluster
) -> None:
    shard = 2
    workspace, user = WORKSPACES[shard][1], "cid@x.org"
    before = checkpoints(sandbox)
    log = Log(watcher)
    apply(sandbox, binding("sw-new-cid", workspace, user))
    wait_until(
        "the new binding's browser and login",
        lambda: (
            cluster.replicas(deployment_name(workspace, user)) == 0
            and guacamole_username(workspace, user) in logins(sandbox)
            and log.has(f"[{shard_stack(shard)}] up finished in")
        ),
        watcher,
    )
    assert log.has(f"added (full run in {shard_stack(shard)})")
    after = checkpoints(sandbox)
    assert after[shard] != before[shard]
    assert {i: after[i] for i in (0, 1)} == {i: before[i] for i in (0, 1)}
    assert not any(log.has(f"[{shard_stack(i)}] full up") for i in (0, 1))


def test_a_binding_to_a_workspace_never_placed_is_placed_then_granted(
    watcher: Watcher, sandbox: Sandbox
) -> None:
    workspace, user = "watch-ws-fresh", "dee@x.org"
    store = placement_store(sandbox, STACK)
    assert store.read().placement.shard_of(workspace) is None
    before = checkpoints(sandbox)
    log = Log(watcher)
    apply(sandbox, binding("sw-fresh-dee", workspace, user))
    wait_until(
        "the new workspace's login",
        lambda: guacamole_username(workspace, user) in logins(sandbox),
        watcher,
    )
    index = store.read().placement.shard_of(workspace)
    assert index is not None
    assert log.has("placed (1 new)") and log.has(f"added (full run in {shard_stack(index)})")
    wait_until(
        "its shard's run", lambda: log.has(f"[{shard_stack(index)}] up finished in"), watcher
    )
    after = checkpoints(sandbox)
    assert [i for i in range(SHARDS) if after[i] != before[i]] == [index]


def test_a_login_is_scaled_through_its_shard(
    watcher: Watcher, sandbox: Sandbox, cluster: Cluster
) -> None:
    name, workspace, user = INITIAL[2]  # shard 1
    assert shard_of(workspace, SHARDS) == 1
    deployment = deployment_name(workspace, user)
    before = checkpoints(sandbox)
    log = Log(watcher)
    cluster.patch_replicas(name, 1)
    wait_until("the Deployment to scale to 1", lambda: cluster.replicas(deployment) == 1, watcher)
    wait_until(
        "the targeted run of shard 1",
        lambda: log.has(f"[{shard_stack(1)}] targeted up finished in"),
        watcher,
    )
    assert log.has(f"fast path: binding jupyterhub/{name}: Deployment guacamole/{deployment}")
    wait_until(
        "status.replicas to follow",
        lambda: cluster.binding_status(name).get("replicas") == 1,
        watcher,
    )
    after = checkpoints(sandbox)
    assert after[1] != before[1]
    assert {i: after[i] for i in (0, 2)} == {i: before[i] for i in (0, 2)}
    others = [deployment_name(ws, u) for n, ws, u in INITIAL if n != name]
    assert all(cluster.replicas(d) == 0 for d in others)


def test_a_repointed_binding_is_revoked_in_the_old_shard_and_granted_in_the_new(
    watcher: Watcher, sandbox: Sandbox, cluster: Cluster
) -> None:
    name, old, user = INITIAL[0]  # shard 0
    new = WORKSPACES[1][1]
    assert shard_of(old, SHARDS) == 0 and shard_of(new, SHARDS) == 1
    before = checkpoints(sandbox)
    log = Log(watcher)
    apply(sandbox, binding(name, new, user))
    wait_until(
        "the login to move from the old workspace to the new one",
        lambda: (
            guacamole_username(old, user) not in logins(sandbox)
            and guacamole_username(new, user) in logins(sandbox)
            and cluster.replicas(deployment_name(old, user)) is None
            and cluster.replicas(deployment_name(new, user)) == 0
            and log.has(f"[{shard_stack(0)}] up finished in")
            and log.has(f"[{shard_stack(1)}] up finished in")
        ),
        watcher,
    )
    assert log.has(f"full run in {shard_stack(0)}, {shard_stack(1)})")
    assert (old, user) not in connections(sandbox)
    assert (new, user) in connections(sandbox)
    assert checkpoints(sandbox)[2] == before[2]


def test_sigterm_when_idle_stops_every_shard_cleanly(watcher: Watcher, sandbox: Sandbox) -> None:
    assert watcher.terminate() == 0, watcher.output()[-4000:]
    assert "stopped" in watcher.output().splitlines()[-1]
    assert "an update was still running" not in watcher.output()
    assert not stack_locks(sandbox)


def test_one_shard_stack_alone_watches_only_its_own_bindings(
    env: PulumiCli, sandbox: Sandbox, cluster: Cluster, tmp_path: Path
) -> None:
    alone = Watcher(PulumiCli(env.project_dir, shard_stack(2), env.env), tmp_path / "alone.log")
    alone.start("--outputs-settle", "0")
    try:
        wait_until("the shard watcher", lambda: alone.logged("watching "), alone)
        assert alone.logged("1 shard stack(s), 0 changed since their last")
        mine, theirs = WORKSPACES[2][0], WORKSPACES[0][1]
        log = Log(alone)
        apply(
            sandbox,
            binding("sw-alone-dan", mine, "dan@x.org"),
            binding("sw-alone-eve", theirs, "eve@x.org"),
        )
        wait_until(
            "shard 2's new browser",
            lambda: (
                cluster.replicas(deployment_name(mine, "dan@x.org")) == 0
                and log.has("up finished in")
            ),
            alone,
        )
        assert "sw-alone-eve" not in log.text()  # another shard's binding is not this one's
        assert cluster.replicas(deployment_name(theirs, "eve@x.org")) is None
        assert alone.terminate() == 0, alone.output()[-4000:]
    finally:
        if alone.process is not None and alone.process.poll() is None:
            alone.terminate()
