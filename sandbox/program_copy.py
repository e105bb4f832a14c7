"""A private, runnable copy of the Pulumi program for tests and benchmarks.

Tests and benchmarks run the program from a copy so they can edit code (a comment-only change
must preview as no change) or keep their own stack files without touching the checkout, and so
two runs never share a stack. The copy shares the checkout's virtualenv through a symlink.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from sandbox.environment import REPO

PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt")
PROGRAM_DIRS = ("components", "crds")


def copy_program(dest: Path) -> Path:
    """Copy (or refresh) the program into ``dest``; stack files already there are kept.

    ``stacks/`` holds only the sample bindings: the checkout's ``Pulumi.<stack>.yaml`` files are
    never copied, so a copy's stacks are configured by whoever runs it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROGRAM_FILES:
        shutil.copy2(REPO / name, dest / name)
    for name in PROGRAM_DIRS:
        shutil.rmtree(dest / name, ignore_errors=True)
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        REPO / "stacks",
        dest / "stacks",
        ignore=shutil.ignore_patterns("Pulumi.*.yaml"),
        dirs_exist_ok=True,
    )
    venv = dest / ".venv"
    if not venv.exists():
        os.symlink(REPO / ".venv", venv)
    return dest


class ArchiveError(RuntimeError):
    """A commit's program cannot be read from the repository (a shallow clone, say)."""


def archived_program(commit: str, dest: Path) -> Path:
    """The program as it was at ``commit`` (``git archive``), sharing the checkout's venv.

    Why: an upgrade is only tested for real from a state the previous release wrote, with that
    release's own code. Its stack files are dropped, as :func:`copy_program` drops them.
    """
    paths = [*PROGRAM_FILES, *PROGRAM_DIRS, "stacks"]
    archived = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, *paths],
        capture_output=True,
        check=False,
    )
    if archived.returncode != 0:
        raise ArchiveError(
            f"cannot read commit {commit} (a clone with full history is needed): "
            + archived.stderr.decode(errors="replace")
        )
    with tarfile.open(fileobj=io.BytesIO(archived.stdout)) as archive:
        archive.extractall(dest, filter="data")
    for stack_file in (dest / "stacks").glob("Pulumi.*.yaml"):
        stack_file.unlink()
    os.symlink(REPO / ".venv", dest / ".venv")
    return dest
