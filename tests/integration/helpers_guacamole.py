"""Shared by the drift and killed-run tests: the runner as a subprocess, bindings, rows, secrets."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from components import naming
from components.manifests import PASSWORD_DIGEST_ANNOTATION, password_digest
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli
from tests.factories import manifest
from tests.integration.conftest import new_stack

DEADLINE = 900.0


def binding(namespace: str, name: str, workspace: str, username: str) -> dict[str, Any]:
    return manifest(name, namespace, workspace=workspace, username=username)


def apply_bindings(sandbox: Sandbox, namespace: str, manifests: list[dict[str, Any]]) -> None:
    sandbox.kubectl("create", "namespace", namespace)
    items = {"apiVersion": "v1", "kind": "List", "items": manifests}
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(items))


def run_watch(cli: PulumiCli, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m components.watch <args> --stack ...`` the way a pipeline runs it."""
    return subprocess.run(
        [sys.executable, "-m", "components.watch", *args, "--stack", cli.stack,
         "--project-dir", str(cli.project_dir), "--backoff-initial", "1"],
        cwd=cli.project_dir, env=dict(cli.env), capture_output=True, text=True,
        timeout=DEADLINE, check=False,
    )  # fmt: skip


def stack_with_bindings(
    program_dir: Path, sandbox: Sandbox, name: str, namespace: str, manifests: list[dict[str, Any]]
) -> PulumiCli:
    """A new stack reading ``namespace``'s bindings, brought up with ``manifests`` applied."""
    cli = new_stack(program_dir, sandbox, name)
    cli.config_set("bindingsNamespace", namespace)
    apply_bindings(sandbox, namespace, manifests)
    up = run_watch(cli, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    return cli


def query(sandbox: Sandbox, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(sandbox.database_url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


def connection_parameters(sandbox: Sandbox, workspace: str) -> dict[str, dict[str, str]]:
    """Per connection name in the workspace's root group: its parameters."""
    rows = query(
        sandbox,
        "SELECT c.connection_name, p.parameter_name, p.parameter_value"
        " FROM guacamole_connection AS c"
        " JOIN guacamole_connection_group AS g ON g.connection_group_id = c.parent_id"
        " JOIN guacamole_connection_parameter AS p ON p.connection_id = c.connection_id"
        " WHERE g.connection_group_name = %s AND g.parent_id IS NULL",
        workspace,
    )
    found: dict[str, dict[str, str]] = {}
    for name, key, value in rows:
        found.setdefault(name, {})[key] = value
    return found


def secret_password(sandbox: Sandbox, workspace: str, username: str) -> str:
    name = naming.vnc_secret_name(naming.deployment_name(workspace, username))
    body = json.loads(sandbox.kubectl("get", "secret", name, "-n", BROWSER_NAMESPACE, "-o", "json"))
    return base64.b64decode(body["data"]["password"]).decode()


def pod_digest(sandbox: Sandbox, workspace: str, username: str) -> str | None:
    name = naming.deployment_name(workspace, username)
    body = json.loads(
        sandbox.kubectl("get", "deployment", name, "-n", BROWSER_NAMESPACE, "-o", "json")
    )
    annotations = body["spec"]["template"]["metadata"].get("annotations") or {}
    value = annotations.get(PASSWORD_DIGEST_ANNOTATION)
    return str(value) if value is not None else None


def assert_passwords_agree(sandbox: Sandbox, workspace: str, usernames: list[str]) -> None:
    """Secret == Guacamole ``password`` parameter == what the pod template was rolled with."""
    params = connection_parameters(sandbox, workspace)
    assert sorted(params) == sorted(usernames)
    for username in usernames:
        secret = secret_password(sandbox, workspace, username)
        assert len(secret) >= 32, username
        assert params[username]["password"] == secret, f"{username}: Guacamole != Secret"
        assert pod_digest(sandbox, workspace, username) == password_digest(secret), username
