"""The Pulumi program side of the benchmark: a private copy, a fresh stack, the CLI steps.

Each step is one `pulumi` invocation exactly as a pipeline runs it (non-interactive, the file
backend, secrets by passphrase), so its wall time includes what a user waits for: starting the
language host and plugins, the engine, the providers and every state checkpoint. The program runs
from a copy of the project (like the end-to-end tests) so the benchmark never writes a stack file
into the checkout. ``up`` skips its own preview because ``preview`` is measured on its own.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.watch.checkpoints import checkpoint_path, read_checkpoint
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary, changed_urns

PROJECT = "awms-browser-workspaces"
STEP_TIMEOUT = 4 * 3600.0


@dataclass
class StateSize:
    """The checkpoint the file backend rewrites after every resource operation.

    ``by_type`` splits the exported state (compact JSON bytes, resource count) by resource type,
    which is what a decision on resources-per-binding needs.
    """

    json_bytes: int
    """The checkpoint's JSON, which the CLI encodes and writes on every checkpoint."""
    file_bytes: int
    """The file on disk: the same, or fewer when the CLI compresses it (``.json.zst``)."""
    resources: int
    by_type: dict[str, dict[str, int]]

    def as_json(self) -> dict[str, Any]:
        return {
            "bytes": self.json_bytes,
            "file_bytes": self.file_bytes,
            "resources": self.resources,
            "by_type": self.by_type,
        }


def state_by_type(resources: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Compact-JSON bytes and count of the exported state's resources, per type, largest first."""
    totals: dict[str, dict[str, int]] = {}
    for resource in resources:
        kind = str(resource.get("type", "?"))
        entry = totals.setdefault(kind, {"resources": 0, "bytes": 0})
        entry["resources"] += 1
        entry["bytes"] += len(json.dumps(resource, separators=(",", ":")))
    return dict(sorted(totals.items(), key=lambda item: -item[1]["bytes"]))


class ProgramSide:
    """One stack of the program on the sandbox, configured like production."""

    def __init__(
        self,
        box: Sandbox,
        project_dir: Path,
        stack: str,
        *,
        bindings_namespace: str,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        env = box.env()
        env["PULUMI_CONFIG_PASSPHRASE"] = secrets.token_urlsafe(16)
        # The providers must get the DSN from secret stack config, as in production.
        env.pop("AWMS_GUACAMOLE_DATABASE_URL", None)
        env.update(extra_env or {})
        self._box = box
        self.stack = stack
        self.last_preview_types: dict[str, int] = {}
        self.cli = PulumiCli(project_dir, stack, env, timeout=STEP_TIMEOUT)
        self.cli.init_stack()
        self.cli.config_set("bindingsSource", "cluster")
        self.cli.config_set("bindingsNamespace", bindings_namespace)
        self.cli.config_set("namespace", BROWSER_NAMESPACE)
        self.cli.config_set("kubeconfig", str(box.kube.kubeconfig))
        self.cli.config_set("guacamoleDatabaseUrl", box.database_url, secret=True)

    # -- steps (each returns the number of resources the engine changed) -----------------------
    def up(self) -> int:
        self.cli.run("up", "--yes", "--skip-preview")
        return self.last_changes()

    def preview(self) -> int:
        result = self.cli.run("preview", "--json")
        parsed: dict[str, Any] = json.loads(result.stdout)
        types: dict[str, int] = {}
        for urn in changed_urns(parsed):
            kind = urn.split("::")[-2].rsplit("$", 1)[-1]
            types[kind] = types.get(kind, 0) + 1
        self.last_preview_types = types
        return sum(change_summary(parsed).values())

    def destroy(self) -> int:
        self.cli.run("destroy", "--yes", "--skip-preview")
        return self.last_changes()

    # -- observations (outside the timed steps) --------------------------------------------------
    def last_changes(self) -> int:
        """Resources created, updated, deleted or replaced by the last update, from its history."""
        return sum(self.last_change_summary().values())

    def last_change_summary(self) -> dict[str, int]:
        history = json.loads(self.cli.run("stack", "history", "--json").stdout or "[]")
        if not history:
            return {}
        changes: dict[str, int] = history[0].get("resourceChanges") or {}
        return {op: int(n) for op, n in changes.items() if op != "same" and int(n) > 0}

    def state_size(self) -> StateSize:
        path = checkpoint_path(self._box.backend_dir, PROJECT, self.stack)
        exists = path.exists()
        exported = self.cli.export_state()
        resources = exported.get("deployment", {}).get("resources") or []
        return StateSize(
            json_bytes=len(read_checkpoint(path)) if exists else 0,
            file_bytes=path.stat().st_size if exists else 0,
            resources=len(resources),
            by_type=state_by_type(resources),
        )

    def remove(self) -> None:
        """Forget the stack (after a destroy)."""
        self.cli.run("stack", "rm", "--yes", "--force")
