"""Bounded update history on a file (DIY) backend.

After every update the CLI keeps, per stack, a record of the update and a full copy of the
checkpoint in ``.pulumi/history/``, and another copy of the checkpoint as it was before in
``.pulumi/backups/``; nothing ever removes them. The watcher updates a shard for every login
(its targeted run) and every binding change, so with 40-binding shards (a 1.3 MB checkpoint)
a thousand runs a day add about 2.6 GB a day to the volume holding the state, and a full
volume stops every run, revocations included. ``--keep-history N`` keeps the newest N updates
of each stack it runs (their history records, checkpoint copies and backups) and removes the
rest after each ``up``; 0, the default, keeps everything, as the CLI does.

Only names the CLI writes are touched (``<stack>-<ns>.history.json``, ``...checkpoint.json``,
``<stack>.<ns>.json``, optionally compressed, and the blob store's ``.attrs`` beside each), and
only in the directories of the stack just updated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_VARIANT = r"\.json(?:\.gz|\.zst)?(?:\.attrs)?"


def history_directories(root: Path, project: str, stack: str) -> list[Path]:
    """Where a DIY backend keeps ``stack``'s update records and backups (project layout, then
    the legacy one)."""
    name = stack.rsplit("/", 1)[-1]
    parts = stack.split("/")
    project_name = parts[1] if len(parts) == 3 else project
    pulumi = root / ".pulumi"
    found = []
    for kind in ("history", "backups"):
        found += [pulumi / kind / project_name / name, pulumi / kind / name]
    return found


def stale_files(names: Iterable[str], stack: str, keep: int) -> list[str]:
    """The files among ``names`` (one directory's) that belong to updates older than the newest
    ``keep`` of ``stack``; update records and their checkpoint copies go together."""
    name = re.escape(stack.rsplit("/", 1)[-1])
    pattern = re.compile(rf"^{name}(?:-(\d+)\.(?:history|checkpoint)|\.(\d+)){_VARIANT}$")
    by_update: dict[int, list[str]] = {}
    for entry in names:
        match = pattern.match(entry)
        if match:
            stamp = int(match.group(1) or match.group(2))
            by_update.setdefault(stamp, []).append(entry)
    newest_first = sorted(by_update, reverse=True)
    return sorted(entry for stamp in newest_first[keep:] for entry in by_update[stamp])


def prune_history(directories: Sequence[Path], stack: str, keep: int) -> list[Path]:
    """Remove what :func:`stale_files` names in each directory; returns what was removed.

    A failure to list or remove is logged and skipped: bounded history must never fail the run
    it follows.
    """
    if keep <= 0:
        return []
    removed: list[Path] = []
    for directory in directories:
        try:
            names = [entry.name for entry in directory.iterdir() if entry.is_file()]
        except OSError:
            continue
        for entry in stale_files(names, stack, keep):
            path = directory / entry
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as error:
                log.warning("cannot remove old update record %s: %s", path, error)
                continue
            removed.append(path)
    return removed
