"""A sharded environment on the real sandbox, driven through the pipeline entry points.

The environment ``shardenv`` has ``shards: 3``; its bindings span workspaces of every shard.
``scripts/watch up`` creates the shard stacks, updates each, and records what each was given;
the next ``up`` touches no shard; a change to one binding updates its shard alone; a binding
moved to a workspace of another shard is revoked in one stack and granted in the other; a
``preview`` of a proposed file prints one access review covering only the shards it touches;
and running the environment's own stack directly is refused before anything is deleted.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from components.naming import deployment_name, guacamole_username
from components.sharding import shard_of
from sandbox.environment import Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.factories import workspaces_by_shard as shards_of_workspaces
from tests.integration.conftest import new_stack, place_by_hand, run_watch, running_sandbox
from tests.integration.test_lifecycle import active_logins, apply, binding, names

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

SHARDS = 3
STACK = "shardenv"


def workspaces_by_shard(each: int) -> dict[int, list[str]]:
    return shards_of_workspaces("shard-ws", SHARDS, each)


WORKSPACES = {shard: names[:2] for shard, names in workspaces_by_shard(3).items()}
SPARE = workspaces_by_shard(3)[1][2]
"""A workspace of shard 1 no binding names yet."""
PLACED = {ws: shard for shard, names in workspaces_by_shard(3).items() for ws in names}
"""The placement map stored before the first run: each workspace in its hash shard."""
BINDINGS = [
    (f"b-{ws}-{user}", ws, f"{user}@x.org")
    for shard in sorted(WORKSPACES)
    for ws in WORKSPACES[shard]
    for user in ("ann", "bob")
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("shards-sandbox")) as box:
        yield box


@pytest.fixture(scope="module")
def env(program_dir: Path, sandbox: Sandbox) -> Iterator[PulumiCli]:
    cli = new_stack(program_dir, sandbox, STACK)
    cli.config_set("shards", str(SHARDS))
    place_by_hand(sandbox, STACK, SHARDS, PLACED)
    apply(sandbox, *(binding(*spec) for spec in BINDINGS))
    yield cli


def shard_cli(env: PulumiCli, index: int) -> PulumiCli:
    return PulumiCli(env.project_dir, f"{STACK}.shard-{index}", env.env)


def logins(sandbox: Sandbox) -> set[str]:
    return active_logins(sandbox, "shard-ws-")


def login_workspaces(state: dict[str, Any]) -> set[str]:
    return {
        r["inputs"]["username"].partition("@")[0]
        for r in state["deployment"]["resources"]
        if r["type"].endswith("guacamole:Connection")
    }


def database_accepts_connections(sandbox: Sandbox, accept: bool) -> None:
    """The Guacamole database refusing every new session, as during a fail-over."""
    with psycopg.connect(sandbox.postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE guacamole WITH ALLOW_CONNECTIONS {str(accept).lower()}")
        if not accept:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'guacamole' AND pid <> pg_backend_pid()"
            )


def check(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == code, output[-4000:]
    return output


def test_up_creates_the_shards_each_holding_its_own_workspaces(env: PulumiCli, sandbox: Sandbox):
    output = check(run_watch(env, "up"))
    assert f"{SHARDS} shard(s), {SHARDS} to update" in output
    expected = {deployment_name(ws, user) for _, ws, user in BINDINGS}
    assert names(sandbox, "deployments") == expected
    assert logins(sandbox) == {guacamole_username(ws, user) for _, ws, user in BINDINGS}
    for index in range(SHARDS):
        state = shard_cli(env, index).export_state()
        assert login_workspaces(state) == set(WORKSPACES[index])
        assert shard_cli(env, index).outputs()["shard"] == {"index": index, "count": SHARDS}
    # Only shard 0 declares the environment-wide Firefox policy.
    config_maps = [
        index
        for index in range(SHARDS)
        if any(
            r["type"] == "kubernetes:core/v1:ConfigMap"
            for r in shard_cli(env, index).export_state()["deployment"]["resources"]
        )
    ]
    assert config_maps == [0]


def test_each_shard_previews_clean_and_the_next_up_touches_none(env: PulumiCli):
    for index in range(SHARDS):
        assert change_summary(shard_cli(env, index).preview_json()) == {}
    output = check(run_watch(env, "up"))
    assert f"{SHARDS} shard(s), 0 to update" in output


def test_compressed_checkpoints_are_read_like_plain_ones(env: PulumiCli, sandbox: Sandbox):
    """With ``PULUMI_DIY_BACKEND_ZSTD`` the CLI writes ``<stack>.json.zst``; the runner still
    finds every shard's digest there (no shard runs again) and so does the CLI without it."""
    zstd = PulumiCli(env.project_dir, env.stack, {**env.env, "PULUMI_DIY_BACKEND_ZSTD": "true"})
    check(run_watch(zstd, "up", "--all-shards"))
    stacks = sandbox.backend_dir / ".pulumi" / "stacks" / "awms-browser-workspaces"
    for index in range(SHARDS):
        assert (stacks / f"{STACK}.shard-{index}.json.zst").is_file()
        assert not (stacks / f"{STACK}.shard-{index}.json").exists()
    assert f"{SHARDS} shard(s), 0 to update" in check(run_watch(zstd, "up"))
    assert f"{SHARDS} shard(s), 0 to update" in check(run_watch(env, "up"))
    assert change_summary(shard_cli(env, 1).preview_json()) == {}
    # Without the variable, the next write of each stack turns it back into plain JSON.
    check(run_watch(env, "up", "--all-shards"))
    for index in range(SHARDS):
        assert (stacks / f"{STACK}.shard-{index}.json").is_file()
        assert not (stacks / f"{STACK}.shard-{index}.json.zst").exists()
    assert f"{SHARDS} shard(s), 0 to update" in check(run_watch(env, "up"))


def test_the_environment_stack_itself_is_refused_before_anything_is_deleted(
    env: PulumiCli, sandbox: Sandbox
):
    before = names(sandbox, "deployments")
    result = env.run("up", "--yes", "--skip-preview", check=False)
    assert "shard-0 ... " in result.output and "scripts/watch up --stack shardenv" in result.output
    assert names(sandbox, "deployments") == before


def test_one_removed_binding_updates_its_shard_alone(env: PulumiCli, sandbox: Sandbox):
    name, workspace, user = BINDINGS[-1]
    index = shard_of(workspace, SHARDS)
    sandbox.kubectl("delete", "awsb", name, "-n", "jupyterhub")
    output = check(run_watch(env, "up"))
    assert f"{SHARDS} shard(s), 1 to update" in output
    assert f"{STACK}.shard-{index}: updated" in output
    assert guacamole_username(workspace, user) not in logins(sandbox)
    assert deployment_name(workspace, user) not in names(sandbox, "deployments")


def test_a_shard_whose_run_failed_runs_again_next_time(env: PulumiCli, sandbox: Sandbox):
    workspace = WORKSPACES[2][1]
    apply(sandbox, binding("late-carl", workspace, "carl@x.org"))
    database_accepts_connections(sandbox, False)
    try:
        failed = run_watch(env, "up", "--attempts", "1")
    finally:
        database_accepts_connections(sandbox, True)
    output = check(failed, 1)
    assert f"{STACK}.shard-2: FAILED" in output and "up failed for 1 shard(s)" in output
    output = check(run_watch(env, "up"))
    assert f"{SHARDS} shard(s), 1 to update" in output
    assert guacamole_username(workspace, "carl@x.org") in logins(sandbox)


def test_a_binding_moved_to_another_shards_workspace_is_revoked_there_and_granted_here(
    env: PulumiCli, sandbox: Sandbox, tmp_path: Path
):
    name, workspace, user = BINDINGS[0]
    target = SPARE
    assert shard_of(workspace, SHARDS) == 0 and shard_of(target, SHARDS) == 1
    current = json.loads(sandbox.kubectl("get", "awsb", "-n", "jupyterhub", "-o", "json"))
    proposed = []
    for item in current["items"]:
        manifest = {k: item[k] for k in ("apiVersion", "kind", "spec")}
        manifest["metadata"] = {k: item["metadata"][k] for k in ("name", "namespace")}
        if item["metadata"]["name"] == name:
            manifest["spec"] = {**manifest["spec"], "workspace": target}
        proposed.append(manifest)
    file = tmp_path / "bindings.yaml"
    file.write_text(yaml.safe_dump_all(proposed), encoding="utf-8")

    review = check(run_watch(env, "preview", "--bindings-file", str(file)))
    assert f"{SHARDS} shard(s), 2 touched" in review
    assert "Access review of stack shardenv: 1 granted, 1 revoked" in review, review
    assert f"granted  {user}  workspace {target}" in review
    assert f"revoked  {user}  workspace {workspace}" in review

    apply(sandbox, binding(name, target, user))
    output = check(run_watch(env, "up"))
    assert f"{SHARDS} shard(s), 2 to update" in output
    assert guacamole_username(workspace, user) not in logins(sandbox)
    assert guacamole_username(target, user) in logins(sandbox)
    assert login_workspaces(shard_cli(env, 1).export_state()) >= {target}


def test_kept_history_is_bounded_per_shard_and_the_state_untouched(
    env: PulumiCli, sandbox: Sandbox
):
    """``--keep-history 2`` leaves each shard's newest two updates in the backend's history and
    backups; the checkpoints themselves (and the next run's view of them) are unchanged."""
    pulumi = sandbox.backend_dir / ".pulumi"
    project = "awms-browser-workspaces"

    def updates(kind: str, index: int) -> set[str]:
        directory = pulumi / kind / project / f"{STACK}.shard-{index}"
        stamps = set()
        for path in directory.iterdir():
            if not path.name.endswith(".attrs"):
                stamps.add(path.name.removeprefix(f"{STACK}.shard-{index}")[1:].split(".")[0])
        return stamps

    assert all(len(updates("history", i)) > 2 for i in range(SHARDS))
    check(run_watch(env, "up", "--all-shards", "--keep-history", "2"))
    for index in range(SHARDS):
        assert len(updates("history", index)) == 2, index
        assert len(updates("backups", index)) <= 2, index
        assert shard_cli(env, index).outputs()["shard"] == {"index": index, "count": SHARDS}
    assert f"{SHARDS} shard(s), 0 to update" in check(run_watch(env, "up", "--keep-history", "2"))
    # The CLI's own view of the history is the kept part, whole.
    assert len(json.loads(shard_cli(env, 0).run("stack", "history", "--json").stdout)) == 2
