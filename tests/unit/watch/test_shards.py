"""An environment's stacks and which of them a run touches (no CLI, no cluster)."""

from __future__ import annotations

import json
import os
import threading
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from components.shard_digest import binding_view, input_digest
from components.sharding import ShardScope, shard_of
from components.watch.checkpoints import checkpoint_digest, checkpoint_path, read_deployment
from components.watch.overrides import Project
from components.watch.shards import (
    create_stacks,
    expected_digests,
    largest_first,
    list_stacks,
    load_environment,
    merged_state,
    prepare_shard_stacks,
    recorded_digest,
    require_settled,
    stack_outputs,
    touched,
)
from tests.factories import manifest

TODAY = date(2025, 6, 1)


def project(tmp_path: Path, shards: Any = None) -> Project:
    (tmp_path / "stacks").mkdir()
    config: dict[str, Any] = {"awms-browser-workspaces:namespace": "guacamole"}
    if shards is not None:
        config["awms-browser-workspaces:shards"] = shards
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(
        yaml.safe_dump({"encryptionsalt": "v1:salt", "config": config}), encoding="utf-8"
    )
    return Project(tmp_path, "awms-browser-workspaces", tmp_path / "stacks")


def workspace_in(shard: int, count: int) -> str:
    return next(f"ws-{i}" for i in range(1000) if shard_of(f"ws-{i}", count) == shard)


def test_an_unsharded_environment_is_its_own_stack(tmp_path: Path):
    environment = load_environment(project(tmp_path), "prod")
    assert environment.stacks() == ["prod"] and not environment.sharded
    assert environment.stack_of("anything") == "prod"


def test_a_sharded_environment_lists_its_shards_and_places_workspaces(tmp_path: Path):
    environment = load_environment(project(tmp_path, "3"), "prod")
    assert environment.stacks() == ["prod.shard-0", "prod.shard-1", "prod.shard-2"]
    assert environment.stack_of(workspace_in(2, 3)) == "prod.shard-2"
    assert environment.stack_of(None) == "prod.shard-0"
    assert environment.scope("prod.shard-1") == ShardScope(1, 3)


def test_a_shard_named_alone_runs_alone_and_a_wrong_one_is_refused(tmp_path: Path):
    box = project(tmp_path, 3)
    assert load_environment(box, "prod.shard-1").stacks() == ["prod.shard-1"]
    with pytest.raises(ValueError, match="has only 3 shards"):
        load_environment(box, "prod.shard-3")


def test_a_bad_shards_setting_names_the_file_and_the_key(tmp_path: Path):
    with pytest.raises(ValueError, match=r"Pulumi\.prod\.yaml: shards"):
        load_environment(project(tmp_path, "many"), "prod")


class FakeCommand:
    def __init__(self, existing: list[str]) -> None:
        self.existing = existing
        self.calls: list[list[str]] = []

    def run(self, args: list[str], cwd: str, env: Any, *_: Any) -> Any:
        self.calls.append(args)
        stdout = (
            json.dumps([{"name": n} for n in self.existing]) if args[:2] == ["stack", "ls"] else ""
        )
        return SimpleNamespace(stdout=stdout)


def test_shard_stack_files_copy_the_environments_and_missing_stacks_are_created(tmp_path: Path):
    box = project(tmp_path, 2)
    environment = load_environment(box, "prod")
    command = FakeCommand(["prod", "prod.shard-0"])
    prepare_shard_stacks(environment, command, {})  # type: ignore[arg-type]
    source = (tmp_path / "stacks" / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    for index in range(2):
        copy = (tmp_path / "stacks" / f"Pulumi.prod.shard-{index}.yaml").read_text(encoding="utf-8")
        assert copy.endswith(source) and copy.startswith("# Written from Pulumi.prod.yaml")
        assert yaml.safe_load(copy)["encryptionsalt"] == "v1:salt"
    assert [c for c in command.calls if c[:2] == ["stack", "init"]] == [
        ["stack", "init", "prod.shard-1"]
    ]


def test_the_digest_ignores_status_and_bookkeeping_but_not_the_spec():
    scope = ShardScope()
    base = manifest("a")
    same = {**base, "status": {"statusText": "READY"}}
    same["metadata"] = {**base["metadata"], "resourceVersion": "42", "managedFields": [{}]}
    changed = manifest("a", replicas=1)
    assert binding_view(same) == binding_view(base)
    digest = input_digest("ctx", scope, [base], [])
    assert input_digest("ctx", scope, [same], []) == digest
    assert input_digest("ctx", scope, [changed], []) != digest
    assert input_digest("other", scope, [base], []) != digest
    assert input_digest("ctx", scope, [base], ["jupyterhub/a"]) != digest


def test_only_the_shard_a_change_falls_in_is_touched(tmp_path: Path):
    environment = load_environment(project(tmp_path, 3), "prod")
    ws1, ws2 = workspace_in(1, 3), workspace_in(2, 3)
    before = [manifest("a", workspace=ws1), manifest("b", workspace=ws2)]
    after = [manifest("a", workspace=ws1), manifest("b", workspace=ws2, replicas=1)]
    recorded: dict[str, str | None] = dict(expected_digests(environment, "c", before, TODAY))
    assert touched(expected_digests(environment, "c", before, TODAY), recorded) == []
    assert touched(expected_digests(environment, "c", after, TODAY), recorded) == ["prod.shard-2"]
    moved = [manifest("a", workspace=ws2), manifest("b", workspace=ws2)]
    assert touched(expected_digests(environment, "c", moved, TODAY), recorded) == [
        "prod.shard-1",
        "prod.shard-2",
    ]
    recorded["prod.shard-0"] = None  # its last run failed or never completed
    assert touched(expected_digests(environment, "c", before, TODAY), recorded) == ["prod.shard-0"]


def test_an_expiry_touches_its_shard_on_the_day_it_happens(tmp_path: Path):
    environment = load_environment(project(tmp_path, 3), "prod")
    bindings = [manifest("a", workspace=workspace_in(1, 3), expires="2025-06-01")]
    day_before = expected_digests(environment, "c", bindings, date(2025, 6, 1))
    day_after = expected_digests(environment, "c", bindings, date(2025, 6, 2))
    assert touched(day_after, dict(day_before)) == ["prod.shard-1"]


def test_checkpoints_are_read_from_a_file_backend(tmp_path: Path):
    box = project(tmp_path)
    path = checkpoint_path(tmp_path / "backend", box.name, "prod.shard-0")
    path.parent.mkdir(parents=True)
    digest = "ab" * 32
    stack = {"type": "pulumi:pulumi:Stack", "urn": "s", "outputs": {"inputDigest": digest}}
    other = {"type": "awms:index:BrowserWorkspace", "urn": "w"}
    path.write_text(json.dumps({"checkpoint": {"latest": {"resources": [stack, other]}}}))
    deployment = read_deployment(tmp_path / "backend", box, "prod.shard-0")
    assert recorded_digest(stack_outputs(deployment)) == digest
    assert checkpoint_digest(tmp_path / "backend", box, "prod.shard-0") == digest
    assert read_deployment(tmp_path / "backend", box, "prod.shard-9") == {}
    assert checkpoint_digest(tmp_path / "backend", box, "prod.shard-9") is None
    merged = merged_state([deployment, {"resources": [{"urn": "x"}]}])
    assert [r["urn"] for r in merged["deployment"]["resources"]] == ["s", "w", "x"]


def test_shards_are_refused_while_the_environments_own_stack_still_holds_resources(
    tmp_path: Path,
):
    environment = load_environment(project(tmp_path, 2), "prod")
    command = FakeCommand([])
    command.existing = []
    listing: list[dict[str, Any]] = [
        {"name": "prod", "resourceCount": 120},
        {"name": "prod.shard-0"},
    ]
    command.run = lambda args, *_: SimpleNamespace(stdout=json.dumps(listing))  # type: ignore[method-assign]
    with pytest.raises(ValueError, match=r"still holds 120 resources.*shard-move --stack prod"):
        prepare_shard_stacks(environment, command, {})  # type: ignore[arg-type]
    listing[0]["resourceCount"] = 2  # a group and its copied provider, moved alone
    with pytest.raises(ValueError, match=r"still holds 2 resources"):
        prepare_shard_stacks(environment, command, {})  # type: ignore[arg-type]
    listing[0]["resourceCount"] = 1  # the root Stack a move leaves behind
    prepare_shard_stacks(environment, command, {})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shards", "holding", "refused"),
    [
        (3, "prod.shard-3", True),  # a move from more shards not finished
        (3, "prod.shard-2", False),
        (1, "prod.shard-0", True),  # a move back to one stack not finished
        (1, "prod", False),
        (1, "staging.shard-0", False),  # another environment's shard
        (3, "prod.shard-10", True),
    ],
)
def test_runs_are_refused_while_a_stack_without_a_role_holds_resources(
    tmp_path: Path, shards: int, holding: str, refused: bool
):
    environment = load_environment(project(tmp_path, shards), "prod")
    listing = [{"name": "prod.shard-0", "resourceCount": 9}, {"name": holding, "resourceCount": 9}]
    if refused:
        with pytest.raises(ValueError, match=rf"stack {holding} still holds 9 resources.*"
                           r"scripts/watch shard-move --stack prod"):  # fmt: skip
            require_settled(environment, listing)
    else:
        require_settled(environment, listing if shards > 1 else listing[1:])
    listing[-1]["resourceCount"] = 1  # only its root Stack: emptied by a move
    require_settled(environment, listing if shards > 1 else listing[1:])


def test_a_move_prepares_every_shard_stack_while_the_environments_stack_holds_resources(
    tmp_path: Path,
):
    environment = load_environment(project(tmp_path, 3), "prod")
    command = FakeCommand(["prod"])
    calls: list[list[str]] = []

    def run(args: list[str], *_: Any) -> Any:
        calls.append(args)
        return SimpleNamespace(stdout=json.dumps([{"name": "prod", "resourceCount": 50}]))

    command.run = run  # type: ignore[method-assign,assignment]
    with pytest.raises(ValueError, match="still holds 50"):
        prepare_shard_stacks(environment, command, {})  # type: ignore[arg-type]
    prepare_shard_stacks(environment, command, {}, moving=True)  # type: ignore[arg-type]
    created = [c[2] for c in calls if c[:2] == ["stack", "init"]]
    # The first alone (it may create the backend's metadata), the others side by side.
    assert created[0] == "prod.shard-0" and sorted(created) == [
        "prod.shard-0",
        "prod.shard-1",
        "prod.shard-2",
    ]


def write_checkpoint(root: Path, box: Project, stack: str, resources: int) -> Path:
    path = checkpoint_path(root, box.name, stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    listed = [{"type": "x", "urn": f"urn:{i}"} for i in range(resources)]
    path.write_text(json.dumps({"checkpoint": {"latest": {"resources": listed}}}))
    for extra in (".bak", ".attrs", ".bak.attrs"):
        path.with_name(path.name + extra).write_text("{}")
    return path


def test_a_file_backend_lists_its_stacks_without_the_cli(tmp_path: Path):
    box = project(tmp_path, 2)
    environment = load_environment(box, "prod")
    backend = tmp_path / "backend"
    for stack, resources in [("prod", 1), ("prod.shard-0", 500), ("prod.shard-5", 40)]:
        write_checkpoint(backend, box, stack, resources)
    write_checkpoint(backend, box, "staging", 7)
    # A writer killed before its rename leaves its temporary file: not a stack.
    (checkpoint_path(backend, box.name, "staging").parent / "staging.json.17f3a9.tmp").touch()
    command = FakeCommand([])
    entries = list_stacks(environment, command, {}, backend)  # type: ignore[arg-type]
    assert command.calls == []
    by_name = {e["name"]: e.get("resourceCount") for e in entries}
    # Only the stacks the setting gives no role are counted (read); the others are not opened.
    assert by_name == {"prod": 1, "prod.shard-0": None, "prod.shard-5": 40, "staging": None}
    with pytest.raises(ValueError, match=r"stack prod.shard-5 still holds 40 resources"):
        prepare_shard_stacks(environment, command, {}, root=backend)  # type: ignore[arg-type]
    (checkpoint_path(backend, box.name, "prod.shard-5")).unlink()
    prepare_shard_stacks(environment, command, {}, root=backend)  # type: ignore[arg-type]
    assert [c for c in command.calls if c[:2] == ["stack", "init"]] == [
        ["stack", "init", "prod.shard-1"]
    ]
    assert not [c for c in command.calls if c[:2] == ["stack", "ls"]]


@pytest.mark.parametrize("layout", ["a file that is no checkpoint", "no project directory"])
def test_a_backend_it_cannot_read_is_listed_by_the_cli(tmp_path: Path, layout: str):
    box = project(tmp_path, 2)
    environment = load_environment(box, "prod")
    backend = tmp_path / "backend"
    if layout == "a file that is no checkpoint":
        path = write_checkpoint(backend, box, "prod.shard-0", 3)
        path.with_name("prod.shard-0.yaml").write_bytes(b"")
    else:
        (backend / ".pulumi" / "stacks").mkdir(parents=True)
    command = FakeCommand(["prod.shard-0"])
    entries = list_stacks(environment, command, {}, backend)  # type: ignore[arg-type]
    assert command.calls == [["stack", "ls", "--json"]]
    assert [e["name"] for e in entries] == ["prod.shard-0"]


class GatedCommand:
    """Records ``stack init`` calls; each call after the first waits until another one is
    running too, so creations made one after the other time out instead of passing."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.running = 0
        self.overlapped = threading.Event()

    def run(self, args: list[str], cwd: str, env: Any, *_: Any) -> Any:
        stack = args[2]
        with self.lock:
            first = not self.calls
            self.calls.append(stack)
            self.running += 1
            if self.running > 1:
                self.overlapped.set()
        try:
            if not first:
                self.overlapped.wait(5)
            if stack == self.fail:
                raise RuntimeError(f"cannot create {stack}")
            return SimpleNamespace(stdout="")
        finally:
            with self.lock:
                self.running -= 1


def test_missing_shard_stacks_are_created_side_by_side_after_the_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    command = GatedCommand()
    stacks = [f"prod.shard-{i}" for i in range(5)]
    create_stacks(stacks, command, tmp_path, {})  # type: ignore[arg-type]
    assert command.calls[0] == "prod.shard-0" and sorted(command.calls) == stacks
    assert command.overlapped.is_set()

    failing = GatedCommand(fail="prod.shard-2")
    with pytest.raises(RuntimeError, match=r"cannot create prod\.shard-2"):
        create_stacks(stacks, failing, tmp_path, {})  # type: ignore[arg-type]
    # A failure stops nothing already asked for: every other stack was still created.
    assert sorted(failing.calls) == stacks


def test_shards_holding_most_bindings_start_first_and_shard_zero_leads_when_asked(
    tmp_path: Path,
):
    environment = load_environment(project(tmp_path, 4), "prod")
    held = {0: 1, 1: 3, 2: 3, 3: 2}
    manifests = [
        manifest(f"b{shard}-{i}", workspace=workspace_in(shard, 4))
        for shard, count in held.items()
        for i in range(count)
    ]
    stacks = environment.stacks()
    # Ties keep the shard order (1 before 2), whatever order the stacks are given in.
    assert largest_first(environment, reversed(stacks), manifests, zero_first=False) == [
        "prod.shard-1",
        "prod.shard-2",
        "prod.shard-3",
        "prod.shard-0",
    ]
    assert largest_first(environment, stacks, manifests, zero_first=True) == [
        "prod.shard-0",
        "prod.shard-1",
        "prod.shard-2",
        "prod.shard-3",
    ]
    # Only the stacks asked for, and a stack holding nothing last.
    assert largest_first(
        environment, ["prod.shard-0", "prod.shard-3"], manifests[:1], zero_first=False
    ) == ["prod.shard-0", "prod.shard-3"]
    (tmp_path / "one").mkdir()
    alone = load_environment(project(tmp_path / "one"), "prod")
    assert largest_first(alone, ["prod"], manifests, zero_first=True) == ["prod"]
