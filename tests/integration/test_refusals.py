"""Invalid bindings on the real sandbox: refused by name and field, inert, and never in the way.

* File mode: a binding with ``spec.replicas: 3000000000`` among valid ones, while another binding
  is removed. The run succeeds (exit 0, no error diagnostics), the removal happens (Deployment and
  Guacamole rows gone), the valid bindings converge; the pipeline entry points exit 4
  (``--allow-refused``: 0).
* Cluster mode: usernames carrying a forged log line (newline + ANSI), a bidi override, NEL or a
  zero-width space, and a workspace too long for Guacamole, are refused naming the right field;
  nothing printed (run log, ``problems`` output, ``status.statusText``, Events) holds a control or
  format character; the next preview is clean. Valid bindings get Events (Created, Scaled) and
  ``status.replicas`` equals the Deployment's ``status.replicas``, also when pods cannot start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.naming import deployment_name
from sandbox.environment import BINDINGS_NAMESPACE, BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.conftest import new_stack
from tests.integration.test_lifecycle import apply, binding, get_json, names, query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

FILE_WORKSPACE = "refusal-file"
CLUSTER_WORKSPACE = "refusal-cluster"
NAMESPACE = "refusals"
FORGED = f"x\n\x1b[31merror: binding {NAMESPACE}/good-alice skipped: FORGED"


def inert(text: str) -> bool:
    """No character that breaks a line, moves the cursor or reorders text."""
    return text.replace("\n", "").isprintable()


def forged_lines(output: str) -> list[str]:
    """Lines that start (after blanks and colour codes) with the forged error."""
    return [
        line
        for line in output.splitlines()
        if "FORGED" in line and line.lstrip(" \x1b[0123456789;m").startswith("error: binding")
    ]


def watch_cli(cli: PulumiCli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.watch", *args, "--stack", cli.stack,
         "--project-dir", str(cli.project_dir)],
        cwd=cli.project_dir, env=dict(cli.env), capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip


def events_of(sandbox: Sandbox, name: str) -> list[dict[str, Any]]:
    listed = get_json(
        sandbox, "events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={name}"
    )
    items: list[dict[str, Any]] = listed["items"]
    return items


def status_of(sandbox: Sandbox, name: str) -> dict[str, Any]:
    status: dict[str, Any] = get_json(sandbox, "awsb", name, "-n", NAMESPACE).get("status") or {}
    return status


def deployment_replicas(sandbox: Sandbox, name: str) -> int:
    deployment = get_json(sandbox, "deployment", name, "-n", BROWSER_NAMESPACE)
    return int((deployment.get("status") or {}).get("replicas") or 0)


def entities(sandbox: Sandbox) -> set[str]:
    return {name for (name,) in query(sandbox, "SELECT name FROM guacamole_entity")}


# File mode: items 7 and 8 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def file_stack(
    program_dir: Path, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PulumiCli, Path]]:
    cli = new_stack(program_dir, sandbox, "refusals-file")
    folder = tmp_path_factory.mktemp("bindings")
    cli.config_set("bindingsSource", "file")
    cli.config_set("bindingsFile", str(folder))
    yield cli, folder
    cli.destroy()


def write_bindings(folder: Path, *manifests: dict[str, Any]) -> None:
    (folder / "bindings.yaml").write_text(yaml.safe_dump_all(manifests))


def test_a_refused_binding_does_not_block_deletions_or_the_others(
    file_stack: tuple[PulumiCli, Path], sandbox: Sandbox
) -> None:
    cli, folder = file_stack
    write_bindings(
        folder,
        binding("file-ann", FILE_WORKSPACE, "ann@example.org"),
        binding("file-cid", FILE_WORKSPACE, "cid@example.org"),
    )
    cli.up()
    ann = deployment_name(FILE_WORKSPACE, "ann@example.org")
    cid = deployment_name(FILE_WORKSPACE, "cid@example.org")
    eve = deployment_name(FILE_WORKSPACE, "eve@example.org")
    assert {ann, cid} <= names(sandbox, "deployments")
    assert f"{FILE_WORKSPACE}@cid@example.org" in entities(sandbox)

    # file-cid removed, file-ann scaled, and a binding the Deployment API would refuse.
    write_bindings(
        folder,
        binding("file-ann", FILE_WORKSPACE, "ann@example.org", replicas=1),
        binding("file-eve", FILE_WORKSPACE, "eve@example.org", replicas=3_000_000_000),
    )
    result = cli.up()  # exits 0: a refused binding is not a failed run

    assert cid not in names(sandbox, "deployments"), "the pending deletion must happen"
    assert f"client-{cid}" not in names(sandbox, "services")
    assert f"{FILE_WORKSPACE}@cid@example.org" not in entities(sandbox)
    assert eve not in names(sandbox, "deployments")
    assert f"{FILE_WORKSPACE}@eve@example.org" not in entities(sandbox)
    deployment = get_json(sandbox, "deployment", ann, "-n", BROWSER_NAMESPACE)
    assert deployment["spec"]["replicas"] == 1
    assert f"{BINDINGS_NAMESPACE}/file-eve" in result.output
    assert "spec.replicas: must be at most 2147483647" in result.output
    assert "error: binding" not in result.output  # a warning, not an error diagnostic
    problems = cli.outputs()["problems"]
    refused = [p for p in problems if p["kind"] == "invalid"]
    assert [(p["bindings"], p["field"]) for p in refused] == [
        ([f"{BINDINGS_NAMESPACE}/file-eve"], "spec.replicas")
    ]
    assert change_summary(cli.preview_json()) == {}


def test_pipeline_entry_points_exit_4_on_refused_bindings(
    file_stack: tuple[PulumiCli, Path], sandbox: Sandbox
) -> None:
    cli, folder = file_stack
    up = watch_cli(cli, "up")
    assert up.returncode == 4, up.stdout + up.stderr
    assert f"{BINDINGS_NAMESPACE}/file-eve" in up.stdout and "1 binding(s) refused" in up.stdout
    allowed = watch_cli(cli, "up", "--allow-refused")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    preview = watch_cli(cli, "preview", "--bindings-file", str(folder))
    assert preview.returncode == 4, preview.stdout + preview.stderr
    write_bindings(folder, binding("file-ann", FILE_WORKSPACE, "ann@example.org", replicas=1))
    clean = watch_cli(cli, "preview", "--bindings-file", str(folder))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    converged = watch_cli(cli, "up")
    assert converged.returncode == 0, converged.stdout + converged.stderr


# Cluster mode: items 9 and 10 --------------------------------------------------------------


def cluster_binding(name: str, username: str, **spec: Any) -> dict[str, Any]:
    body = binding(name, spec.pop("workspace", CLUSTER_WORKSPACE), username, **spec)
    body["metadata"]["namespace"] = NAMESPACE
    return body


REFUSED = {
    "forged": ("spec.username", cluster_binding("forged", FORGED)),
    "forged-workspace": (
        "spec.workspace",
        cluster_binding("forged-workspace", "u@example.org", workspace=FORGED),
    ),
    "bidi": ("spec.username", cluster_binding("bidi", "bob\u202e@example.org")),
    "nel": ("spec.username", cluster_binding("nel", "carol\u0085@example.org")),
    "zwsp": ("spec.username", cluster_binding("zwsp", "dave\u200b@example.org")),
    "long-workspace": (
        "spec.workspace",
        cluster_binding("long-workspace", "u@example.org", workspace="w" * 129),
    ),
}


@pytest.fixture(scope="module")
def cluster_stack(program_dir: Path, sandbox: Sandbox) -> Iterator[PulumiCli]:
    cli = new_stack(program_dir, sandbox, "refusals-cluster")
    cli.config_set("bindingsNamespace", NAMESPACE)
    sandbox.kubectl("create", "namespace", NAMESPACE)
    yield cli
    cli.destroy()


def test_untrusted_text_is_refused_by_field_and_printed_inert(
    cluster_stack: PulumiCli, sandbox: Sandbox
) -> None:
    apply(
        sandbox,
        cluster_binding("good-alice", "alice@example.org"),
        *(body for _, body in REFUSED.values()),
    )
    result = cluster_stack.up()

    assert "\x1b" not in result.output
    assert forged_lines(result.output) == [], "a binding forged a log line"
    assert inert(result.output)
    outputs = cluster_stack.outputs()
    refused = {p["bindings"][0]: p for p in outputs["problems"] if p["kind"] == "invalid"}
    assert {key: p["field"] for key, p in refused.items()} == {
        f"{NAMESPACE}/{name}": field for name, (field, _) in REFUSED.items()
    }
    assert all(inert(p["message"]) and "\n" not in p["message"] for p in refused.values())
    assert (
        names(sandbox, "deployments")
        & {
            deployment_name(CLUSTER_WORKSPACE, body["spec"]["username"])
            for _, body in REFUSED.values()
        }
        == set()
    )

    for name, (field, _) in REFUSED.items():
        text = status_of(sandbox, name)["statusText"]
        assert text.startswith(f"INVALID: {field}: "), text
        assert inert(text) and "\n" not in text
        (event,) = events_of(sandbox, name)
        assert (event["reason"], event["type"]) == ("Refused", "Warning")
        assert field in event["message"] and inert(event["message"])
        assert "\n" not in event["message"]

    alice = deployment_name(CLUSTER_WORKSPACE, "alice@example.org")
    assert status_of(sandbox, "good-alice") == {
        "statusText": "READY",
        "deploymentName": alice,
        "replicas": 0,
    }
    (created,) = events_of(sandbox, "good-alice")
    uid = get_json(sandbox, "awsb", "good-alice", "-n", NAMESPACE)["metadata"]["uid"]
    assert created["reason"] == "Created" and created["involvedObject"]["uid"] == uid
    assert created["source"]["component"] == "awms-browser-workspaces"
    assert change_summary(cluster_stack.preview_json()) == {}, "a refused binding stays refused"


def test_status_replicas_is_the_deployments_observed_count(
    cluster_stack: PulumiCli, sandbox: Sandbox
) -> None:
    alice = deployment_name(CLUSTER_WORKSPACE, "alice@example.org")
    sandbox.kubectl(
        "patch", "awsb", "good-alice", "-n", NAMESPACE, "--type", "merge",
        "-p", json.dumps({"spec": {"replicas": 1}}),
    )  # fmt: skip
    cluster_stack.up()
    assert deployment_replicas(sandbox, alice) == 1  # the pod exists (Pending: no kubelet)
    assert status_of(sandbox, "good-alice")["replicas"] == 1
    reasons = [event["reason"] for event in events_of(sandbox, "good-alice")]
    assert sorted(reasons) == ["Created", "Scaled"]
    described = sandbox.kubectl("describe", "awsb", "good-alice", "-n", NAMESPACE)
    assert "Scaled" in described and "Created" in described

    # Pods that cannot start: the binding shows what the Deployment has, not what was asked.
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-pods", "namespace": BROWSER_NAMESPACE},
        "spec": {"hard": {"pods": "0"}},
    }
    sandbox.kubectl("create", "-f", "-", stdin=json.dumps(quota))
    try:
        apply(sandbox, cluster_binding("good-bea", "bea@example.org", replicas=1))
        cluster_stack.up()
        bea = deployment_name(CLUSTER_WORKSPACE, "bea@example.org")
        deployment = get_json(sandbox, "deployment", bea, "-n", BROWSER_NAMESPACE)
        assert deployment["spec"]["replicas"] == 1
        assert status_of(sandbox, "good-bea")["replicas"] == deployment_replicas(sandbox, bea)
        assert status_of(sandbox, "good-bea")["replicas"] == 0
    finally:
        sandbox.kubectl("delete", "resourcequota", "no-pods", "-n", BROWSER_NAMESPACE)
