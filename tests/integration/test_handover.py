"""Hand-over from the legacy operator, on a sandbox of its own, with the real Pulumi CLI.

The starting state is written by :mod:`tests.legacy_operator` exactly as the legacy operator
writes it (kubernetes Python client create/patch, psycopg2 SQL), for ten bindings over three
workspaces: two expired (provisioned anyway, as the operator does), two deleted while it ran
(everything left behind), one workspace holding a connection an administrator added by hand.
The tests run in order, each from the state the previous one left, as a platform lives through
them; the last one stops the kube-apiserver, so the sandbox is this module's own.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from components.naming import deployment_name
from sandbox.environment import BINDINGS_NAMESPACE, BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary, changed_urns
from tests.factories import manifest
from tests.integration.conftest import new_stack, running_sandbox
from tests.legacy_operator import LEGACY_VNC_PASSWORD, LegacyOperator

pytestmark = pytest.mark.integration

EXPIRED_ON = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
ACTIVE = [
    ("analytics-ann", "analytics", "ann@example.org"),
    ("analytics-bob", "analytics", "bob@example.org"),
    ("analytics-dee", "analytics", "dee@example.org"),
    ("genomics-ann", "genomics", "ann@example.org"),
    ("genomics-eve", "genomics", "eve@example.org"),
    ("imaging-gus", "imaging", "gus@example.org"),
]
EXPIRED = [
    ("analytics-cid", "analytics", "cid@example.org"),
    ("genomics-fay", "genomics", "fay@example.org"),
]
DELETED = [
    ("imaging-hal", "imaging", "hal@example.org"),
    ("imaging-ivy", "imaging", "ivy@example.org"),
]
FOREIGN = ("imaging", "admin-desktop")


def binding(
    name: str, workspace: str, username: str, expires: str = "2099-12-31"
) -> dict[str, Any]:
    return manifest(
        name, BINDINGS_NAMESPACE, workspace=workspace, username=username, expires=expires
    )


def query(box: Sandbox, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(box.database_url) as conn:
        return conn.execute(sql, params).fetchall()


def get_json(box: Sandbox, *args: str) -> Any:
    return json.loads(box.kubectl("get", *args, "-o", "json"))


def live(box: Sandbox, kind: str) -> dict[str, dict[str, Any]]:
    items = get_json(box, kind, "-n", BROWSER_NAMESPACE, "--show-managed-fields")["items"]
    return {item["metadata"]["name"]: item for item in items}


def access_rows(box: Sandbox, workspace: str, username: str) -> dict[str, Any]:
    """What lets ``workspace@username`` in, as Guacamole's database holds it."""
    user = f"{workspace}@{username}"
    enabled = query(
        box,
        "SELECT count(*) FROM guacamole_user u JOIN guacamole_entity e USING (entity_id)"
        " WHERE e.name = %s AND NOT u.disabled",
        user,
    )[0][0]
    permissions = query(
        box,
        "SELECT (SELECT count(*) FROM guacamole_connection_permission p"
        "    WHERE p.entity_id = e.entity_id)"
        " + (SELECT count(*) FROM guacamole_connection_group_permission p"
        "    WHERE p.entity_id = e.entity_id)"
        " FROM guacamole_entity e WHERE e.name = %s",
        user,
    )
    connections = query(
        box,
        "SELECT c.connection_id FROM guacamole_connection c"
        " JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id"
        " WHERE g.connection_group_name = %s AND c.connection_name = %s",
        workspace,
        username,
    )
    return {
        "enabled": enabled,
        "permissions": permissions[0][0] if permissions else 0,
        "connections": [c for (c,) in connections],
    }


def access(box: Sandbox, workspace: str, username: str) -> dict[str, Any]:
    """``access_rows`` plus the browser objects in the cluster."""
    name = deployment_name(workspace, username)
    return {
        **access_rows(box, workspace, username),
        "deployment": name in live(box, "deployments"),
        "service": f"client-{name}" in live(box, "services"),
    }


def no_changes(stack: PulumiCli) -> bool:
    """True when a preview shows nothing to do; otherwise fails naming what would change."""
    preview = stack.preview_json()
    steps = [
        (
            step["op"],
            step["urn"].rsplit("::", 1)[-1],
            step.get("diffReasons"),
            step.get("detailedDiff"),
        )
        for step in preview.get("steps", [])
        if step.get("op") not in (None, "same", "read")
    ]
    assert change_summary(preview) == {}, steps
    return True


def assert_no_legacy_env(box: Sandbox) -> None:
    """Every Deployment this stack manages lost the legacy ``BROWSER_URL`` (browserUrl unset)."""
    deployments = live(box, "deployments")
    for _, ws, user in ACTIVE:
        name = deployment_name(ws, user)
        if name not in deployments:
            continue
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert [e["name"] for e in container["env"]] == ["VNC_PASSWORD"], name


NO_ACCESS = {
    "enabled": 0,
    "permissions": 0,
    "connections": [],
    "deployment": False,
    "service": False,
}


def add_foreign_connection(box: Sandbox) -> int:
    """An administrator's own connection in a workspace group (not the program's)."""
    with psycopg.connect(box.database_url) as conn:
        group = conn.execute(
            "SELECT connection_group_id FROM guacamole_connection_group"
            " WHERE connection_group_name = %s",
            (FOREIGN[0],),
        ).fetchone()
        assert group is not None
        row = conn.execute(
            "INSERT INTO guacamole_connection (parent_id, connection_name, protocol)"
            " VALUES (%s, %s, 'rdp') RETURNING connection_id",
            (group[0], FOREIGN[1]),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO guacamole_connection_parameter VALUES (%s, 'hostname', '10.1.2.3')",
            (row[0],),
        )
        return int(row[0])


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("handover-sandbox")) as own:
        yield own


@pytest.fixture(scope="module")
def operator(box: Sandbox) -> LegacyOperator:
    return LegacyOperator(box.kube.kubeconfig, box.database_url, namespace=BROWSER_NAMESPACE)


@pytest.fixture(scope="module")
def legacy(box: Sandbox, operator: LegacyOperator) -> dict[str, Any]:
    """The platform as the legacy operator leaves it; what it looked like before the hand-over."""
    for spec in ACTIVE:
        operator.create_binding(binding(*spec))
    for spec in EXPIRED:
        operator.create_binding(binding(*spec, expires=EXPIRED_ON))
    for spec in DELETED:
        operator.create_binding(binding(*spec))
        operator.forget(BINDINGS_NAMESPACE, spec[0])
    operator.resume()  # an operator restart re-runs every handler
    foreign = add_foreign_connection(box)
    return {
        "uids": {
            name: item["metadata"]["uid"]
            for kind in ("deployments", "services")
            for name, item in live(box, kind).items()
        },
        "connections": {(ws, user): access(box, ws, user)["connections"] for _, ws, user in ACTIVE},
        "foreign": foreign,
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, box: Sandbox) -> PulumiCli:
    from sandbox.program_copy import copy_program

    program = copy_program(tmp_path_factory.mktemp("program") / "awms-browser-workspaces")
    return new_stack(program, box, "handover")


def test_legacy_state_is_what_the_operator_leaves(box: Sandbox, legacy: dict[str, Any]) -> None:
    deployment = live(box, "deployments")[deployment_name("analytics", "ann@example.org")]
    managers = {(e["manager"], e["operation"]) for e in deployment["metadata"]["managedFields"]}
    assert ("OpenAPI-Generator", "Update") in managers
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert [e["name"] for e in container["env"]] == ["BROWSER_URL"]
    for _, ws, user in EXPIRED + DELETED:
        left = access(box, ws, user)
        assert left["enabled"] == 1 and left["permissions"] == 2 and left["deployment"]
    passwords = query(
        box,
        "SELECT DISTINCT parameter_value FROM guacamole_connection_parameter"
        " WHERE parameter_name = 'password'",
    )
    assert passwords == [(LEGACY_VNC_PASSWORD,)]


def test_preview_shows_the_revocations_and_orphans(
    stack: PulumiCli, legacy: dict[str, Any]
) -> None:
    preview = stack.preview()
    for _, ws, user in DELETED:
        assert f"orphan {deployment_name(ws, user)}" in preview.output
    urns = changed_urns(stack.preview_json())
    assert any(urn.endswith("::access-revocations") for urn in urns)
    assert any(urn.endswith("::field-owner-takeover") for urn in urns)


def test_handover_ends_every_expired_access_and_keeps_the_rest(
    stack: PulumiCli, box: Sandbox, legacy: dict[str, Any]
) -> None:
    stack.up()
    for _, ws, user in EXPIRED:
        assert access(box, ws, user) == NO_ACCESS, (ws, user)
    uids = {
        name: item["metadata"]["uid"]
        for kind in ("deployments", "services")
        for name, item in live(box, kind).items()
    }
    for _, ws, user in ACTIVE:
        name = deployment_name(ws, user)
        assert uids[name] == legacy["uids"][name], "no Deployment is replaced"
        assert uids[f"client-{name}"] == legacy["uids"][f"client-{name}"]
        now = access(box, ws, user)
        assert now["connections"] == legacy["connections"][(ws, user)], "legacy ids are kept"
        assert now["enabled"] == 1
    assert_no_legacy_env(box)
    outputs = stack.outputs()
    orphans = {o["deploymentName"]: o for o in outputs["orphans"]}
    assert set(orphans) == {deployment_name(ws, user) for _, ws, user in DELETED}
    assert all(o["action"] == "reported" for o in orphans.values())
    for _, ws, user in DELETED:  # reported, not removed, by default
        assert access(box, ws, user)["deployment"]
    for name, _, _ in EXPIRED:
        status = get_json(box, "awsb", name, "-n", BINDINGS_NAMESPACE)["status"]
        assert status["statusText"] == "EXPIRED"
        assert not status.get("deploymentName")


def test_next_preview_and_refresh_then_preview_change_nothing(stack: PulumiCli) -> None:
    assert no_changes(stack)
    stack.refresh()
    assert no_changes(stack)


def test_orphans_are_removed_when_asked(stack: PulumiCli, box: Sandbox) -> None:
    stack.config_set("legacyOrphans", "remove")
    stack.up()
    for _, ws, user in DELETED:
        assert access(box, ws, user) == NO_ACCESS, (ws, user)
    assert no_changes(stack)
    stack.refresh()
    assert no_changes(stack)


def test_legacy_operator_resuming_is_seen_by_refresh_and_undone(
    stack: PulumiCli, box: Sandbox, operator: LegacyOperator
) -> None:
    operator.resume()  # someone restarts the old operator: it re-provisions expired bindings
    _, ws, user = EXPIRED[0]
    assert access(box, ws, user)["connections"]
    stack.refresh()
    urns = changed_urns(stack.preview_json())
    assert any(urn.endswith("::access-revocations") for urn in urns), urns
    stack.up()
    for _, ws, user in EXPIRED:
        assert access(box, ws, user) == NO_ACCESS, (ws, user)
    assert_no_legacy_env(box)


def test_last_binding_of_a_workspace_with_a_foreign_connection(
    stack: PulumiCli, box: Sandbox, legacy: dict[str, Any]
) -> None:
    box.kubectl("delete", "awsb", ACTIVE[5][0], "-n", BINDINGS_NAMESPACE)
    stack.up()
    assert access(box, "imaging", "gus@example.org") == NO_ACCESS
    assert query(
        box,
        "SELECT c.connection_id FROM guacamole_connection c"
        " JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id"
        " WHERE g.connection_group_name = %s",
        FOREIGN[0],
    ) == [(legacy["foreign"],)]
    retained = stack.outputs()["retainedGroups"]
    assert retained == [{"group": FOREIGN[0], "connections": [FOREIGN[1]]}]
    stack.up()  # and every later run goes on
    assert no_changes(stack)


def test_removed_binding_loses_access_with_the_api_server_down(
    stack: PulumiCli, box: Sandbox, tmp_path: Path
) -> None:
    gone = ACTIVE[4]
    bindings = get_json(box, "awsb", "-n", BINDINGS_NAMESPACE)["items"]
    kept = [b for b in bindings if b["metadata"]["name"] != gone[0]]
    assert len(kept) == len(bindings) - 1
    path = tmp_path / "bindings.yaml"
    path.write_text(yaml.safe_dump_all(kept))
    stack.config_set("bindingsSource", "file")
    stack.config_set("bindingsFile", str(path))
    os.kill(box.kube.pids["kube-apiserver"], signal.SIGKILL)
    result = stack.run("up", "--yes", "--skip-preview", check=False)
    now = access_rows(box, gone[1], gone[2])
    assert now == {"enabled": 0, "permissions": 0, "connections": []}, result.output[-3000:]
    assert "access-revocations" in result.output
