"""`scripts/toolchain.py env` accepts a real installed CLI, and refuses it without the plugin.

The built toolset stands in for a stock install here: its `pulumi` is put on PATH and its
PULUMI_HOME holds the kubernetes plugin, as `pulumi plugin install` would leave them, and the
installed mode is forced (AWMS_TOOLCHAIN=installed) so the check runs on the real binary.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit import test_pulumi_compat as unit
from tests.unit.test_pulumi_compat import MINIMUM, PLUGIN, exports

pytestmark = pytest.mark.integration


def run_env(toolchain_bin: Path, pulumi_home: Path, tmp_path: Path) -> Any:
    """`toolchain.py env` with the built CLI on PATH, forced to the installed mode."""
    return unit.run_env(
        tmp_path,
        f"{toolchain_bin}{os.pathsep}/usr/bin{os.pathsep}/bin",
        PULUMI_HOME=str(pulumi_home),
    )


def test_real_cli_with_its_plugin_is_accepted_and_runs(toolchain_bin: Path, tmp_path: Path) -> None:
    home = toolchain_bin.parent / "pulumi-home"
    result = run_env(toolchain_bin, home, tmp_path)
    assert result.returncode == 0, result.stderr
    values = exports(result.stdout)
    assert values["PATH"].split(os.pathsep)[0] == str(toolchain_bin)
    assert values["PULUMI_HOME"] == str(home)
    version = subprocess.run(
        ["pulumi", "version"],
        env={"HOME": str(tmp_path), **values},
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == f"v{MINIMUM}"


def test_real_cli_without_the_plugin_is_refused(toolchain_bin: Path, tmp_path: Path) -> None:
    empty_home = tmp_path / "pulumi-home"
    empty_home.mkdir()
    result = run_env(toolchain_bin, empty_home, tmp_path)
    assert result.returncode != 0
    assert result.stdout == ""
    assert f"the kubernetes plugin {PLUGIN} is not installed (installed: none)" in result.stderr
