"""The lifecycle a platform lives through, with the real Pulumi CLI on the sandbox.

The tests in this module share one stack and run in order: each step starts from the state the
previous one left, as a pipeline would. They check both sides a user depends on: Kubernetes
objects (Deployment, Service, Secret, NetworkPolicy, binding status) and Guacamole's rows.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from components.naming import deployment_name, workspace_network_policy_name
from sandbox.environment import BINDINGS_NAMESPACE, BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary, changed_urns
from tests.factories import manifest
from tests.integration.conftest import new_stack, running_sandbox

pytestmark = pytest.mark.integration

INITIAL = [
    ("alpha-ann", "alpha", "ann@example.org"),
    ("alpha-bob", "alpha", "bob@example.org"),
    ("beta-ann", "beta", "ann@example.org"),
    ("beta-cid", "beta", "cid@example.org"),
]


def binding(name: str, workspace: str, username: str, **spec: Any) -> dict[str, Any]:
    return manifest(name, BINDINGS_NAMESPACE, workspace=workspace, username=username, **spec)


def apply(sandbox: Sandbox, *manifests: dict[str, Any]) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(items))


def get_json(sandbox: Sandbox, *args: str) -> Any:
    return json.loads(sandbox.kubectl("get", *args, "-o", "json"))


def names(sandbox: Sandbox, kind: str) -> set[str]:
    items = get_json(sandbox, kind, "-n", BROWSER_NAMESPACE)["items"]
    return {item["metadata"]["name"] for item in items}


def query(sandbox: Sandbox, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(sandbox.database_url) as conn:
        return conn.execute(sql, params).fetchall()


def active_logins(sandbox: Sandbox, prefix: str) -> set[str]:
    """Guacamole users named ``prefix...`` that exist and are not disabled."""
    rows = query(
        sandbox,
        "SELECT e.name FROM guacamole_entity e JOIN guacamole_user u USING (entity_id) "
        "WHERE e.type = 'USER' AND NOT u.disabled AND e.name LIKE %s",
        f"{prefix}%",
    )
    return {row[0] for row in rows}


def sql_writes(sandbox: Sandbox) -> int:
    """INSERT/UPDATE/DELETE statements run so far in the Guacamole database."""
    with psycopg.connect(sandbox.postgres.admin_dsn) as conn:
        row = conn.execute(
            """
            SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s
            JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname = 'guacamole'
              AND s.query ~* '^\\s*(insert|update|delete)'
            """
        ).fetchone()
    assert row is not None
    return int(row[0])


def connection_rows(sandbox: Sandbox) -> dict[str, dict[str, str]]:
    """Per Guacamole user that may READ a connection: group, connection name and parameters."""
    rows = query(
        sandbox,
        """
        SELECT e.name, g.connection_group_name, c.connection_name, p.parameter_name,
               p.parameter_value
        FROM guacamole_connection_permission cp
        JOIN guacamole_entity e ON e.entity_id = cp.entity_id
        JOIN guacamole_connection c ON c.connection_id = cp.connection_id
        JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id
        JOIN guacamole_connection_group_permission gp
          ON gp.connection_group_id = g.connection_group_id AND gp.entity_id = e.entity_id
        JOIN guacamole_connection_parameter p ON p.connection_id = c.connection_id
        WHERE cp.permission = 'READ' AND gp.permission = 'READ'
        """,
    )
    result: dict[str, dict[str, str]] = {}
    for user, group, conn_name, key, value in rows:
        entry = result.setdefault(user, {"group": group, "connection": conn_name})
        entry[key] = value
    return result


def secret_password(sandbox: Sandbox, name: str) -> str:
    secret = get_json(sandbox, "secret", f"client-{name}-vnc", "-n", BROWSER_NAMESPACE)
    values = list(secret["data"].values())
    assert len(values) == 1
    return base64.b64decode(values[0]).decode()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    """A sandbox of this module's own: its checks are of everything that exists (every
    Deployment in the namespace, every Guacamole row), which other modules' stacks would spoil."""
    with running_sandbox(tmp_path_factory.mktemp("lifecycle-sandbox")) as box:
        yield box


@pytest.fixture(scope="module")
def stack(program_dir: Path, sandbox: Sandbox) -> Iterator[PulumiCli]:
    cli = new_stack(program_dir, sandbox, "lifecycle")
    apply(sandbox, *(binding(*spec) for spec in INITIAL))
    yield cli


def test_up_creates_every_object_and_row(stack: PulumiCli, sandbox: Sandbox) -> None:
    result = stack.up()
    expected = {deployment_name(ws, user): (ws, user) for _, ws, user in INITIAL}

    assert names(sandbox, "deployments") == set(expected)
    assert names(sandbox, "services") == {f"client-{n}" for n in expected}
    assert {f"client-{n}-vnc" for n in expected} <= names(sandbox, "secrets")
    # One NetworkPolicy per workspace, selecting every pod its Deployments' templates make.
    fences = {ws: workspace_network_policy_name(ws) for ws in {ws for _, ws, _ in INITIAL}}
    assert names(sandbox, "networkpolicies") == set(fences.values())
    for name, (workspace, _) in expected.items():
        deployment = get_json(sandbox, "deployment", name, "-n", BROWSER_NAMESPACE)
        assert deployment["spec"]["replicas"] == 0
        policy = get_json(sandbox, "networkpolicy", fences[workspace], "-n", BROWSER_NAMESPACE)
        selected = policy["spec"]["podSelector"]["matchLabels"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selected and selected.items() <= pod_labels.items(), (name, workspace)
        for other in set(fences.values()) - {fences[workspace]}:
            theirs = get_json(sandbox, "networkpolicy", other, "-n", BROWSER_NAMESPACE)
            assert not theirs["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
        service = get_json(sandbox, "service", f"client-{name}", "-n", BROWSER_NAMESPACE)
        assert service["spec"]["clusterIP"] == "None"

    rows = connection_rows(sandbox)
    assert set(rows) == {f"{ws}@{user}" for ws, user in expected.values()}
    for name, (ws, user) in expected.items():
        row = rows[f"{ws}@{user}"]
        assert row["group"] == ws and row["connection"] == user
        assert row["hostname"] == f"client-{name}.{BROWSER_NAMESPACE}.svc.cluster.local"
        assert row["port"] == "5900"
        assert row["disable-copy"] == "true" and row["disable-paste"] == "true"
        # The same generated password reaches the container and Guacamole.
        assert row["password"] == secret_password(sandbox, name)
        assert row["password"] != "1234"
    groups = query(sandbox, "SELECT connection_group_name FROM guacamole_connection_group")
    assert sorted(g for (g,) in groups) == ["alpha", "beta"]

    for binding_name, ws, user in INITIAL:
        status = get_json(sandbox, "awsb", binding_name, "-n", BINDINGS_NAMESPACE)["status"]
        assert status["statusText"] == "READY"
        assert status["deploymentName"] == deployment_name(ws, user)
        assert status["replicas"] == 0
    outputs = stack.outputs()
    key = f"{BINDINGS_NAMESPACE}/alpha-ann"
    ann = deployment_name("alpha", "ann@example.org")
    assert outputs["workspaces"][key]["deploymentName"] == ann
    assert outputs["workspaces"][key]["connectionId"] > 0
    assert "created" in result.stdout


def test_state_records_only_the_declaring_line(stack: PulumiCli) -> None:
    """The stack trace stored per resource is one program line (components.stack_traces).

    The root Stack resource is registered by the SDK before the program is imported, so it keeps
    the SDK's full trace; every resource the program declares keeps the line that declared it,
    which is also its ``sourcePosition``."""
    declared = [
        res
        for res in stack.export_state()["deployment"]["resources"]
        if res.get("sourcePosition") and res["type"] != "pulumi:pulumi:Stack"
    ]
    assert len(declared) > len(INITIAL) * 5
    traces = {res["urn"]: res.get("stackTrace") or [] for res in declared}
    longer = {urn: trace for urn, trace in traces.items() if len(trace) != 1}
    assert not longer
    outside = {
        res["type"]: res["sourcePosition"]
        for res in declared
        if not res["sourcePosition"].startswith("project:///")
        or any(part in res["sourcePosition"] for part in ("/../", "/.venv/", "site-packages"))
        or traces[res["urn"]][0].get("sourcePosition") != res["sourcePosition"]
    }
    assert not outside
    # A Guacamole row is declared by the binding's component, not by its own class's constructor.
    users = [res for res in declared if res["type"].endswith("guacamole:Connection")]
    assert users and all("browser_workspace.py#" in res["sourcePosition"] for res in users)


def test_second_preview_and_up_change_nothing(stack: PulumiCli, sandbox: Sandbox) -> None:
    assert change_summary(stack.preview_json()) == {}
    versions = {
        name: get_json(sandbox, "deployment", name, "-n", BROWSER_NAMESPACE)["metadata"][
            "resourceVersion"
        ]
        for name in names(sandbox, "deployments")
    }
    before = sql_writes(sandbox)
    stack.up()
    assert sql_writes(sandbox) == before
    after = {
        name: get_json(sandbox, "deployment", name, "-n", BROWSER_NAMESPACE)["metadata"][
            "resourceVersion"
        ]
        for name in names(sandbox, "deployments")
    }
    assert after == versions


def test_changing_one_binding_touches_only_its_resources(
    stack: PulumiCli, sandbox: Sandbox
) -> None:
    sandbox.kubectl(
        "patch",
        "awsb",
        "alpha-bob",
        "-n",
        BINDINGS_NAMESPACE,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"replicas": 1}}),
    )
    name = deployment_name("alpha", "bob@example.org")
    urns = changed_urns(stack.preview_json())
    assert urns, "scaling a binding must show in the preview"
    assert all(name in urn or "alpha-bob" in urn for urn in urns), urns
    stack.up()
    deployment = get_json(sandbox, "deployment", name, "-n", BROWSER_NAMESPACE)
    assert deployment["spec"]["replicas"] == 1
    status = get_json(sandbox, "awsb", "alpha-bob", "-n", BINDINGS_NAMESPACE)["status"]
    assert status["replicas"] == 1


def test_added_deleted_and_expired_bindings_converge(stack: PulumiCli, sandbox: Sandbox) -> None:
    yesterday = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    apply(sandbox, binding("gamma-dee", "gamma", "dee@example.org"))
    sandbox.kubectl("delete", "awsb", "beta-cid", "-n", BINDINGS_NAMESPACE)
    sandbox.kubectl(
        "patch",
        "awsb",
        "beta-ann",
        "-n",
        BINDINGS_NAMESPACE,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"expires": yesterday}}),
    )
    stack.up()

    deployments = names(sandbox, "deployments")
    assert deployment_name("gamma", "dee@example.org") in deployments
    assert deployment_name("beta", "cid@example.org") not in deployments
    assert deployment_name("beta", "ann@example.org") not in deployments
    users = {name for (name,) in query(sandbox, "SELECT name FROM guacamole_entity")}
    assert "gamma@dee@example.org" in users
    assert "beta@cid@example.org" not in users and "beta@ann@example.org" not in users
    groups = {
        g for (g,) in query(sandbox, "SELECT connection_group_name FROM guacamole_connection_group")
    }
    assert groups == {"alpha", "gamma"}, "a workspace's group goes with its last binding"
    status = get_json(sandbox, "awsb", "beta-ann", "-n", BINDINGS_NAMESPACE)["status"]
    assert status["statusText"] != "READY"


def test_refresh_reports_drift_and_up_repairs_it(stack: PulumiCli, sandbox: Sandbox) -> None:
    name = deployment_name("alpha", "ann@example.org")
    sandbox.kubectl("delete", "deployment", name, "-n", BROWSER_NAMESPACE)
    with psycopg.connect(sandbox.database_url) as conn:
        conn.execute(
            """
            UPDATE guacamole_connection_parameter SET parameter_value = '5901'
            WHERE parameter_name = 'port' AND connection_id = (
              SELECT connection_id FROM guacamole_connection WHERE connection_name = %s
              AND parent_id = (SELECT connection_group_id FROM guacamole_connection_group
                               WHERE connection_group_name = 'alpha'))
            """,
            ("ann@example.org",),
        )
        conn.execute(
            """
            DELETE FROM guacamole_connection_permission WHERE entity_id = (
              SELECT entity_id FROM guacamole_entity WHERE name = 'alpha@bob@example.org')
            """
        )
    stack.refresh()
    steps = {
        (step["op"], step["urn"].rsplit("::", 1)[-1])
        for step in stack.preview_json().get("steps", [])
        if step.get("op") not in ("same", "read")
    }
    assert ("create", name) in steps, steps
    assert any(op == "update" and "guacamole-connection" in res for op, res in steps), steps
    stack.up()
    assert name in names(sandbox, "deployments")
    rows = connection_rows(sandbox)
    assert rows["alpha@ann@example.org"]["port"] == "5900"
    assert "alpha@bob@example.org" in rows
    assert change_summary(stack.preview_json()) == {}


def test_legacy_rows_and_objects_are_adopted(stack: PulumiCli, sandbox: Sandbox) -> None:
    """Rows and objects written the way the legacy operator writes them are taken over."""
    workspace, user = "alpha", "eve@example.org"
    name = deployment_name(workspace, user)
    with psycopg.connect(sandbox.database_url) as conn:
        group = conn.execute(
            "SELECT connection_group_id FROM guacamole_connection_group "
            "WHERE connection_group_name = %s",
            (workspace,),
        ).fetchone()
        assert group is not None
        conn_id = conn.execute(
            "INSERT INTO guacamole_connection (parent_id, connection_name, protocol, failover_only)"
            " VALUES (%s, %s, 'vnc', false) RETURNING connection_id",
            (group[0], user),
        ).fetchone()[0]  # type: ignore[index]
        for key, value in (
            ("hostname", f"client-{name}.guacamole.svc.cluster.local"),
            ("port", "5900"),
            ("password", "1234"),
            ("disable-copy", "true"),
            ("disable-paste", "true"),
        ):
            conn.execute(
                "INSERT INTO guacamole_connection_parameter VALUES (%s, %s, %s)",
                (conn_id, key, value),
            )
        entity = conn.execute(
            "INSERT INTO guacamole_entity (name, type) VALUES (%s, 'USER') RETURNING entity_id",
            (f"{workspace}@{user}",),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO guacamole_user (entity_id, disabled, expired, password_hash,"
            " password_salt, password_date) VALUES (%s, false, false, %s, %s, now())",
            (entity, b"\x01" * 48, b"\x02" * 48),
        )
        conn.execute(
            "INSERT INTO guacamole_connection_permission VALUES (%s, %s, 'READ')",
            (entity, conn_id),
        )
    legacy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": BROWSER_NAMESPACE,
            "labels": {"xlscsde.nhs.uk/purpose": "workspace-client"},
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"xlscsde.nhs.uk/deployment-name": name}},
            "template": {
                "metadata": {"labels": {"xlscsde.nhs.uk/deployment-name": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": "lscsde/analytics-vnc-client:0.1.5",
                            "ports": [{"containerPort": 5900}],
                        }
                    ]
                },
            },
        },
    }
    sandbox.kubectl("create", "-f", "-", stdin=json.dumps(legacy))
    uid = get_json(sandbox, "deployment", name, "-n", BROWSER_NAMESPACE)["metadata"]["uid"]

    apply(sandbox, binding("alpha-eve", workspace, user))
    stack.up()

    after = get_json(sandbox, "deployment", name, "-n", BROWSER_NAMESPACE)
    assert after["metadata"]["uid"] == uid, "the legacy Deployment must not be replaced"
    assert query(
        sandbox,
        "SELECT count(*) FROM guacamole_connection WHERE connection_name = %s",
        user,
    ) == [(1,)]
    assert query(
        sandbox, "SELECT count(*) FROM guacamole_entity WHERE name = %s", f"{workspace}@{user}"
    ) == [(1,)]
    row = connection_rows(sandbox)[f"{workspace}@{user}"]
    assert row["password"] == secret_password(sandbox, name) != "1234"


def test_malformed_binding_is_named_and_the_rest_converge(
    stack: PulumiCli, sandbox: Sandbox
) -> None:
    bad = binding("broken-binding", "alpha", "zed@example.org")
    bad["spec"]["workspace"] = "x" * 200  # too long for Guacamole's varchar(128) user name
    apply(sandbox, bad, binding("alpha-fay", "alpha", "fay@example.org"))
    result = stack.up()
    assert f"{BINDINGS_NAMESPACE}/broken-binding" in result.output
    assert deployment_name("alpha", "fay@example.org") in names(sandbox, "deployments")
    problems = stack.outputs()["problems"]
    assert any(f"{BINDINGS_NAMESPACE}/broken-binding" in p["bindings"] for p in problems)


def test_no_secret_in_state_preview_or_logs(stack: PulumiCli, sandbox: Sandbox) -> None:
    passwords = {secret_password(sandbox, n) for n in names(sandbox, "deployments")}
    db_password = conninfo_to_dict(sandbox.database_url)["password"]
    state = json.dumps(stack.export_state())
    preview = stack.preview("--show-replacement-steps")
    logs = "\n".join(p.read_text(errors="replace") for p in sandbox.workdir.rglob("*.log"))
    for secret in (*passwords, db_password):
        assert isinstance(secret, str) and len(secret) >= 8
        assert secret not in state
        assert secret not in preview.output
        assert secret not in logs


def test_comment_only_change_previews_as_no_change(stack: PulumiCli, program_dir: Path) -> None:
    provider_module = program_dir / "components" / "guacamole" / "providers.py"
    original = provider_module.read_text()
    try:
        provider_module.write_text(original + "\n# A comment changes no behaviour.\n")
        assert change_summary(stack.preview_json()) == {}
    finally:
        provider_module.write_text(original)


def test_destroy_leaves_nothing_behind(stack: PulumiCli, sandbox: Sandbox) -> None:
    stack.destroy()
    for kind in ("deployments", "services", "networkpolicies"):
        assert names(sandbox, kind) == set(), kind
    assert not any(n.startswith("client-") for n in names(sandbox, "secrets"))
    managed = query(
        sandbox,
        "SELECT count(*) FROM guacamole_entity WHERE name <> 'guacadmin'",
    )
    assert managed == [(0,)]
    assert query(sandbox, "SELECT count(*) FROM guacamole_connection") == [(0,)]
    assert query(sandbox, "SELECT count(*) FROM guacamole_connection_group") == [(0,)]
