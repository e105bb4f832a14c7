"""The placement map: even shards, stable entries, a stored form that refuses bad edits."""

from __future__ import annotations

import json

import pytest

from components.placement import (
    Placement,
    PlacementError,
    binding_counts,
    parse_placement,
    placement_json,
    require_within,
    shard_loads,
    unplaced_workspaces,
)
from components.sharding import ShardScope, shard_of
from tests.factories import manifest


def fleet(workspaces: int, users: int) -> dict[str, int]:
    return {f"ws-{i:03d}": users for i in range(workspaces)}


def test_a_fleet_placed_from_empty_is_even_where_the_hash_is_not():
    counts = fleet(50, 20)
    placed = Placement().extended(counts, 40)
    loads = shard_loads(placed, counts, 40)
    assert max(loads) == 40 and min(loads) == 20  # 10 shards of two workspaces, 30 of one
    hashed = [0] * 40
    for workspace, count in counts.items():
        hashed[shard_of(workspace, 40)] += count
    assert max(hashed) > max(loads)  # what the map is for


def test_uneven_workspaces_go_largest_first_to_the_least_loaded_shard():
    counts = {"big": 30, "mid": 20, "small-a": 10, "small-b": 10}
    placed = Placement().extended(counts, 2)
    assert shard_loads(placed, counts, 2) == [40, 30]
    assert placed.shard_of("big") == 0 and placed.shard_of("mid") == 1


def test_placed_workspaces_never_move_and_new_ones_fill_the_emptiest_shard():
    counts = {"a": 5, "b": 5, "c": 5}
    first = Placement().extended(counts, 3)
    grown = first.extended({**counts, "a": 50, "d": 1}, 3)
    assert all(grown.shard_of(w) == first.shard_of(w) for w in counts)
    assert grown.shard_of("d") != grown.shard_of("a")


def test_an_entry_outlives_its_bindings_so_a_returning_workspace_comes_back_home():
    placed = Placement().extended({"a": 3, "b": 1}, 2)
    without_a = placed.extended({"b": 1, "c": 1}, 2)
    assert without_a.shard_of("a") == placed.shard_of("a")
    # "a" holds no bindings now: its shard counts as empty for the newcomer.
    assert without_a.shard_of("c") == placed.shard_of("a")


def test_nothing_to_place_returns_the_same_map():
    placed = Placement({"a": 0})
    assert placed.extended({"a": 4, "gone": 0}, 2) is placed


def test_the_stored_form_reads_back_and_is_sorted():
    placed = Placement({"zeta": 1, "alpha": 0})
    text = placement_json(placed, 2)
    assert parse_placement(text, "map") == placed
    assert list(json.loads(text)["workspaces"]) == ["alpha", "zeta"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("not json", "not JSON"),
        ("[]", "must be a JSON object"),
        ('{"format": 2, "workspaces": {}}', "format"),
        ('{"format": 1, "workspaces": []}', "workspaces:"),
        ('{"format": 1, "workspaces": {"w\\u001b[31m": -1}}', "workspaces.w\\x1b[31m"),
        ('{"format": 1, "workspaces": {"w": true}}', "workspaces.w"),
        ('{"format": 1, "workspaces": {"w": "3"}}', "workspaces.w"),
    ],
)
def test_a_broken_stored_map_is_refused_naming_the_field_inertly(text: str, field: str):
    with pytest.raises(PlacementError) as raised:
        parse_placement(text, "ConfigMap guacamole/m")
    message = str(raised.value)
    assert field in message and "ConfigMap guacamole/m" in message
    assert "\x1b" not in message


def test_a_map_naming_a_shard_the_environment_lacks_is_refused():
    require_within(Placement({"a": 2}), 3, "map")
    with pytest.raises(PlacementError, match=r"a -> 3.*shard-move"):
        require_within(Placement({"a": 3, "b": 0}), 3, "map")


def test_binding_counts_count_every_manifest_naming_a_workspace():
    manifests = [
        manifest("b1", "ns", workspace="w1"),
        manifest("b2", "ns", workspace="w1", username="bob"),
        manifest("b3", "ns", workspace="w2"),
        {"metadata": {"name": "broken"}, "spec": "not a mapping"},
    ]
    assert binding_counts(manifests) == {"w1": 2, "w2": 1}


def test_a_shard_declares_placed_workspaces_only_and_scans_the_rest_by_hash():
    placement = Placement({"placed": 1})
    scopes = [ShardScope(i, 3, placement) for i in range(3)]
    assert [s.owns("placed") for s in scopes] == [False, True, False]
    assert [s.owns("new") for s in scopes] == [False, False, False]
    home = shard_of("new", 3)
    assert [s.scans("new") for s in scopes] == [i == home for i in range(3)]
    assert [s.scans("placed") for s in scopes] == [False, True, False]
    assert [s.owns(None) for s in scopes] == [True, False, False]
    assert unplaced_workspaces(scopes[0], [manifest("b", "ns", workspace="new")]) == ["new"]
    assert unplaced_workspaces(ShardScope(), [manifest("b", "ns", workspace="new")]) == []
