"""A ``PulumiCommand`` whose running CLI process can be interrupted gracefully.

The Automation API runs the CLI in a subprocess it does not expose, and ``Stack.cancel()`` on a
DIY backend only deletes lock files (the update keeps running). A clean stop needs what Ctrl-C
does: SIGINT to the CLI, which stops starting new steps, waits for in-flight ones, saves the
state and releases the lock. So this subclass keeps the process handle, and starts the CLI in its
own session so a signal aimed at the watcher (terminal Ctrl-C, the container's SIGTERM) reaches
the watcher only, which then decides whether to let the run finish or interrupt it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from typing import IO, Any

from pulumi.automation import CommandResult, OnOutput, PulumiCommand
from pulumi.automation.errors import create_command_error

_CHECKED: dict[tuple[str | None, str], tuple[str, Any]] = {}
"""The CLI path and version each (root, PATH) resolved to, checked once per process."""


class InterruptiblePulumiCommand(PulumiCommand):
    """Runs CLI commands and can SIGINT the ones running (a stack's runner runs one at a time;
    creating an environment's missing shard stacks runs several side by side).

    ``PulumiCommand`` runs ``pulumi version`` to check the CLI in its constructor; an environment
    run makes one command per shard it runs, so the check is made once per process.
    """

    def __init__(self, root: str | None = None) -> None:
        key = (root, os.environ.get("PATH", ""))
        if key in _CHECKED:
            self.command, self.version = _CHECKED[key]
        else:
            super().__init__(root=root)
            _CHECKED[key] = (self.command, self.version)
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen[str]] = set()

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        """Same contract as :meth:`PulumiCommand.run` (raises ``CommandError`` on failure)."""
        separator = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:separator]:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        if os.path.isabs(self.command):
            env["PATH"] = os.pathsep.join([os.path.dirname(self.command), env.get("PATH", "")])
        stdout_chunks: list[str] = []
        stderr_chunks: list[str] = []
        with subprocess.Popen(
            [self.command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        ) as process:
            with self._lock:
                self._processes.add(process)
            try:
                readers = [
                    threading.Thread(
                        target=_consume,
                        args=(process.stdout, on_output, stdout_chunks),
                        daemon=True,
                    ),
                    threading.Thread(
                        target=_consume, args=(process.stderr, on_error, stderr_chunks), daemon=True
                    ),
                ]
                for reader in readers:
                    reader.start()
                for reader in readers:
                    reader.join()
                code = process.wait()
            finally:
                with self._lock:
                    self._processes.discard(process)
        result = CommandResult(
            stdout="\n".join(stdout_chunks), stderr="\n".join(stderr_chunks), code=code
        )
        if code != 0:
            raise create_command_error(result)
        return result

    def running(self) -> bool:
        with self._lock:
            return any(process.poll() is None for process in self._processes)

    def interrupt(self) -> bool:
        """Ask every running CLI to stop gracefully (SIGINT); False if nothing is running."""
        with self._lock:
            alive = [process for process in self._processes if process.poll() is None]
            for process in alive:
                process.send_signal(signal.SIGINT)
            return bool(alive)


def _consume(stream: IO[str] | None, callback: OnOutput | None, chunks: list[str]) -> None:
    if stream is None:
        return
    for line in iter(stream.readline, ""):
        stripped = line.rstrip()
        if callback:
            callback(stripped)
        chunks.append(stripped)
    stream.close()
