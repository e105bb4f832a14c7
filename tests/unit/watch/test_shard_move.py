"""The shard-move command's order of work, against an in-memory stand-in for the CLI.

The stand-in moves resources between in-memory states the way ``pulumi state move`` does
(children named explicitly, the root Stack created in an empty destination, providers copied),
so a move can be stopped after any number of batches and completed by running it again.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pulumi.automation import CommandError, CommandResult

from components.placement import Placement
from components.sharding import shard_stack_name
from components.watch.overrides import Project
from components.watch.run_configs import CommonConfig, ShardMoveConfig
from components.watch.shard_move import Mover, move
from components.watch.shard_plan import plan
from components.watch.shards import Environment, require_settled, shards_setting
from tests.factories import manifest
from tests.placement_fakes import MemoryPlacementStore
from tests.unit.watch.test_shard_plan import WORKSPACES, environment_state

PROJECT = "awms-browser-workspaces"


class StoppedError(RuntimeError):
    """The stand-in for a move killed between two batches."""


class FakeCli:
    def __init__(self, project: Project, states: dict[str, list[dict[str, Any]]]) -> None:
        self.project = project
        self.states = states
        self.calls: list[list[str]] = []
        self.moves_left: int | None = None
        self.fail = False

    def run(self, args: list[str], cwd: str, env: Any, *_: Any) -> Any:
        self.calls.append(list(args))
        return SimpleNamespace(stdout=self.answer(list(args)))

    def answer(self, args: list[str]) -> str:
        if args[:2] == ["stack", "ls"]:
            return json.dumps(
                [{"name": s, "resourceCount": len(r)} for s, r in self.states.items()]
            )
        if args[:1] == ["whoami"]:
            return json.dumps({"url": "https://api.example"})
        if args[:2] == ["stack", "export"]:
            return json.dumps({"deployment": {"resources": self.states[args[3]]}})
        if args[:2] == ["stack", "init"]:
            self.states.setdefault(args[2], [])
        elif args[:2] == ["stack", "rm"]:
            assert len(self.states[args[2]]) <= 1, "stack rm refuses a stack holding resources"
            del self.states[args[2]]
        elif args[:2] == ["state", "move"]:
            self.state_move(args[3], args[5], args[7:])
        elif args[:2] == ["state", "delete"]:
            stack = args[3]
            urns = set(args[5:]) if "--all" not in args else {r["urn"] for r in self.states[stack]}
            self.states[stack] = [r for r in self.states[stack] if r["urn"] not in urns]
        elif args[:2] == ["config", "set"]:
            path = self.project.stack_file(args[5])
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            data["config"][f"{PROJECT}:{args[2]}"] = args[3]
            path.write_text(yaml.safe_dump(data), encoding="utf-8")
        elif args[:1] == ["config"]:
            return json.dumps(
                {
                    f"{PROJECT}:bindingsSource": {"value": "file"},
                    f"{PROJECT}:bindingsFile": {"value": "bindings.yaml"},
                }
            )
        return ""

    def state_move(self, source: str, dest: str, urns: list[str]) -> None:
        if self.moves_left is not None:
            if self.moves_left == 0:
                if self.fail:
                    raise CommandError(CommandResult("", "error: the backend is unreachable", 255))
                raise StoppedError("killed")
            self.moves_left -= 1
        moving = [r for r in self.states[source] if r["urn"] in set(urns)]
        assert len(moving) == len(urns), "every URN named exists in the source"
        target = self.states.setdefault(dest, [])
        if not any(r["type"] == "pulumi:pulumi:Stack" for r in target):
            root = f"urn:pulumi:{dest}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{dest}"
            target.insert(0, {"urn": root, "type": "pulumi:pulumi:Stack"})
        present = {r["urn"] for r in target}
        for resource in moving:
            moved = rename(copy.deepcopy(resource), dest)
            assert moved["urn"] not in present, f"{moved['urn']} already exists in {dest}"
            target.append(moved)
        self.states[source] = [r for r in self.states[source] if r["urn"] not in set(urns)]


def rename(resource: dict[str, Any], stack: str) -> dict[str, Any]:
    def one(urn: str) -> str:
        _, rest = urn.split("::", 1)
        return f"urn:pulumi:{stack}::{rest}"

    resource["urn"] = one(resource["urn"])
    if resource.get("parent"):
        resource["parent"] = one(resource["parent"])
    resource["propertyDependencies"] = {
        k: [one(u) for u in v] for k, v in (resource.get("propertyDependencies") or {}).items()
    }
    return resource


class FakeMover(Mover):
    def __init__(self, project: Project, cli: FakeCli) -> None:
        super().__init__(project, "prod", {}, cli)  # type: ignore[arg-type]

    def placement_store(self) -> MemoryPlacementStore:
        return STORES.setdefault(id(self.command), MemoryPlacementStore())


STORES: dict[int, MemoryPlacementStore] = {}
"""One placement map per fake backend (a test's FakeCli), as one ConfigMap per environment."""


def setup(tmp_path: Path, shards: int) -> tuple[Project, FakeCli]:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(
        f"name: {PROJECT}\nruntime: python\nstackConfigDir: stacks\n", encoding="utf-8"
    )
    config = {f"{PROJECT}:shards": shards}
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(
        yaml.safe_dump({"encryptionsalt": "v1:salt", "config": config}), encoding="utf-8"
    )
    bindings = [
        manifest(f"b-{ws}-ann", "jupyterhub", workspace=ws, username="ann") for ws in WORKSPACES
    ]
    (tmp_path / "bindings.yaml").write_text(yaml.safe_dump_all(bindings), encoding="utf-8")
    project = Project.load(tmp_path)
    states = {"prod": environment_state("prod", WORKSPACES)["resources"]}
    return project, FakeCli(project, states)


def config(tmp_path: Path, shards: int | None, batch: int = 5) -> ShardMoveConfig:
    return ShardMoveConfig(CommonConfig(tmp_path, "prod", "INFO", "text", 0.0), shards, batch)


def settled(project: Project, cli: FakeCli) -> int:
    """The shard count the states agree with (asserting nothing is misplaced)."""
    shards = shards_setting(project, "prod")
    deployments = {s: {"resources": r} for s, r in cli.states.items()}
    placement = STORES[id(cli)].placement if shards > 1 else None
    assert plan("prod", deployments, shards, placement=placement).misplaced() == []
    require_settled(Environment(project, "prod", shards), json.loads(cli.answer(["stack", "ls"])))
    return shards


def per_shard_index(placed: Placement, workspace: str) -> int:
    index = placed.shard_of(workspace)
    assert index is not None, workspace
    return index


def test_one_stack_into_three_then_back_moves_everything_and_then_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    project, cli = setup(tmp_path, 1)
    assert move(config(tmp_path, 3), FakeMover(project, cli)) == 0
    assert settled(project, cli) == 3
    assert [r["type"] for r in cli.states["prod"]] == []  # bookkeeping dropped, not moved
    placed = STORES[id(cli)].placement
    # One binding each: the map spreads them evenly, whatever their names hash to.
    per_shard = Counter(placed.shard_of(ws) for ws in WORKSPACES)
    assert max(per_shard.values()) - min(per_shard.values()) <= 1 and len(per_shard) == 3
    for ws in WORKSPACES:
        shard = shard_stack_name("prod", per_shard_index(placed, ws))
        assert any(r["urn"].endswith(f"::group-{ws}") for r in cli.states[shard])
    out = capsys.readouterr().out
    assert "prod.shard-0: " in out and "environment prod: " in out
    assert move(config(tmp_path, None), FakeMover(project, cli)) == 0
    assert "nothing to move" in capsys.readouterr().out
    assert move(config(tmp_path, 1), FakeMover(project, cli)) == 0
    assert settled(project, cli) == 1 and set(cli.states) == {"prod"}


@pytest.mark.parametrize(
    ("start", "to", "stop_after"), [(1, 3, 2), (3, 1, 1), (3, 2, 1), (5, 2, 3)]
)
def test_a_move_stopped_after_any_batch_is_refused_until_a_rerun_completes_it(
    tmp_path: Path, start: int, to: int, stop_after: int
):
    project, cli = setup(tmp_path, 1)
    if start > 1:
        assert move(config(tmp_path, start), FakeMover(project, cli)) == 0
    cli.moves_left = stop_after
    with pytest.raises(StoppedError):
        move(config(tmp_path, to, batch=3), FakeMover(project, cli))
    setting = shards_setting(project, "prod")
    listing = json.loads(cli.answer(["stack", "ls"]))
    with pytest.raises(ValueError, match="scripts/watch shard-move --stack prod"):
        require_settled(Environment(project, "prod", setting), listing)
    cli.moves_left = None
    assert move(config(tmp_path, to), FakeMover(project, cli)) == 0
    assert settled(project, cli) == to


def test_a_stack_locked_by_a_live_writer_stops_the_move_before_anything_moves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    project, cli = setup(tmp_path, 1)
    backend = tmp_path / "backend"
    locks = backend / ".pulumi" / "locks" / "organization" / PROJECT / "prod"
    locks.mkdir(parents=True)
    lock = {
        "pid": 4242,
        "username": "ci",
        "hostname": "runner-7",
        "timestamp": "2026-01-01T00:00:00Z",
    }
    (locks / "a.json").write_text(json.dumps(lock), encoding="utf-8")
    answer = cli.answer

    def with_file_backend(args: list[str]) -> str:
        if args[:1] == ["whoami"]:
            return json.dumps({"url": f"file://{backend}"})
        return answer(args)

    cli.answer = with_file_backend  # type: ignore[method-assign]
    assert move(config(tmp_path, 3), FakeMover(project, cli)) == 2
    assert "locked by another pulumi process" in capsys.readouterr().err
    assert not any(c[:2] == ["state", "move"] for c in cli.calls)
    assert set(cli.states) == {"prod"}


def test_a_failed_batch_exits_1_saying_to_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    project, cli = setup(tmp_path, 1)
    cli.moves_left, cli.fail = 1, True
    assert move(config(tmp_path, 2), FakeMover(project, cli)) == 1
    err = capsys.readouterr().err
    assert "the backend is unreachable" in err and "shard-move --stack prod" in err
    assert re.search(r"stopped after [1-9][0-9]* resource\(s\) moved", err), err
    cli.moves_left = None
    assert move(config(tmp_path, 2), FakeMover(project, cli)) == 0
    assert settled(project, cli) == 2


def test_a_shard_stack_or_a_missing_environment_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    project, cli = setup(tmp_path, 1)
    shard = Mover(project, "prod.shard-1", {}, cli)  # type: ignore[arg-type]
    assert move(config(tmp_path, 3), shard) == 2
    assert "prod.shard-1 is a shard stack" in capsys.readouterr().err
    del cli.states["prod"]
    assert move(config(tmp_path, 3), FakeMover(project, cli)) == 2
    assert "stack prod does not exist" in capsys.readouterr().err
    assert not any(c[:1] == ["state"] for c in cli.calls)
