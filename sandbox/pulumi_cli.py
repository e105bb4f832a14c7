"""Drive the real Pulumi CLI against a project directory and a sandbox's environment.

Tests, the demo and the benchmarks all run `pulumi` the way a pipeline does (a subprocess with
`--non-interactive`), so what they check is what a reviewer and a pipeline would see.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class PulumiCommandError(RuntimeError):
    """A pulumi command exited non-zero; carries its output for the failure message."""

    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        tail = (result.stdout[-4000:] + "\n" + result.stderr[-4000:]).strip()
        super().__init__(f"pulumi {' '.join(args)} exited {result.returncode}:\n{tail}")


@dataclass(frozen=True)
class CommandResult:
    """What one pulumi invocation printed and how long it took."""

    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class PulumiCli:
    """A pulumi CLI bound to one project directory, stack and environment."""

    project_dir: Path
    stack: str
    env: Mapping[str, str]
    timeout: float = 900.0
    history: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, stack: bool = True) -> CommandResult:
        argv = ["pulumi", *args, "--non-interactive"]
        if stack:
            argv += ["--stack", self.stack]
        started = time.monotonic()
        result = _run_bounded(argv, self.project_dir, self.env, self.timeout)
        seconds = time.monotonic() - started
        self.history.append((tuple(args), seconds))
        if check and result.returncode != 0:
            raise PulumiCommandError(args, result)
        return CommandResult(result.stdout, result.stderr, seconds)

    def init_stack(self) -> None:
        """Create the stack if the backend does not have it yet (idempotent)."""
        self.run("stack", "select", "--create", self.stack, stack=False)

    def config_set(self, key: str, value: str, *, secret: bool = False) -> None:
        args = ["config", "set", key, value]
        if secret:
            args.append("--secret")
        self.run(*args)

    def up(self, *extra: str) -> CommandResult:
        return self.run("up", "--yes", "--skip-preview", "--diff", *extra)

    def preview(self, *extra: str) -> CommandResult:
        return self.run("preview", "--diff", *extra)

    def preview_json(self, *extra: str) -> dict[str, Any]:
        result = self.run("preview", "--json", *extra)
        parsed: dict[str, Any] = json.loads(result.stdout)
        return parsed

    def refresh(self, *extra: str) -> CommandResult:
        return self.run("refresh", "--yes", "--skip-preview", *extra)

    def destroy(self, *extra: str) -> CommandResult:
        return self.run("destroy", "--yes", "--skip-preview", *extra)

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json"]
        if show_secrets:
            args.append("--show-secrets")
        parsed: dict[str, Any] = json.loads(self.run(*args).stdout or "{}")
        return parsed

    def export_state(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.run("stack", "export").stdout)
        return parsed


def _run_bounded(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; past ``timeout`` kill it with its plugins, which ``subprocess.run`` leaves
    running (they would hold CPU and connections for the rest of a test session)."""
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def change_summary(preview: Mapping[str, Any]) -> dict[str, int]:
    """The per-operation counts of a `pulumi preview --json`, without the unchanged ones."""
    summary = preview.get("changeSummary") or {}
    return {op: int(n) for op, n in summary.items() if op != "same" and int(n) > 0}


def changed_urns(preview: Mapping[str, Any]) -> list[str]:
    """URNs of every step in a JSON preview that is not a no-op."""
    return [
        step["urn"]
        for step in preview.get("steps", [])
        if step.get("op") not in (None, "same", "read")
    ]
