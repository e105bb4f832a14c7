"""`scripts/toolchain.py env` with an installed Pulumi: the version checks and the exports.

A fake ``pulumi`` on PATH prints the version and plugin list a stock install would, so every
boundary can be tried; tests/integration/test_installed_pulumi.py runs the same check against
the real, built CLI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLCHAIN = ROOT / "scripts" / "toolchain.py"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


compat = _load("pulumi_compat")
toolchain = _load("toolchain")
MINIMUM = toolchain.PULUMI_VERSION
PLUGIN = toolchain.KUBERNETES_PROVIDER_VERSION


def fake_pulumi(
    directory: Path, version: str, plugins: list[tuple[str, str]], *, host: bool = True
) -> Path:
    """A `pulumi` that answers `version` and `plugin ls --json` like the real one."""
    directory.mkdir(parents=True, exist_ok=True)
    listing = json.dumps(
        [{"name": name, "kind": "resource", "version": ver} for name, ver in plugins]
    )
    script = directory / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = version ]; then echo "{version}"; exit 0; fi\n'
        f"if [ \"$1 $2\" = 'plugin ls' ]; then echo '{listing}'; exit 0; fi\n"
        "echo unexpected >&2; exit 3\n"
    )
    script.chmod(0o755)
    if host:
        (directory / compat.LANGUAGE_HOST).write_text("#!/bin/sh\n")
        (directory / compat.LANGUAGE_HOST).chmod(0o755)
    return directory


def run_env(
    tmp_path: Path, path: str, choice: str = "installed", **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": path,
        "AWMS_TOOLCHAIN": choice,
        # An empty cache: nothing is built there, whatever this machine has.
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        **extra,
    }
    return subprocess.run(
        [sys.executable, str(TOOLCHAIN), "env"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def exports(stdout: str) -> dict[str, str]:
    pairs = (line.removeprefix("export ").partition("=") for line in stdout.splitlines())
    return {key: value.strip("'") for key, _, value in pairs}


SYSTEM_PATH = "/usr/bin:/bin"


@pytest.mark.parametrize(
    ("found", "compatible"),
    [
        (f"v{MINIMUM}", True),
        (MINIMUM, True),
        ("v3.300.1", True),
        ("v3.300.1-alpha.5+dirty", True),
        ("v3.258.9", False),
        ("v2.999.0", False),
        ("v4.0.0", False),
        ("pulumi is not installed", False),
    ],
)
def test_cli_version_boundaries(found: str, compatible: bool) -> None:
    assert (compat.cli_problem(found, MINIMUM) is None) is compatible


def test_plugin_must_be_the_exact_version_the_sdk_asks_for() -> None:
    assert compat.plugin_problem([("resource", "kubernetes", PLUGIN)], "kubernetes", PLUGIN) is None
    assert (
        compat.plugin_problem([("resource", "kubernetes", f"v{PLUGIN}")], "kubernetes", PLUGIN)
        is None
    )
    problem = compat.plugin_problem(
        [("resource", "kubernetes", "4.24.0"), ("language", "kubernetes", PLUGIN)],
        "kubernetes",
        PLUGIN,
    )
    assert problem is not None
    assert "installed: 4.24.0" in problem
    assert f"pulumi plugin install resource kubernetes {PLUGIN}" in problem


def test_compatible_install_is_used(tmp_path: Path) -> None:
    bin_dir = fake_pulumi(tmp_path / "stock", f"v{MINIMUM}", [("kubernetes", PLUGIN)])
    result = run_env(tmp_path, f"{bin_dir}{os.pathsep}{SYSTEM_PATH}")
    assert result.returncode == 0, result.stderr
    values = exports(result.stdout)
    assert values["PATH"].split(os.pathsep)[0] == str(bin_dir)
    assert values["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert "AWMS_TOOLS_BIN" not in values  # not the project's toolset


def test_auto_falls_back_to_the_install_when_nothing_is_built(tmp_path: Path) -> None:
    bin_dir = fake_pulumi(tmp_path / "stock", "v3.300.0", [("kubernetes", PLUGIN)])
    result = run_env(tmp_path, f"{bin_dir}{os.pathsep}{SYSTEM_PATH}", choice="auto")
    assert result.returncode == 0, result.stderr
    assert exports(result.stdout)["PATH"].startswith(str(bin_dir))


@pytest.mark.parametrize(
    ("version", "plugins", "host", "expected"),
    [
        ("v3.100.0", [("kubernetes", PLUGIN)], True, f"older than {MINIMUM}"),
        ("v4.1.0", [("kubernetes", PLUGIN)], True, "major version 4"),
        (f"v{MINIMUM}", [("kubernetes", "4.18.0")], True, "installed: 4.18.0"),
        (f"v{MINIMUM}", [], True, "installed: none"),
        (f"v{MINIMUM}", [("kubernetes", PLUGIN)], False, "no pulumi-language-python"),
    ],
)
def test_incompatible_install_is_refused_with_the_reason(
    tmp_path: Path, version: str, plugins: list[tuple[str, str]], host: bool, expected: str
) -> None:
    bin_dir = fake_pulumi(tmp_path / "stock", version, plugins, host=host)
    result = run_env(tmp_path, f"{bin_dir}{os.pathsep}{SYSTEM_PATH}")
    assert result.returncode != 0
    assert result.stdout == ""  # nothing for `eval` to half-apply
    assert expected in result.stderr
    assert str(bin_dir / "pulumi") in result.stderr
    assert f"pulumi plugin install resource kubernetes {PLUGIN}" in result.stderr


def test_no_toolchain_at_all_says_how_to_get_one(tmp_path: Path) -> None:
    result = run_env(tmp_path, SYSTEM_PATH, choice="auto")
    assert result.returncode != 0
    assert "toolset is not built" in result.stderr
    assert "scripts/toolchain.py install" in result.stderr
    assert "no `pulumi` on PATH" in result.stderr


def test_unknown_choice_is_refused(tmp_path: Path) -> None:
    result = run_env(tmp_path, SYSTEM_PATH, choice="newest")
    assert result.returncode != 0
    assert "AWMS_TOOLCHAIN must be auto, built or installed" in result.stderr


def test_the_automatic_log_directory_becomes_an_empty_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "pulumi-old.log").write_text("x")
    toolchain.turn_off_automatic_log(home)
    assert (home / "logs").is_file() and (home / "logs").read_text() == ""
    toolchain.turn_off_automatic_log(home)  # idempotent
    assert (home / "logs").is_file()
    fresh = tmp_path / "fresh"
    toolchain.turn_off_automatic_log(fresh)
    assert (fresh / "logs").is_file()
