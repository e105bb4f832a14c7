"""What the single-stack benchmark reports of a stack's checkpoint, plain or compressed."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import zstandard

from bench.program import PROJECT, ProgramSide

RESOURCES: list[dict[str, Any]] = [
    {"type": "kubernetes:apps/v1:Deployment", "urn": "urn:a", "outputs": {"x": "y" * 50}},
    {"type": "pulumi-python:dynamic/guacamole:User", "urn": "urn:b"},
]


def side(backend: Path) -> ProgramSide:
    """A ProgramSide over a backend directory, without a sandbox or a CLI."""
    program = ProgramSide.__new__(ProgramSide)
    program.stack = "bench"
    program._box = SimpleNamespace(backend_dir=backend)  # type: ignore[assignment]
    exported: dict[str, Any] = {"deployment": {"resources": RESOURCES}}
    program.cli = SimpleNamespace(export_state=lambda: exported)  # type: ignore[assignment]
    return program


@pytest.mark.parametrize("compressed", [False, True])
def test_the_state_size_is_the_checkpoints_json_and_its_file(tmp_path: Path, compressed: bool):
    stacks = tmp_path / ".pulumi" / "stacks" / PROJECT
    stacks.mkdir(parents=True)
    text = json.dumps({"checkpoint": {"latest": {"resources": RESOURCES}}}).encode()
    name = "bench.json.zst" if compressed else "bench.json"
    data = zstandard.ZstdCompressor().compress(text) if compressed else text
    (stacks / name).write_bytes(data)
    # The CLI's neighbours of a checkpoint: its backup and the blob store's metadata.
    (stacks / f"{name}.bak").write_bytes(b"x" * 10_000)
    (stacks / f"{name}.attrs").write_bytes(b"{}")
    size = side(tmp_path).state_size().as_json()
    assert size["bytes"] == len(text)
    assert size["file_bytes"] == len(data)
    assert (size["file_bytes"] < size["bytes"]) == compressed
    assert size["resources"] == 2
    assert list(size["by_type"]) == [RESOURCES[0]["type"], RESOURCES[1]["type"]]


def test_a_stack_never_updated_has_no_state(tmp_path: Path):
    size = side(tmp_path).state_size().as_json()
    assert size["bytes"] == 0 and size["file_bytes"] == 0
