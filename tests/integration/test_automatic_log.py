"""The real CLI writes an automatic log under PULUMI_HOME/logs, and writes none once
`scripts/toolchain.py install` has turned that directory into an empty file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_pulumi_compat import toolchain

pytestmark = pytest.mark.integration


def stack_ls(toolchain_bin: Path, home: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`pulumi stack ls` on an empty file backend: the CLI starts, loads a backend, exits."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "Pulumi.yaml").write_text("name: logcheck\nruntime: python\n")
    backend = tmp_path / "backend"
    backend.mkdir(exist_ok=True)
    env = {
        "HOME": str(tmp_path),
        "PATH": f"{toolchain_bin}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": backend.as_uri(),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
    }
    return subprocess.run(
        ["pulumi", "stack", "ls", "--non-interactive"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_cli_logs_every_command_until_the_log_directory_is_a_file(
    toolchain_bin: Path, tmp_path: Path
) -> None:
    home = tmp_path / "pulumi-home"
    (home / "logs").mkdir(parents=True)
    first = stack_ls(toolchain_bin, home, tmp_path)
    assert first.returncode == 0, first.stderr
    assert list((home / "logs").iterdir()), "the CLI wrote no automatic log"

    toolchain.turn_off_automatic_log(home)
    assert (home / "logs").is_file() and (home / "logs").stat().st_size == 0
    second = stack_ls(toolchain_bin, home, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "log" not in second.stderr.lower()
    assert (home / "logs").is_file() and (home / "logs").stat().st_size == 0
    assert not [p for p in home.rglob("*") if p.name.endswith(".log")]
