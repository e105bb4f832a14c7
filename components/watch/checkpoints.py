"""A stack's checkpoint file on a DIY (``file://``) backend, plain or compressed.

The runner reads checkpoints directly instead of starting the CLI once per shard: every run of
an environment needs the ``inputDigest`` of every shard, and ``shard-move`` and the combined
preview need whole states. The CLI writes ``<stack>.json``, or ``<stack>.json.gz`` with
``PULUMI_DIY_BACKEND_GZIP`` or ``<stack>.json.zst`` with ``PULUMI_DIY_BACKEND_ZSTD`` (a smaller
file makes each checkpoint rewrite cheaper). When the setting changes, the next write moves
the old variant aside; the CLI reads whichever variant was written last, and so does this
module. A reader that knew only ``.json`` would find no digest in a compressed environment and
run every shard every time, and ``shard-move`` would see empty states.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

import zstandard

from components.watch.locks import stacks_directory
from components.watch.overrides import Project

PLAIN = ".json"
COMPRESSED = (".gz", ".zst")
"""The suffixes the CLI adds to ``.json`` for gzip and zstd (``encoding.GZIPExt``/``ZSTDExt``)."""

_CHUNK = 1 << 16
_DIGEST_OUTPUT = re.compile(rb'"inputDigest":\s*"([0-9a-f]{64})"')
_DIGEST_SPAN = 100
"""More than the longest text :data:`_DIGEST_OUTPUT` matches, kept from one chunk to the next."""


def stack_file_name(name: str) -> str | None:
    """The stack a file in the stacks directory is the checkpoint of, or ``None`` (backups,
    sidecars, temporary files and anything else)."""
    for suffix in COMPRESSED:
        if name.endswith(PLAIN + suffix):
            return name.removesuffix(PLAIN + suffix) or None
    return (name.removesuffix(PLAIN) or None) if name.endswith(PLAIN) else None


def checkpoint_path(root: Path, project: str, stack: str) -> Path:
    """The checkpoint file the CLI would read for ``stack``: of the plain and compressed
    variants that exist, the one modified last (on a tie, the CLI's listing order picks the
    later of ``.json``, ``.json.gz``, ``.json.zst``); the plain name when there is none yet."""
    plain = stacks_directory(root, project) / f"{stack.rsplit('/', 1)[-1]}{PLAIN}"
    best: tuple[int, Path] | None = None
    for path in (plain, *(plain.with_name(plain.name + s) for s in COMPRESSED)):
        try:
            modified = path.stat().st_mtime_ns
        except OSError:
            continue
        if best is None or modified >= best[0]:
            best = (modified, path)
    return best[1] if best is not None else plain


class ByteStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


def open_checkpoint(path: Path) -> ByteStream:
    """The checkpoint's JSON bytes as a stream, decompressed as its name says (close it)."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.name.endswith(".zst"):
        raw = path.open("rb")
        try:
            # The CLI writes one frame; several would be read as one file.
            return zstandard.ZstdDecompressor().stream_reader(
                raw, closefd=True, read_across_frames=True
            )
        except BaseException:
            raw.close()
            raise
    return path.open("rb")


def read_checkpoint(path: Path) -> bytes:
    """The whole checkpoint as JSON bytes (raises ``OSError`` or ``zstandard.ZstdError``)."""
    with closing(open_checkpoint(path)) as stream:
        return stream.read()


def read_deployment(root: Path, project: Project, stack: str) -> dict[str, Any]:
    """The ``deployment`` part of ``stack``'s state, read from its checkpoint file (no CLI
    start-up per shard); empty when the stack has never been updated."""
    try:
        state = json.loads(read_checkpoint(checkpoint_path(root, project.name, stack)))
    except (OSError, ValueError, zstandard.ZstdError):
        return {}
    latest = (state.get("checkpoint") or {}).get("latest") if isinstance(state, Mapping) else None
    return dict(latest) if isinstance(latest, Mapping) else {}


def checkpoint_digest(root: Path, project: Project, stack: str) -> str | None:
    """The ``inputDigest`` output in ``stack``'s checkpoint file, found without parsing it.

    Every run of the environment needs the digest of every shard, but the state of only the
    shards it runs. Only the root Stack resource has an output of that name, and the engine
    keeps that resource first, so the search reads (and decompresses) the file only until it
    is found: the cost stays independent of the size of the other shards.
    """
    try:
        with closing(open_checkpoint(checkpoint_path(root, project.name, stack))) as stream:
            return _first_digest(_chunks(stream))
    except (OSError, zstandard.ZstdError, EOFError):
        return None


def _chunks(stream: ByteStream) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _first_digest(chunks: Iterator[bytes]) -> str | None:
    """The first digest in the concatenation of ``chunks``, read no further than needed."""
    window = b""
    for chunk in chunks:
        window = window[-_DIGEST_SPAN:] + chunk
        match = _DIGEST_OUTPUT.search(window)
        if match:
            return match.group(1).decode()
    return None
