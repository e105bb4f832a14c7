"""A private, runnable copy of the Pulumi program for tests and benchmarks.

Tests and benchmarks run the program from a copy so they can edit code (a comment-only change
must preview as no change) or keep their own stack files without touching the checkout, and so
two runs never share a stack. The copy shares the checkout's virtualenv through a symlink.
"""

from __future__ import annotations

import os
import shutil
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
