"""The watcher's lanes: events reach the shard stacks they change, start-up runs what changed."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from components.sharding import shard_of, shard_stack_name
from components.watch import config as watch_config
from components.watch.overrides import Project
from components.watch.placing import PlacementBook
from components.watch.shard_watch import Lanes, StackFileWatch, StackTag
from components.watch.shards import Environment
from tests.factories import manifest
from tests.placement_fakes import MemoryPlacementStore

SHARDS = 3


def workspace_in(shard: int, skip: int = 0) -> str:
    found = [f"lane-ws-{i}" for i in range(1000) if shard_of(f"lane-ws-{i}", SHARDS) == shard]
    return found[skip]


class FakeRunner:
    def __init__(self, stack: str) -> None:
        self.stack_name = stack
        self.drift_every: float | None = None

    def check_drift(self, every: float = 0.0, accepted: tuple[str, ...] = ()) -> None:
        self.drift_every = every
        self.drift_accepted = accepted

    def interrupt(self) -> bool:
        return False


class FakeStacks:
    def __init__(self, environment: Environment, touched: list[str], bootstrap: bool) -> None:
        self.environment = environment
        self.settings = SimpleNamespace(
            database_bootstrap=SimpleNamespace(enabled=bootstrap),
            drift_accepted_managers=("kyverno",),
        )
        self._touched = touched
        self.runners: dict[str, FakeRunner] = {}
        # The shards the tests' workspaces were placed on: their hash shards.
        placed = {workspace_in(i, skip): i for i in range(SHARDS) for skip in range(3)}
        self.store = MemoryPlacementStore(placed, SHARDS)
        self.book = PlacementBook(self.store, SHARDS, environment.stacks(), lambda _: {})
        self.book.place([], write=False)

    def place(self, manifests: list[Any], *, write: bool) -> None:
        self.book.place(manifests, write=write)

    def place_one(self, workspace: str, manifests: list[Any]) -> int | None:
        self.book.place(manifests, write=True, also=workspace)
        return self.book.locate(workspace)

    def runner(self, stack: str) -> FakeRunner:
        return self.runners.setdefault(stack, FakeRunner(stack))

    def touched(self, manifests: list[Any], context: str, every: bool) -> list[str]:
        return self.environment.stacks() if every else list(self._touched)


class FakeFastPath:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_binding_change(self, key: str, old: Any, new: Any) -> None:
        self.seen.append(key)

    def close(self) -> None:
        pass


def lanes(
    tmp_path: Path,
    *extra: str,
    touched: list[str] | None = None,
    only: str | None = None,
    bootstrap: bool = False,
) -> Lanes:
    project = Project(tmp_path, "awms-browser-workspaces", tmp_path)
    environment = Environment(project, "prod", SHARDS, only=only)
    config = watch_config.parse(["watch", "--stack", "prod", "--debounce", "0", *extra], {})
    assert isinstance(config, watch_config.WatchConfig)
    stacks = FakeStacks(environment, touched or [], bootstrap)
    return Lanes(stacks, config)  # type: ignore[arg-type]


def pending(built: Lanes) -> dict[int, bool]:
    return {lane.index: lane.queue.has_pending() for lane in built}


def test_one_lane_per_shard_stack_each_with_drift_repair(tmp_path: Path) -> None:
    built = lanes(tmp_path, "--resync-interval", "600")
    assert [lane.stack for lane in built] == [shard_stack_name("prod", i) for i in range(SHARDS)]
    assert all(lane.runner.drift_every == 600 for lane in built)  # type: ignore[attr-defined]
    # The environment's setting, read once at start-up like the others.
    assert all(lane.runner.drift_accepted == ("kyverno",) for lane in built)  # type: ignore[attr-defined]


def test_a_new_binding_queues_a_run_of_its_shard_only(tmp_path: Path) -> None:
    built = lanes(tmp_path)
    built.on_binding("ns/b", None, manifest("b", "ns", workspace=workspace_in(2)))
    assert pending(built) == {0: False, 1: False, 2: True}


def test_a_repointed_binding_queues_both_shards(tmp_path: Path) -> None:
    built = lanes(tmp_path)
    fast = {lane.index: FakeFastPath() for lane in built}
    for lane in built:
        lane.fast_path = fast[lane.index]  # type: ignore[assignment]
    old = manifest("b", "ns", workspace=workspace_in(0))
    new = manifest("b", "ns", workspace=workspace_in(1), replicas=1)
    built.on_binding("ns/b", old, new)
    assert pending(built) == {0: True, 1: True, 2: False}
    # The fast path of the new shard alone: the old one no longer serves the binding.
    assert {i: f.seen for i, f in fast.items()} == {0: [], 1: ["ns/b"], 2: []}


def test_a_status_write_queues_nothing(tmp_path: Path) -> None:
    built = lanes(tmp_path)
    body = manifest("b", "ns", workspace=workspace_in(1))
    built.on_binding("ns/b", body, {**body, "status": {"statusText": "READY"}})
    assert pending(built) == {0: False, 1: False, 2: False}


def test_a_workspace_change_queues_its_shard(tmp_path: Path) -> None:
    built = lanes(tmp_path)
    name = workspace_in(1, skip=1)
    body = {"metadata": {"name": name, "namespace": "ns"}, "spec": {"displayName": "a"}}
    built.on_workspace(f"ns/{name}", body, {**body, "spec": {"displayName": "b"}})
    assert pending(built) == {0: False, 1: True, 2: False}


def test_one_shard_stack_alone_ignores_the_others(tmp_path: Path) -> None:
    built = lanes(tmp_path, only=shard_stack_name("prod", 2))
    assert [lane.index for lane in built] == [2]
    built.on_binding("ns/a", None, manifest("a", "ns", workspace=workspace_in(0)))
    assert pending(built) == {2: False}
    built.on_binding("ns/b", None, manifest("b", "ns", workspace=workspace_in(2)))
    assert pending(built) == {2: True}


def test_start_up_runs_only_the_shards_whose_digest_changed(tmp_path: Path) -> None:
    built = lanes(tmp_path, touched=[shard_stack_name("prod", 1)])
    built.start_up("context", dict)
    assert pending(built) == {0: False, 1: True, 2: False}
    every = lanes(tmp_path, "--all-shards", touched=[shard_stack_name("prod", 1)])
    every.start_up("context", dict)
    assert pending(every) == {0: True, 1: True, 2: True}
    nothing = lanes(tmp_path, "--initial-run", "none", touched=[shard_stack_name("prod", 1)])
    nothing.start_up("context", dict)
    assert pending(nothing) == {0: False, 1: False, 2: False}


def test_start_up_queues_the_shards_holding_most_bindings_first(tmp_path: Path) -> None:
    every = [shard_stack_name("prod", i) for i in range(SHARDS)]
    built = lanes(tmp_path, touched=every)
    asked: list[str] = []

    def recorder(stack: str) -> Any:
        def request_full(reason: str, **_: Any) -> None:
            asked.append(stack)

        return request_full

    for lane in built.lanes:
        lane.queue.request_full = recorder(lane.stack)  # type: ignore[method-assign]
    held = {0: 1, 1: 2, 2: 3}
    listed = {
        f"jupyterhub/b{shard}-{i}": manifest(f"b{shard}-{i}", workspace=workspace_in(shard))
        for shard, count in held.items()
        for i in range(count)
    }
    built.start_up("context", lambda: listed)
    assert asked == [shard_stack_name("prod", i) for i in (2, 1, 0)]
    built.close()


def test_with_database_bootstrap_shard_zero_starts_before_the_others(tmp_path: Path) -> None:
    every = [shard_stack_name("prod", i) for i in range(SHARDS)]
    built = lanes(tmp_path, touched=every, bootstrap=True)
    first = SimpleNamespace(last_outcome=None)
    built.lanes[0].worker = first  # type: ignore[assignment]
    built.start_up("context", dict)
    assert pending(built) == {0: True, 1: False, 2: False}
    first.last_outcome = "finished"
    deadline = time.monotonic() + 10
    while not all(pending(built).values()):
        assert time.monotonic() < deadline, "the other shards were never queued"
        time.sleep(0.01)
    built.close()


def test_records_of_a_lane_name_its_stack(caplog: Any) -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "up finished in %.1fs", (1.0,), None)
    record.threadName = "worker prod.shard-2"
    tag = StackTag()
    assert tag.filter(record) and tag.filter(record)
    assert record.getMessage() == "[prod.shard-2] up finished in 1.0s"
    other = logging.LogRecord("x", logging.INFO, "f", 1, "watching", (), None)
    other.threadName = "MainThread"
    assert tag.filter(other) and other.getMessage() == "watching"


def test_an_edit_of_the_environments_stack_file_is_noticed_once(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text("config: {}\n")
    watch = StackFileWatch(path)
    assert not watch.check()
    path.write_text("config: {shards: 4}\n")
    assert watch.check()
    assert not watch.check()


def test_a_binding_to_a_new_workspace_is_placed_then_routed_to_that_shard(tmp_path: Path) -> None:
    built = lanes(tmp_path, "--initial-run", "none")
    stacks: FakeStacks = built.stacks  # type: ignore[assignment]
    first = manifest("b0", "ns", workspace="brand-new")
    built.on_binding("ns/b0", None, first)  # still listing: placed at start-up, not here
    assert pending(built) == {0: False, 1: False, 2: False}
    listed = {"ns/a": manifest("a", "ns", workspace=workspace_in(0))}
    built.start_up("context", lambda: listed)
    second = manifest("b1", "ns", workspace="another")
    built.on_binding("ns/b1", None, second)
    index = stacks.store.placement.shard_of("another")
    assert index is not None
    assert pending(built) == {i: i == index for i in range(SHARDS)}


def test_a_binding_whose_workspace_cannot_be_placed_is_routed_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    built = lanes(tmp_path, "--initial-run", "none")
    stacks: FakeStacks = built.stacks  # type: ignore[assignment]
    built.start_up("context", dict)
    stacks.store.lose_next = 1000
    with caplog.at_level(logging.ERROR):
        built.on_binding("ns/b", None, manifest("b", "ns", workspace="new\x1b[2J"))
    assert pending(built) == {0: False, 1: False, 2: False}
    assert "new\\x1b[2J" in caplog.text and "\x1b" not in caplog.text
