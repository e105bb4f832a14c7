"""Checkpoint files of a DIY backend, plain, gzip and zstd, as the runner reads them."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from components.watch import checkpoints
from components.watch.checkpoints import (
    checkpoint_digest,
    checkpoint_path,
    read_deployment,
    stack_file_name,
)
from components.watch.overrides import Project
from components.watch.shards import list_stacks, load_environment

DIGEST = "ab" * 32
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda data: data,
    ".gz": gzip.compress,
    ".zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


def project(tmp_path: Path, shards: int = 1) -> Project:
    (tmp_path / "stacks").mkdir(exist_ok=True)
    config = {"config": {"awms-browser-workspaces:shards": shards}}
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(json.dumps(config))
    return Project(tmp_path, "awms-browser-workspaces", tmp_path / "stacks")


def state(digest: str, padding: int = 0) -> bytes:
    """A checkpoint as the CLI writes it: the root Stack resource first, then the rest."""
    stack = {"type": "pulumi:pulumi:Stack", "urn": "s", "outputs": {"inputDigest": digest}}
    rest = [{"type": "x", "urn": f"urn:{i}", "outputs": {"pad": "p" * 200}} for i in range(padding)]
    latest = {"resources": [stack, *rest]}
    return json.dumps({"version": 3, "checkpoint": {"latest": latest}}).encode()


def write(root: Path, box: Project, stack: str, suffix: str, data: bytes, when: int) -> Path:
    plain = checkpoint_path(root, box.name, stack)
    plain.parent.mkdir(parents=True, exist_ok=True)
    path = plain.with_name(f"{stack}.json{suffix}")
    path.write_bytes(COMPRESS[suffix](data))
    os.utime(path, ns=(when, when))
    return path


@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_each_variant_the_cli_writes_is_read(tmp_path: Path, suffix: str):
    box = project(tmp_path)
    backend = tmp_path / "backend"
    path = write(backend, box, "prod.shard-0", suffix, state(DIGEST, padding=3), when=10**18)
    assert checkpoint_path(backend, box.name, "prod.shard-0") == path
    assert checkpoint_digest(backend, box, "prod.shard-0") == DIGEST
    resources = read_deployment(backend, box, "prod.shard-0")["resources"]
    assert [r["urn"] for r in resources] == ["s", "urn:0", "urn:1", "urn:2"]


def test_a_zstd_checkpoint_of_several_frames_is_read_whole(tmp_path: Path):
    box = project(tmp_path)
    backend = tmp_path / "backend"
    data = state(DIGEST, padding=50)
    path = write(backend, box, "prod", ".zst", data, when=10**18)
    compressor = zstandard.ZstdCompressor()
    half = len(data) // 2
    path.write_bytes(compressor.compress(data[:half]) + compressor.compress(data[half:]))
    assert len(read_deployment(backend, box, "prod")["resources"]) == 51
    # The digest search reads chunk by chunk: a digest past the first frame is still found.
    path.write_bytes(compressor.compress(b" " * 100) + compressor.compress(data))
    assert checkpoint_digest(backend, box, "prod") == DIGEST


def test_the_variant_written_last_is_the_state_as_the_cli_decides(tmp_path: Path):
    box = project(tmp_path)
    backend = tmp_path / "backend"
    write(backend, box, "prod", "", state("00" * 32), when=2 * 10**18)
    newer = write(backend, box, "prod", ".zst", state("11" * 32), when=3 * 10**18)
    write(backend, box, "prod", ".gz", state("22" * 32), when=1 * 10**18)
    assert checkpoint_path(backend, box.name, "prod") == newer
    assert checkpoint_digest(backend, box, "prod") == "11" * 32
    # Equal times: the CLI keeps the later of its listing (.json, .json.gz, .json.zst).
    write(backend, box, "prod", ".gz", state("22" * 32), when=3 * 10**18)
    assert checkpoint_digest(backend, box, "prod") == "11" * 32


def test_a_stack_without_a_checkpoint_or_with_a_broken_one_reads_as_none(tmp_path: Path):
    box = project(tmp_path)
    backend = tmp_path / "backend"
    assert checkpoint_path(backend, box.name, "prod").name == "prod.json"
    assert checkpoint_digest(backend, box, "prod") is None
    assert read_deployment(backend, box, "prod") == {}
    path = write(backend, box, "prod", ".zst", state(DIGEST), when=10**18)
    path.write_bytes(b"not zstd at all")
    assert checkpoint_digest(backend, box, "prod") is None
    assert read_deployment(backend, box, "prod") == {}
    write(backend, box, "prod", ".gz", state(DIGEST)[:40], when=2 * 10**18)
    assert checkpoint_digest(backend, box, "prod") is None


def test_the_digest_search_stops_at_the_stack_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    box = project(tmp_path)
    backend = tmp_path / "backend"
    write(backend, box, "prod", ".zst", state(DIGEST, padding=2_000), when=10**18)
    read: list[int] = []
    chunks = checkpoints._chunks

    def counted(stream: Any):
        for chunk in chunks(stream):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(checkpoints, "_chunks", counted)
    assert checkpoint_digest(backend, box, "prod") == DIGEST
    assert len(read) == 1
    assert len(state(DIGEST, padding=2_000)) > 5 * sum(read)


def test_a_digest_split_between_two_chunks_is_found():
    text = b'{"x": "' + b"y" * 50 + b'", "inputDigest": "' + DIGEST.encode() + b'"}'
    for cut in range(1, len(text)):
        assert checkpoints._first_digest(iter([text[:cut], text[cut:]])) == DIGEST, cut
    assert checkpoints._first_digest(iter([b'"inputDigest": "' + b"ab" * 31 + b'"'])) is None


def test_checkpoint_file_names_and_the_rest():
    assert stack_file_name("prod.shard-3.json") == "prod.shard-3"
    assert stack_file_name("prod.json.gz") == "prod"
    assert stack_file_name("prod.json.zst") == "prod"
    for other in ("prod.json.bak", "prod.json.zst.attrs", "prod.json.1a2b.tmp", "notes", ".json"):
        assert stack_file_name(other) is None, other


def test_a_compressed_backend_lists_its_stacks_without_the_cli(tmp_path: Path):
    box = project(tmp_path, shards=2)
    environment = load_environment(box, "prod")
    backend = tmp_path / "backend"
    write(backend, box, "prod", ".zst", state(DIGEST, padding=4), when=10**18)
    write(backend, box, "prod.shard-0", ".gz", state(DIGEST), when=10**18)
    # The moment a compression setting changes: the old variant is still there.
    write(backend, box, "prod.shard-1", "", state(DIGEST), when=10**18)
    write(backend, box, "prod.shard-1", ".zst", state(DIGEST), when=2 * 10**18)

    class NoCli:
        def run(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"the CLI was asked: {args}")

    entries = list_stacks(environment, NoCli(), {}, backend)  # type: ignore[arg-type]
    by_name = {e["name"]: e.get("resourceCount") for e in entries}
    # The environment's own stack has no role when sharded, so its resources are counted.
    assert by_name == {"prod": 5, "prod.shard-0": None, "prod.shard-1": None}
