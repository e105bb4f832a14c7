"""Placing before a run: a lost or missing map is rebuilt from the shards' own state."""

from __future__ import annotations

from typing import Any

import pytest

from components.placement import Placement, PlacementError
from components.placement_store import PlacementStoreError
from components.sharding import shard_stack_name
from components.watch.placing import PlacementBook, held_counts, held_placement
from tests.factories import manifest
from tests.placement_fakes import MemoryPlacementStore

STACKS = [shard_stack_name("prod", i) for i in range(3)]


def state(*bindings: tuple[str, str]) -> dict[str, Any]:
    """A shard's deployment whose last run declared ``(binding key, workspace)`` pairs."""
    outputs = {"workspaces": {key: {"workspace": ws, "username": "u"} for key, ws in bindings}}
    return {"resources": [{"type": "pulumi:pulumi:Stack", "urn": "u", "outputs": outputs}]}


def book(store: MemoryPlacementStore, states: dict[str, dict[str, Any]]) -> PlacementBook:
    return PlacementBook(store, 3, STACKS, lambda stack: states.get(stack, {}))


def test_a_missing_map_is_rebuilt_from_what_the_shards_hold_then_new_ones_are_placed():
    states = {
        "prod.shard-2": state(("ns/a1", "a"), ("ns/a2", "a")),
        "prod.shard-1": state(("ns/b1", "b")),
    }
    store = MemoryPlacementStore()
    manifests = [manifest(f"{ws}{i}", "ns", workspace=ws) for ws in "abc" for i in range(2)]
    placed = book(store, states).place(manifests, write=True)
    assert placed.shard_of("a") == 2 and placed.shard_of("b") == 1  # nothing moves
    assert placed.shard_of("c") == 0  # the empty shard
    assert store.placement == placed and store.writes == 1


def test_a_stored_map_wins_over_the_state_and_a_preview_writes_nothing():
    store = MemoryPlacementStore({"a": 0})
    states = {"prod.shard-2": state(("ns/a1", "a"))}
    placed = book(store, states).place([manifest("x", "ns", workspace="new")], write=False)
    assert placed.shard_of("a") == 0 and placed.shard_of("new") is not None
    assert store.writes == 0 and store.placement == Placement({"a": 0})


def test_a_concurrent_writer_is_retried_and_an_endless_one_reported():
    store = MemoryPlacementStore({"a": 0})
    store.lose_next = 2
    placed = book(store, {}).place([manifest("x", "ns", workspace="b")], write=True)
    assert store.placement == placed and placed.shard_of("b") is not None
    store.lose_next = 100
    with pytest.raises(PlacementStoreError, match="another writer"):
        book(store, {}).place([manifest("y", "ns", workspace="c")], write=True)


def test_a_stored_map_beyond_the_shard_count_stops_the_run():
    store = MemoryPlacementStore({"a": 7}, shards=8)
    with pytest.raises(PlacementError, match="shard-move"):
        book(store, {}).place([manifest("x", "ns", workspace="a")], write=True)


def test_the_watcher_places_a_workspace_before_its_binding_is_listed():
    store = MemoryPlacementStore({"a": 0, "b": 1})
    placing = book(store, {})
    placing.place([], write=False)
    assert placing.locate("new") is None
    placed = placing.place([manifest("a1", "ns", workspace="a")], write=True, also="new")
    assert placing.locate("new") == placed.shard_of("new") == 1  # shards 1 and 2 are empty
    assert store.placement.shard_of("new") == 1


def test_held_state_counts_bindings_per_workspace():
    deployments = [state(("ns/1", "a"), ("ns/2", "a")), state(("ns/3", "b")), {}]
    assert held_counts(deployments) == {"a": 2, "b": 1}
    held = held_placement(STACKS, dict(zip(STACKS, deployments, strict=True)).__getitem__)
    assert held == Placement({"a": 0, "b": 1})


def test_a_shard_whose_run_exported_nothing_still_holds_its_groups_workspace():
    group = {
        "type": "pulumi-python:dynamic/guacamole:ConnectionGroup",
        "urn": "g",
        "inputs": {"group_name": "half-done"},
    }
    states = {"prod.shard-1": {"resources": [group]}}
    assert held_placement(STACKS, lambda stack: states.get(stack, {})) == Placement(
        {"half-done": 1}
    )
    assert held_counts(states.values()) == {"half-done": 1}
