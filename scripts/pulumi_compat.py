"""Use a Pulumi CLI and kubernetes plugin that are already installed, once they are checked.

Why: a CI image with a stock Pulumi install (the get.pulumi.com installer, the pulumi/pulumi
image) should not have to build the project's own toolchain. It works when the CLI is at least
as new as the Python SDK the program runs on (the SDK may use engine features of its release,
and a different major version is a different protocol), when it has its Python language host,
and when the kubernetes plugin of exactly the version the program's pulumi-kubernetes SDK asks
for is installed (the engine would otherwise try to download it, or fail). Anything else is
refused up front with what was found and what to install, instead of failing mid-run.

Only the standard library: this runs before any virtualenv exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")
LANGUAGE_HOST = "pulumi-language-python"


class IncompatibleToolchainError(RuntimeError):
    """No usable installed Pulumi; the message says what was found and what is needed."""


@dataclass(frozen=True)
class InstalledPulumi:
    """What an installed CLI reports about itself."""

    path: Path
    version: str
    plugins: tuple[tuple[str, str, str], ...]  # (kind, name, version)
    language_host: bool


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``v3.259.0`` (or ``3.259.0``, with any pre-release/build suffix) as a tuple."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def cli_problem(found: str, minimum: str) -> str | None:
    """Why a CLI version cannot run the program, or None when it can."""
    have, want = parse_version(found), parse_version(minimum)
    if want is None:
        raise ValueError(f"bad minimum version {minimum!r}")
    if have is None:
        return f"`pulumi version` printed {found.strip()[:80]!r}, not a version"
    if have[0] != want[0]:
        return f"pulumi {found.strip()} is major version {have[0]}; the program needs {want[0]}.x"
    if have < want:
        return f"pulumi {found.strip()} is older than {minimum}, the program's Python SDK"
    return None


def plugin_problem(plugins: Sequence[tuple[str, str, str]], name: str, version: str) -> str | None:
    """Why the installed resource plugins lack ``name`` at exactly ``version``, or None."""
    versions = sorted(v for kind, n, v in plugins if kind == "resource" and n == name)
    if version.lstrip("v") in (v.lstrip("v") for v in versions):
        return None
    have = ", ".join(versions) if versions else "none"
    return (
        f"the {name} plugin {version} is not installed (installed: {have}); "
        f"install it with `pulumi plugin install resource {name} {version}`"
    )


def problems(found: InstalledPulumi, minimum: str, plugin: str, plugin_version: str) -> list[str]:
    """Every reason ``found`` cannot be used (empty: compatible)."""
    issues = [
        cli_problem(found.version, minimum),
        plugin_problem(found.plugins, plugin, plugin_version),
    ]
    if not found.language_host:
        issues.append(f"no {LANGUAGE_HOST} next to {found.path} or on PATH")
    return [issue for issue in issues if issue]


def _run(argv: Sequence[str], env: Mapping[str, str]) -> str:
    try:
        out = subprocess.run(
            list(argv), capture_output=True, text=True, env=dict(env), timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise IncompatibleToolchainError(f"`{' '.join(argv)}` could not run: {error}") from error
    if out.returncode != 0:
        raise IncompatibleToolchainError(
            f"`{' '.join(argv)}` exited {out.returncode}: {out.stderr.strip()[-400:]}"
        )
    return out.stdout


def probe(env: Mapping[str, str]) -> InstalledPulumi:
    """Ask the ``pulumi`` on ``env``'s PATH for its version and installed plugins."""
    found = shutil.which("pulumi", path=env.get("PATH", ""))
    if found is None:
        raise IncompatibleToolchainError("no `pulumi` on PATH")
    quiet = {**env, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    version = _run([found, "version"], quiet).strip()
    listed: Any = json.loads(_run([found, "plugin", "ls", "--json"], quiet) or "[]")
    plugins = tuple(
        (str(p.get("kind", "")), str(p.get("name", "")), str(p.get("version", "")))
        for p in listed or []
        if isinstance(p, dict)
    )
    path = Path(found).resolve()
    host = (path.parent / LANGUAGE_HOST).exists() or (
        shutil.which(LANGUAGE_HOST, path=env.get("PATH", "")) is not None
    )
    return InstalledPulumi(Path(found), version, plugins, host)


def installed_env(
    env: Mapping[str, str], minimum: str, plugin: str, plugin_version: str
) -> dict[str, str]:
    """The exports that make runs use the installed CLI; raises when it is incompatible."""
    found = probe(env)
    issues = problems(found, minimum, plugin, plugin_version)
    if issues:
        raise IncompatibleToolchainError(f"{found.path}: " + "; ".join(issues))
    exports = {
        "PATH": f"{found.path.parent}{os.pathsep}{env.get('PATH', '')}",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # The plugin is there (checked above): a run must never fetch another one.
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
    }
    if env.get("PULUMI_HOME"):
        exports["PULUMI_HOME"] = env["PULUMI_HOME"]
    return exports
