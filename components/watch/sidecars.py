"""Empty metadata files that a killed ``pulumi`` can leave in a file (DIY) backend.

The blob store under a file backend (gocloud.dev's ``fileblob``) keeps a ``<file>.attrs`` beside
each file it writes, holding the content type and MD5. The file itself is replaced atomically: it
is written to ``<file>.<hex>.tmp`` and then renamed. The ``.attrs`` is not: it is truncated and
then rewritten in place, just before that rename. A CLI killed between the truncation and the
write (SIGKILL, an evicted pod, the OOM killer) leaves an empty ``.attrs``. Every later read of
the file then fails with ``EOF``: ``pulumi`` on that stack stops with "failed to load checkpoint:
EOF", and ``pulumi stack ls`` fails for every stack of the project.

The data file is intact. The rename that would have replaced it comes after the ``.attrs``
write, so it still holds the previous, complete checkpoint (or lock). A missing ``.attrs`` is
read as default metadata. Removing an empty one therefore lets every reader in again. That holds
even while a live writer sits between its truncation and its write: the write then goes to the
removed file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".attrs"


def empty_sidecars(directories: Iterable[Path]) -> list[Path]:
    """The empty ``.attrs`` files directly in ``directories`` (missing ones are skipped)."""
    found: list[Path] = []
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if not entry.name.endswith(SIDECAR_SUFFIX) or not entry.is_file(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_size == 0:
                    found.append(Path(entry.path))
            except FileNotFoundError:
                continue  # replaced meanwhile
    return sorted(found)


def repair_sidecars(directories: Iterable[Path]) -> list[Path]:
    """Remove the empty ``.attrs`` files in ``directories``, each logged; returns them."""
    removed: list[Path] = []
    for path in empty_sidecars(directories):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:  # a read-only identity (preview): the next `up` repairs it
            log.warning(
                "%s is empty and makes its file unreadable; cannot remove it: %s", path, error
            )
            continue
        log.warning(
            "removed %s: an empty metadata file, left by a pulumi killed while writing %s; "
            "the file itself is complete (the write it belonged to never replaced it)",
            path,
            path.name.removesuffix(SIDECAR_SUFFIX),
        )
        removed.append(path)
    return removed
