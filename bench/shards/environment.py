"""A sharded environment on the sandbox, driven the way a pipeline drives it.

``up`` and ``preview`` are ``python -m components.watch`` (what ``scripts/watch`` runs), so their
wall time includes everything a pipeline job waits for: reading the bindings, the digests, the
CLI start-ups, the programs of the touched shards and the checkpoints. The runner logs as JSON
lines; each run's log is kept under the work directory and its shard lines are parsed into the
results (which shards ran and how long each took), so where the time went can be read later.
``destroy`` has no pipeline command: every shard stack is destroyed with the CLI, at most one
per core, as ``up`` runs them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.program import PROJECT, state_by_type
from components.sharding import shard_stack_name
from components.watch.checkpoints import checkpoint_path, read_checkpoint
from sandbox.pulumi_cli import PulumiCli

_SHARDS_LINE = re.compile(r"(\d+) shard\(s\), (\d+) (?:to update|touched)")
_SHARD_DONE = re.compile(r"^(\S+): (updated|FAILED) in ([\d.]+)s$")
LOG_LINES_KEPT = 400


class WatchRunError(RuntimeError):
    """A pipeline command exited non-zero; the message holds its log's tail."""


@dataclass
class RunLog:
    """What one pipeline command logged: touched shards, per-shard seconds, timed messages."""

    touched: int = 0
    shard_seconds: dict[str, float] = field(default_factory=dict)
    messages: list[tuple[float, str, str]] = field(default_factory=list)
    """(seconds since the command started, logger, message)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "shards_touched": self.touched,
            "shard_seconds": self.shard_seconds,
            "log": [[round(t, 2), name, text] for t, name, text in self.messages],
        }


def parse_log(text: str, started: float) -> RunLog:
    """The runner's JSON log lines (others, such as engine output, are skipped)."""
    result = RunLog()
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["time"]).timestamp() - started
            message = str(entry["message"])
        except (ValueError, KeyError, TypeError):
            continue
        if len(result.messages) < LOG_LINES_KEPT:
            result.messages.append((at, str(entry.get("logger", "")), message[:300]))
        if (found := _SHARDS_LINE.search(message)) is not None:
            result.touched = int(found.group(2))
        if (done := _SHARD_DONE.match(message)) is not None:
            result.shard_seconds[done.group(1)] = float(done.group(3))
    return result


class ShardedEnvironment:
    """The environment ``name`` of ``shards`` shards, its own stack already configured."""

    def __init__(self, cli: PulumiCli, shards: int, backend: Path, logs: Path) -> None:
        self.cli = cli
        self.name = cli.stack
        self.shards = shards
        self.backend = backend
        self.logs = logs
        self.last = RunLog()
        self._runs = 0
        self.target = self.name
        """The ``--stack`` of the pipeline commands: the environment, or one shard of it."""
        cli.config_set("shards", str(shards))

    def stacks(self) -> list[str]:
        return [shard_stack_name(self.name, i) for i in range(self.shards)]

    # -- measured steps (each returns how many shards it ran) -------------------------------
    def up(self) -> int:
        return self._watch("up")

    def preview(self, bindings_file: Path, *, all_shards: bool = False) -> int:
        extra = ["--all-shards"] if all_shards else []
        return self._watch("preview", "--bindings-file", str(bindings_file), *extra)

    def destroy(self) -> int:
        """Destroy every shard stack, at most one per core (``destroy`` runs no program)."""

        def one(stack: str) -> None:
            PulumiCli(self.cli.project_dir, stack, self.cli.env, timeout=self.cli.timeout).run(
                "destroy", "--yes", "--skip-preview"
            )

        workers = max(1, min(self.shards, os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, self.stacks()))
        return self.shards

    # -- observations and clean-up (never timed) ---------------------------------------------
    def state(self) -> dict[str, Any]:
        """Bytes and resources of every shard's checkpoint, the largest, and by type.

        ``bytes`` is the JSON the engine encodes at every checkpoint write; ``file_bytes`` what
        is on disk, less than that when the CLI compresses its checkpoints."""
        stacks: dict[str, dict[str, int]] = {}
        by_type: dict[str, dict[str, int]] = {}
        for stack in self.stacks():
            path = checkpoint_path(self.backend, PROJECT, stack)
            text = read_checkpoint(path) if path.exists() else b""
            latest = (json.loads(text).get("checkpoint") or {}).get("latest") if text else None
            resources = (latest or {}).get("resources") or []
            stacks[stack] = {
                "bytes": len(text),
                "file_bytes": path.stat().st_size if text else 0,
                "resources": len(resources),
            }
            for kind, entry in state_by_type(resources).items():
                total = by_type.setdefault(kind, {"resources": 0, "bytes": 0})
                total["resources"] += entry["resources"]
                total["bytes"] += entry["bytes"]
        largest = max(stacks, key=lambda s: stacks[s]["bytes"])
        return {
            "shards": self.shards,
            "bytes": sum(s["bytes"] for s in stacks.values()),
            "file_bytes": sum(s["file_bytes"] for s in stacks.values()),
            "resources": sum(s["resources"] for s in stacks.values()),
            "largest_stack": largest,
            "largest_bytes": stacks[largest]["bytes"],
            "stacks": stacks,
            "by_type": dict(sorted(by_type.items(), key=lambda item: -item[1]["bytes"])),
        }

    def remove(self) -> None:
        """Forget the shard stacks and the environment's own (after the destroy)."""
        for stack in [*self.stacks(), self.name]:
            PulumiCli(self.cli.project_dir, stack, self.cli.env).run(
                "stack", "rm", "--yes", "--force"
            )

    def _watch(self, command: str, *args: str) -> int:
        self._runs += 1
        argv = [
            sys.executable, "-m", "components.watch", command, *args,
            "--stack", self.target, "--project-dir", str(self.cli.project_dir),
            "--log-format", "json",
        ]  # fmt: skip
        started = time.time()
        result = subprocess.run(
            argv,
            cwd=self.cli.project_dir,
            env=dict(self.cli.env),
            capture_output=True,
            text=True,
            timeout=self.cli.timeout,
            check=False,
        )
        self.logs.mkdir(parents=True, exist_ok=True)
        log_file = self.logs / f"{self._runs:02d}-{command}.log"
        log_file.write_text(result.stdout + result.stderr, encoding="utf-8")
        if result.returncode != 0:
            tail = (result.stdout + result.stderr)[-3000:]
            raise WatchRunError(
                f"components.watch {command} exited {result.returncode} (log {log_file}):\n{tail}"
            )
        self.last = parse_log(result.stdout, started)
        return self.last.touched
