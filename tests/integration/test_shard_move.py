"""Moving a live environment between one stack and shard stacks, on the real sandbox.

The environment ``moveenv`` starts as one stack. ``scripts/watch shard-move --shards 3`` moves
its state into three shard stacks: every Deployment and Service keeps its ``metadata.uid``, every
Guacamole row its id, each shard's preview changes no object or row (only the per-stack take-over
and revocation, which each stack's first run creates, are new), and the next ``up`` changes
nothing. A move stopped halfway (resources moved by hand with ``pulumi state move``) makes
``up`` refuse with exit 2, and ``shard-move`` completes it; the same holds on the way back to one
stack, whose shard stacks are then removed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.sharding import shard_of
from components.watch.shard_plan import is_bookkeeping, plan
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.conftest import new_stack, run_watch, running_sandbox
from tests.integration.test_lifecycle import apply, binding, get_json, query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

STACK = "moveenv"
SHARDS = 3
PER_STACK = ("FieldOwnerTakeover", "AccessRevocation")
"""What every stack declares for itself and creates on its first run (its delete is a no-op)."""


def spread(count: int) -> list[str]:
    """``count`` workspace names covering every one of ``SHARDS`` shards."""
    names = [f"move-ws-{i}" for i in range(64)]
    chosen = [next(n for n in names if shard_of(n, SHARDS) == i) for i in range(SHARDS)]
    chosen += [n for n in names if n not in chosen][: count - SHARDS]
    return chosen


WORKSPACES = spread(5)
YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
BINDINGS = [
    *[(f"m-{ws}-ann", ws, "ann@x.org", {}) for ws in WORKSPACES],
    *[(f"m-{ws}-bob", ws, "bob@x.org", {}) for ws in WORKSPACES[:3]],
    ("m-expired", WORKSPACES[1], "old@x.org", {"expires": YESTERDAY}),
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("move-sandbox")) as box:
        yield box


@pytest.fixture(scope="module")
def env(program_dir: Path, sandbox: Sandbox) -> Iterator[PulumiCli]:
    cli = new_stack(program_dir, sandbox, STACK)
    apply(sandbox, *(binding(n, ws, user, **spec) for n, ws, user, spec in BINDINGS))
    check(run_watch(cli, "up"), 0, 4)
    yield cli


def check(result: subprocess.CompletedProcess[str], *codes: int) -> str:
    output = result.stdout + result.stderr
    assert result.returncode in (codes or (0,)), output[-4000:]
    return output


def identities(sandbox: Sandbox) -> dict[str, Any]:
    """The uid of every Deployment and Service, and the id of every Guacamole row."""
    found: dict[str, Any] = {}
    for kind in ("deployments", "services", "secrets"):
        for item in get_json(sandbox, kind, "-n", BROWSER_NAMESPACE)["items"]:
            found[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["uid"]
    rows = {
        "connection": "SELECT connection_id, connection_name, parent_id FROM guacamole_connection",
        "entity": "SELECT entity_id, name, type FROM guacamole_entity",
        "group": "SELECT connection_group_id, connection_group_name FROM "
        "guacamole_connection_group",
    }
    for table, sql in rows.items():
        found[table] = sorted(query(sandbox, sql))
    return found


def shard(env: PulumiCli, index: int) -> PulumiCli:
    return PulumiCli(env.project_dir, f"{STACK}.shard-{index}", env.env)


def stacks(env: PulumiCli) -> set[str]:
    listed = env.run("stack", "ls", "--json", stack=False).stdout
    return {entry["name"] for entry in yaml.safe_load(listed)}


def shards_setting(env: PulumiCli) -> int:
    data = yaml.safe_load((env.project_dir / "stacks" / f"Pulumi.{STACK}.yaml").read_text())
    return int(data["config"].get("awms-browser-workspaces:shards", 1))


def new_steps(cli: PulumiCli) -> list[str]:
    """What a preview of ``cli``'s stack would change, as ``op type``; fails on anything but
    the per-stack resources every stack creates for itself."""
    steps = [
        f"{s['op']} {s['urn'].split('::')[2]}"
        for s in cli.preview_json().get("steps", [])
        if s.get("op") not in ("same", "read") and not s["urn"].split("::")[2].endswith("Stack")
    ]
    assert all(s.startswith("create ") and s.endswith(PER_STACK) for s in steps), steps
    return steps


def managed(cli: PulumiCli) -> int:
    """How many resources of ``cli``'s stack a move carries (all but per-stack bookkeeping)."""
    resources = cli.export_state()["deployment"].get("resources") or []
    return len([r for r in resources if not is_bookkeeping(r)])


def moved_in(output: str) -> dict[str, int]:
    """``stack: N resource(s) moved in`` lines of a shard-move."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\S+): (\d+) resource\(s\) moved in$",
                                                 output, re.MULTILINE)}  # fmt: skip


def refused(env: PulumiCli, tmp_path: Path) -> str:
    """``up`` and ``preview`` both exit 2 naming the command that completes the move."""
    file = tmp_path / "bindings.yaml"
    file.write_text(yaml.safe_dump(binding(*BINDINGS[0][:3])), encoding="utf-8")
    output = check(run_watch(env, "up"), 2)
    review = check(run_watch(env, "preview", "--bindings-file", str(file)), 2)
    for text in (output, review):
        assert f"scripts/watch shard-move --stack {STACK}" in text, text[-2000:]
    return output


def move_by_hand(env: PulumiCli, source: str, dest: str) -> None:
    """Move one workspace's resources as a stopped ``shard-move`` would have left them."""
    states = {source: PulumiCli(env.project_dir, source, env.env).export_state()["deployment"]}
    units = plan(STACK, states, 1 if dest == STACK else SHARDS).units
    chosen = next(u for u in units if u.target == dest and len(u.urns) > 3)
    env.run("state", "move", "--source", source, "--dest", dest, "--yes", *chosen.urns, stack=False)


def test_one_stack_moves_into_three_shards_recreating_nothing(env: PulumiCli, sandbox: Sandbox):
    before = identities(sandbox)
    carried = managed(env)
    output = check(run_watch(env, "shard-move", "--shards", str(SHARDS)))
    counts = moved_in(output)
    assert set(counts) == {f"{STACK}.shard-{i}" for i in range(SHARDS)}, output
    assert sum(counts.values()) == carried and min(counts.values()) > 0
    assert counts == {f"{STACK}.shard-{i}": managed(shard(env, i)) for i in range(SHARDS)}
    assert shards_setting(env) == SHARDS
    assert identities(sandbox) == before
    for index in range(SHARDS):
        assert len(new_steps(shard(env, index))) <= len(PER_STACK)
    own = env.export_state()["deployment"].get("resources") or []
    assert own == [], own
    again = check(run_watch(env, "shard-move"))
    assert "nothing to move" in again
    check(run_watch(env, "up"), 0, 4)
    assert identities(sandbox) == before
    output = check(run_watch(env, "up"), 0, 4)
    assert f"{SHARDS} shard(s), 0 to update" in output
    for index in range(SHARDS):
        assert change_summary(shard(env, index).preview_json()) == {}


def test_a_move_back_stopped_halfway_is_refused_and_completed(
    env: PulumiCli, sandbox: Sandbox, tmp_path: Path
):
    before = identities(sandbox)
    carried = sum(managed(shard(env, i)) for i in range(SHARDS))
    move_by_hand(env, f"{STACK}.shard-1", STACK)
    by_hand = managed(env)
    assert f"stack {STACK} still holds" in refused(env, tmp_path)
    env.config_set("shards", "1")  # the setting changed, the shard stacks not yet emptied
    assert f"stack {STACK}.shard-0 still holds" in refused(env, tmp_path)
    output = check(run_watch(env, "shard-move"))
    assert moved_in(output) == {STACK: carried - by_hand} and "removed" in output
    assert managed(env) == carried
    assert identities(sandbox) == before
    assert {s for s in stacks(env) if s.startswith(f"{STACK}.")} == set()
    assert not list((env.project_dir / "stacks").glob(f"Pulumi.{STACK}.shard-*.yaml"))
    new_steps(env)
    check(run_watch(env, "up"), 0, 4)
    assert identities(sandbox) == before
    assert change_summary(env.preview_json()) == {}


def test_a_move_into_shards_stopped_halfway_is_refused_and_completed(
    env: PulumiCli, sandbox: Sandbox, tmp_path: Path
):
    before = identities(sandbox)
    stack_dir = env.project_dir / "stacks"
    env.config_set("shards", str(SHARDS))
    target = next(i for i in range(1, SHARDS))
    name = f"{STACK}.shard-{target}"
    shutil.copy(stack_dir / f"Pulumi.{STACK}.yaml", stack_dir / f"Pulumi.{name}.yaml")
    env.run("stack", "init", name, stack=False)
    move_by_hand(env, STACK, name)
    assert f"stack {STACK} still holds" in refused(env, tmp_path)
    output = check(run_watch(env, "shard-move"))
    assert "moved in" in output
    assert identities(sandbox) == before
    for index in range(SHARDS):
        new_steps(shard(env, index))
    check(run_watch(env, "up"), 0, 4)
    assert identities(sandbox) == before
