"""Run the Pulumi program against the configured stack through the Automation API.

One :class:`StackRunner` per stack: a ``LocalWorkspace`` on the project directory (so the CLI
runs the real ``__main__.py`` with the stack's own configuration), the selected stack, and an
:class:`InterruptiblePulumiCommand` so a shutdown can stop a run the way Ctrl-C does. Every
operation returns a :class:`RunOutcome` instead of raising, because the worker's job is to
retry and report failures, not to die of them.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.automation import (
    CommandError,
    ConcurrentUpdateError,
    EngineEvent,
    LocalWorkspace,
    Stack,
)

from components.guacamole.settings import CONFIG_KEY, PROJECT_NAME
from components.watch.drift import DriftCheck
from components.watch.locks import LockKeeper, backend_root
from components.watch.overrides import Project
from components.watch.pulumi_process import InterruptiblePulumiCommand
from components.watch.state_history import history_directories, prune_history

log = logging.getLogger(__name__)
engine_log = logging.getLogger("components.watch.engine")


@dataclass
class RunOutcome:
    """What one ``up``/``preview`` did; ``error`` is empty on success."""

    operation: str
    seconds: float = 0.0
    changes: dict[str, int] = field(default_factory=dict)
    error: str = ""
    locked: bool = False
    failed_urns: list[str] = field(default_factory=list)
    stdout: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class _EventCollector:
    """Engine events worth keeping: error diagnostics, failed URNs, the change summary."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.failed_urns: list[str] = []
        self.changes: dict[str, int] = {}

    def read(self, path: Path) -> None:
        """Replay an ``--event-log`` file (one JSON event per line) once the CLI has exited."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        for line in lines:
            try:
                event = EngineEvent.from_json(json.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
            self(event)

    def __call__(self, event: EngineEvent) -> None:
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity == "error":
            message = diagnostic.message.strip()
            if message:
                self.errors.append(message)
                engine_log.error("%s%s", f"{diagnostic.urn}: " if diagnostic.urn else "", message)
            if diagnostic.urn:
                self.failed_urns.append(diagnostic.urn)
        elif diagnostic is not None and diagnostic.severity == "warning":
            engine_log.warning("%s", diagnostic.message.strip())
        failed = event.res_op_failed_event
        if failed is not None and failed.metadata.urn:
            self.failed_urns.append(failed.metadata.urn)
        summary = event.summary_event
        if summary is not None:
            self.changes = _changes(summary.resource_changes or {})


class StackRunner:
    def __init__(
        self,
        project: Project,
        stack_name: str,
        *,
        command: InterruptiblePulumiCommand | None = None,
        env: Mapping[str, str] | None = None,
        backend: str | None = None,
        keep_history: int = 0,
    ) -> None:
        """``backend``: the backend URL when the caller already asked for it (it cannot change
        while the process runs, and each ask is a CLI start). ``keep_history``: updates kept in
        a file backend's history after each ``up`` (:mod:`components.watch.state_history`)."""
        self.project = project
        self.stack_name = stack_name
        self.command = command or InterruptiblePulumiCommand()
        self.env = dict(env or {})
        self._backend = backend
        self.keep_history = keep_history
        self.workspace = LocalWorkspace(
            work_dir=str(project.directory), pulumi_command=self.command, env_vars=self.env
        )
        self.stack = Stack.select(stack_name, self.workspace)
        self.drift: DriftCheck | None = None

    def check_drift(self, every: float = 0.0, accepted: tuple[str, ...] = ()) -> DriftCheck:
        """Look for Guacamole drift before full ``up`` runs: before each one (``every`` = 0),
        or before the first one and then at most once per ``every`` seconds. ``accepted``: the
        stack's ``driftAcceptedFieldManagers``, as the caller read its settings."""
        self.drift = DriftCheck(self, every=every, accepted_managers=accepted)
        return self.drift

    def backend_url(self) -> str | None:
        """The backend this stack lives in (``file://...`` for a DIY backend)."""
        if self._backend is None:
            self._backend = backend_url(self.project, self.command, self.env)
        return self._backend

    def lock_keeper(self, foreign_lock_timeout: float) -> LockKeeper:
        """The keeper of this stack's locks (it keeps none on a non-file backend)."""
        return LockKeeper(
            backend_root(self.backend_url()),
            self.project.name,
            self.stack_name,
            foreign_lock_timeout=foreign_lock_timeout,
        )

    def up(
        self,
        *,
        targets: Sequence[str] | None = None,
        config_file: Path | None = None,
        continue_on_error: bool = False,
        message: str = "",
    ) -> RunOutcome:
        """``pulumi up`` of this stack, the way ``Stack.up`` runs it, minus its read-backs.

        ``Stack.up`` follows every update with ``stack output`` (twice) and ``stack history``,
        each loading the whole checkpoint; at 1,000 bindings that adds seconds during which the
        next login waits. The change counts and failures come from the engine's event log
        instead, which this reads once the CLI has exited.
        """
        operation = "targeted up" if targets else "up"
        if not targets and self.drift is not None:
            self.drift.run_if_due()
        args = ["up", "--yes", "--skip-preview", "--color", "never", "--suppress-progress"]
        for urn in targets or ():
            args += ["--target", urn]
        if targets:
            args.append("--target-dependents")
        if config_file is not None:
            args += ["--config-file", str(config_file)]
        if continue_on_error:
            args.append("--continue-on-error")
        if message:
            args += ["--message", message]
        events = _EventCollector()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="awms-watch-events-") as tmp:
            event_log = Path(tmp) / "events.jsonl"
            args += ["--event-log", str(event_log), "--exec-kind", "auto.local"]
            args += ["--stack", self.stack_name]
            # The CLI only offers --event-log when debug commands are on (as Stack.up sets).
            env = {**self.env, "PULUMI_DEBUG_COMMANDS": "true"}
            try:
                self.command.run(args, str(self.project.directory), env, _debug_line)
            except ConcurrentUpdateError as error:
                return RunOutcome(
                    operation, time.monotonic() - started, error=_tail(error), locked=True
                )
            except CommandError as error:
                events.read(event_log)
                self._prune_history()
                return RunOutcome(
                    operation,
                    time.monotonic() - started,
                    error=_failure_text(events.errors, error),
                    failed_urns=_unique(events.failed_urns),
                )
            events.read(event_log)
        self._prune_history()
        return RunOutcome(operation, time.monotonic() - started, changes=events.changes)

    def _prune_history(self) -> None:
        if self.keep_history <= 0:
            return
        root = backend_root(self.backend_url())
        if root is None:
            return
        directories = history_directories(root, self.project.name, self.stack_name)
        removed = prune_history(directories, self.stack_name, self.keep_history)
        if removed:
            log.info(
                "%s: removed %d file(s) of updates older than the newest %d",
                self.stack_name,
                len(removed),
                self.keep_history,
            )

    def preview(
        self,
        *,
        config_file: Path | None = None,
        diff: bool = True,
        on_event: Callable[[EngineEvent], None] | None = None,
    ) -> RunOutcome:
        """``pulumi preview``; ``on_event`` also sees every engine event (a review's steps)."""
        events = _EventCollector()

        def both(event: EngineEvent) -> None:
            events(event)
            if on_event is not None:
                on_event(event)

        started = time.monotonic()
        try:
            result = self.stack.preview(
                config_file=str(config_file) if config_file else None,
                diff=diff,
                on_event=both,
                color="never",
                suppress_progress=True,
            )
        except CommandError as error:
            return RunOutcome(
                "preview", time.monotonic() - started, error=_failure_text(events.errors, error)
            )
        changes = _changes(result.change_summary or {})
        return RunOutcome(
            "preview", time.monotonic() - started, changes=changes, stdout=result.stdout
        )

    def export(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """The stack state (``pulumi stack export``), secrets encrypted unless ``show_secrets``."""
        args = ["stack", "export", "--stack", self.stack_name]
        if show_secrets:
            args.append("--show-secrets")
        result = self.command.run(args, str(self.project.directory), self.env)
        parsed: dict[str, Any] = json.loads(result.stdout or "{}")
        return parsed

    def database_url(self) -> str | None:
        """The Guacamole database URL from the stack's (secret) config, None if unset."""
        try:
            result = self.command.run(
                ["config", "get", f"{PROJECT_NAME}:{CONFIG_KEY}", "--stack", self.stack_name],
                str(self.project.directory),
                self.env,
            )
        except CommandError:
            return None
        return result.stdout.strip() or None

    def refresh(self, targets: Sequence[str]) -> str:
        """``pulumi refresh`` of exactly ``targets`` (no program run); error text or ""."""
        if not targets:
            return ""
        args = ["refresh", "--yes", "--skip-preview", "--color", "never", "--suppress-progress"]
        for urn in targets:
            args += ["--target", urn]
        args += ["--stack", self.stack_name]
        try:
            self.command.run(args, str(self.project.directory), self.env, _debug_line)
        except CommandError as error:
            return _tail(error)
        return ""

    def config_values(self) -> dict[str, Any]:
        """The stack's configuration, secrets left out (``pulumi config --json``), by key."""
        return config_values(self.project, self.stack_name, self.command, self.env)

    def import_state(self, state: Mapping[str, Any]) -> None:
        """``pulumi stack import`` (which also drops pending operations)."""
        fd, name = tempfile.mkstemp(prefix="awms-watch-state-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(state, file)
            self.command.run(
                ["stack", "import", "--file", name, "--stack", self.stack_name],
                str(self.project.directory),
                self.env,
            )
        finally:
            os.unlink(name)

    def interrupt(self) -> bool:
        return self.command.interrupt()

    def running(self) -> bool:
        return self.command.running()


def _debug_line(line: str) -> None:
    if line.strip():
        engine_log.debug("%s", line)


def _changes(summary: Mapping[Any, Any]) -> dict[str, int]:
    """Operation counts without the unchanged ones (keys are ``OpType`` enums or strings)."""
    counts = {str(getattr(op, "value", op)): int(n) for op, n in summary.items()}
    return {op: n for op, n in counts.items() if op != "same" and n}


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _tail(error: CommandError, limit: int = 2000) -> str:
    text = str(error).strip()
    return text[-limit:]


def _failure_text(errors: Sequence[str], error: CommandError) -> str:
    """The engine's own error diagnostics when there are any, else the CLI's output tail."""
    if errors:
        return "\n".join(_unique(errors))[:4000]
    return _tail(error) or "pulumi failed without a message"


def backend_url(
    project: Project, command: InterruptiblePulumiCommand, env: Mapping[str, str]
) -> str | None:
    """The backend the project's stacks live in (``pulumi whoami``; no stack is selected)."""
    result = command.run(["whoami", "--json"], str(project.directory), dict(env))
    url = json.loads(result.stdout or "{}").get("url")
    return url if isinstance(url, str) and url else None


def config_values(
    project: Project, stack: str, command: InterruptiblePulumiCommand, env: Mapping[str, str]
) -> dict[str, Any]:
    """``stack``'s configuration, secrets left out (``pulumi config --json``), by key."""
    result = command.run(["config", "--json", "--stack", stack], str(project.directory), dict(env))
    parsed = json.loads(result.stdout or "{}")
    prefix = f"{project.name}:"
    values: dict[str, Any] = {}
    for key, entry in parsed.items():
        if not isinstance(entry, Mapping) or entry.get("secret"):
            continue
        value = entry.get("objectValue", entry.get("value"))
        values[key.removeprefix(prefix)] = value
    return values
