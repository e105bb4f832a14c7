"""What a shard's program runs with: the stored map, a preview's file, or a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.placement import Placement, placement_json
from components.placement_store import (
    PLACEMENT_FILE_ENV,
    PlacementStoreError,
    map_name,
    program_placement,
)
from tests.placement_fakes import MemoryPlacementStore


def test_the_stored_map_is_what_an_update_runs_with():
    store = MemoryPlacementStore({"a": 1})
    placement, where = program_placement({}, lambda: store, dry_run=False)
    assert placement == Placement({"a": 1}) and "ConfigMap guacamole/" in where


def test_no_stored_map_is_refused_naming_the_command_that_writes_it():
    with pytest.raises(PlacementStoreError, match=r"does not exist.*scripts/watch up"):
        program_placement({}, MemoryPlacementStore, dry_run=True)


def test_a_handed_over_file_serves_a_preview_and_is_refused_by_an_update(tmp_path: Path):
    file = tmp_path / "placement.json"
    file.write_text(placement_json(Placement({"new": 2}), 3), encoding="utf-8")
    environ = {PLACEMENT_FILE_ENV: str(file)}
    never = MemoryPlacementStore({"a": 0})
    assert program_placement(environ, lambda: never, dry_run=True)[0] == Placement({"new": 2})
    with pytest.raises(PlacementStoreError, match="only serves previews"):
        program_placement(environ, lambda: never, dry_run=False)


def test_map_names_are_valid_object_names_and_distinct():
    assert map_name("prod") == "awms-browser-placement-prod"
    assert map_name("org/project/prod") == "awms-browser-placement-prod"
    odd = {map_name("Prod"), map_name("prod_1"), map_name("prod-1"), map_name("\x1b[2J")}
    assert len(odd) == 4
    for name in odd:
        assert len(name) <= 253 and name.replace("-", "").isalnum() and name == name.lower()
