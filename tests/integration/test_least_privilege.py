"""The program, the watcher and a review run with deploy/rbac.yaml's ServiceAccounts, not admin.

The sandbox's admin kubeconfig is a ``system:masters`` certificate that RBAC never restricts, so
these tests swap it for a token minted (TokenRequest) for each ServiceAccount and check three
things on the real kube-apiserver: the pipeline identity takes a stack through its whole
lifecycle and the watcher identity runs the watcher; every write outside what those roles
grant is refused; the preview identity previews, and its ``up`` stops before writing anything
in Kubernetes or Guacamole. Each test uses its own bindings namespace and workspace, so the
other test modules sharing the sandbox are neither seen nor touched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from components import naming
from components.bindings import GROUP, KIND, PLURAL, VERSION
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.identities import PIPELINE, PREVIEW, WATCHER
from sandbox.pulumi_cli import PulumiCli, PulumiCommandError, change_summary
from tests.factories import manifest
from tests.integration.conftest import new_stack
from tests.integration.test_watch import Cluster, Watcher, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

BROWSER_KINDS = ("deployments", "services", "secrets", "networkpolicies")


# Helpers -------------------------------------------------------------------------------------


def binding(namespace: str, name: str, workspace: str, user: str, replicas: int = 0) -> Any:
    return manifest(name, namespace, workspace=workspace, username=user, replicas=replicas)


class Api(Cluster):
    """The kubernetes client as one identity (a kubeconfig file), in any bindings namespace."""

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__(kubeconfig)
        api = self.custom.api_client
        self.rbac = client.RbacAuthorizationV1Api(api)
        self.networking = client.NetworkingV1Api(api)

    def create_binding(self, body: dict[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    def get_binding(self, namespace: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
        return found

    def patch_binding(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)

    def delete_binding(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def snapshot(self) -> dict[str, str]:
        """Every browser-namespace object of the declared kinds, with its resourceVersion."""
        lists = {
            "deployments": self.apps.list_namespaced_deployment,
            "services": self.core.list_namespaced_service,
            "secrets": self.core.list_namespaced_secret,
            "networkpolicies": self.networking.list_namespaced_network_policy,
        }
        found: dict[str, str] = {}
        for kind, call in lists.items():
            for item in call(BROWSER_NAMESPACE).items:
                found[f"{kind}/{item.metadata.name}"] = item.metadata.resource_version
        return found


def refused(action: Callable[[], object]) -> bool:
    """True when the API server answers 403 Forbidden."""
    try:
        action()
    except ApiException as error:
        if error.status == 403:
            return True
        raise AssertionError(f"expected 403 Forbidden, got {error.status}: {error.body}") from error
    return False


def identity_stack(
    program: Path, sandbox: Sandbox, name: str, kubeconfig: Path, bindings_namespace: str
) -> PulumiCli:
    """A stack whose every Kubernetes call (program, providers, status) uses ``kubeconfig``."""
    cli = new_stack(program, sandbox, name)
    cli.config_set("kubeconfig", str(kubeconfig))
    cli.config_set("bindingsNamespace", bindings_namespace)
    # No fallback can reach the admin file either.
    cli.env = {**cli.env, "KUBECONFIG": str(kubeconfig)}
    return cli


def guacamole_names(sandbox: Sandbox, workspace: str) -> list[str]:
    """Guacamole entities and groups of ``workspace`` (the program's rows for it)."""
    with psycopg.connect(sandbox.database_url) as conn:
        rows = conn.execute(
            "SELECT name FROM guacamole_entity WHERE name LIKE %s "
            "UNION ALL SELECT connection_group_name FROM guacamole_connection_group "
            "WHERE connection_group_name = %s",
            (f"{workspace}@%", workspace),
        ).fetchall()
    return sorted(str(name) for (name,) in rows)


def sql_writes(sandbox: Sandbox) -> int:
    with psycopg.connect(sandbox.postgres.admin_dsn) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'guacamole' "
            "AND s.query ~* '^\\s*(insert|update|delete)'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def forbidden_actions(
    api: Api, account: str, ns: str, secret: Any, deployment: Any, role: Any, event: Any
) -> dict[str, Callable[[], object]]:
    """What ``account`` must not be able to do, by description."""
    forbidden: dict[str, Callable[[], object]] = {
        "create a Secret outside the browser namespace": lambda: api.core.create_namespaced_secret(
            ns, secret
        ),
        "read Secrets outside the browser namespace": lambda: api.core.list_namespaced_secret(
            "kube-system"
        ),
        "list Secrets in every namespace": lambda: api.core.list_secret_for_all_namespaces(),
        "create a Deployment outside the browser namespace": lambda: (
            api.apps.create_namespaced_deployment(ns, deployment)
        ),
        "patch a binding's spec": lambda: api.patch_binding(
            ns, "target", {"spec": {"workspace": "elsewhere"}}
        ),
        "patch a binding's labels": lambda: api.patch_binding(
            ns, "target", {"metadata": {"labels": {"owned": "yes"}}}
        ),
        "create a binding": lambda: api.create_binding(
            binding(ns, "forged", "lp-forbidden-ws", "mallory@example.org")
        ),
        "delete a binding": lambda: api.delete_binding(ns, "target"),
        "patch a workspace's status": lambda: api.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, "analyticsworkspaces", "any", {"status": {}}
        ),
        "create a ClusterRole": lambda: api.rbac.create_cluster_role(role),
        "create a RoleBinding in the browser namespace": lambda: (
            api.rbac.create_namespaced_role_binding(
                BROWSER_NAMESPACE,
                {
                    "metadata": {"name": "escalate"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [{"kind": "User", "name": "mallory"}],
                },
            )
        ),
        "read Pods": lambda: api.core.list_namespaced_pod(BROWSER_NAMESPACE),
    }
    if account != WATCHER:
        forbidden["scale a binding"] = lambda: api.custom.patch_namespaced_custom_object_scale(
            GROUP, VERSION, ns, PLURAL, "target", {"spec": {"replicas": 1}}
        )
    if account == PREVIEW:
        forbidden |= {
            "create a Secret in the browser namespace": lambda: api.core.create_namespaced_secret(
                BROWSER_NAMESPACE, secret
            ),
            "read Secrets in the browser namespace": lambda: api.core.list_namespaced_secret(
                BROWSER_NAMESPACE
            ),
            "create a Deployment in the browser namespace": lambda: (
                api.apps.create_namespaced_deployment(BROWSER_NAMESPACE, deployment)
            ),
            "patch a binding's status": lambda: api.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, ns, PLURAL, "target", {"status": {"statusText": "x"}}
            ),
            "post an Event": lambda: api.core.create_namespaced_event(ns, event),
        }
    return forbidden


# Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(sandbox: Sandbox) -> Api:
    return Api(sandbox.kube.kubeconfig)


@pytest.fixture(scope="module")
def kubeconfigs(sandbox: Sandbox) -> dict[str, Path]:
    return {
        account: sandbox.identity_kubeconfig(account) for account in (WATCHER, PIPELINE, PREVIEW)
    }


def namespace(sandbox: Sandbox, name: str) -> str:
    sandbox.kubectl("create", "namespace", name)
    return name


def bound_stack(
    program: Path, sandbox: Sandbox, admin: Api, tag: str, account: Path, users: list[str]
) -> tuple[str, str, PulumiCli, list[str]]:
    """A namespace ``tag`` with one binding per user of workspace ``<tag>-ws``, and its stack."""
    ns, workspace = namespace(sandbox, tag), f"{tag}-ws"
    for index, user in enumerate(users):
        admin.create_binding(binding(ns, f"b{index}", workspace, user))
    cli = identity_stack(program, sandbox, tag, account, ns)
    return ns, workspace, cli, [naming.deployment_name(workspace, user) for user in users]


# Tests ---------------------------------------------------------------------------------------


def test_tokens_are_service_accounts_not_admin(kubeconfigs: dict[str, Path]) -> None:
    for account, path in kubeconfigs.items():
        api = config.new_client_from_config(str(path))
        review = client.AuthenticationV1Api(api).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
        user = review.status.user_info
        assert user.username == f"system:serviceaccount:{BROWSER_NAMESPACE}:{account}"
        assert "system:masters" not in (user.groups or [])


def test_forbidden_actions_are_refused(
    sandbox: Sandbox, admin: Api, kubeconfigs: dict[str, Path]
) -> None:
    ns = namespace(sandbox, "lp-forbidden")
    admin.create_binding(binding(ns, "target", "lp-forbidden-ws", "ann@example.org"))
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="stolen"), string_data={"a": "b"})
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "intruder"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "x"}]},
            },
        },
    }
    role = client.V1ClusterRole(metadata=client.V1ObjectMeta(name="escalate"), rules=[])
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="lp-"),
        involved_object=client.V1ObjectReference(kind=KIND, name="target", namespace=ns),
        reason="Test",
        message="test",
    )

    for account in (WATCHER, PIPELINE, PREVIEW):
        api = Api(kubeconfigs[account])
        forbidden = forbidden_actions(api, account, ns, secret, deployment, role, event)
        allowed = [what for what, action in forbidden.items() if not refused(action)]
        assert allowed == [], f"{account} was allowed to: {allowed}"

    # What the watcher may do on a binding, it does through the scale subresource only.
    watcher = Api(kubeconfigs[WATCHER])
    watcher.custom.patch_namespaced_custom_object_scale(
        GROUP, VERSION, ns, PLURAL, "target", {"spec": {"replicas": 1}}
    )
    body = admin.get_binding(ns, "target")
    assert body["spec"] == {**body["spec"], "replicas": 1, "workspace": "lp-forbidden-ws"}
    assert Api(kubeconfigs[PIPELINE]).core.create_namespaced_event(ns, event).metadata.name


def test_pipeline_identity_runs_the_whole_lifecycle(
    program_dir: Path, sandbox: Sandbox, admin: Api, kubeconfigs: dict[str, Path]
) -> None:
    users = ["ann@example.org", "bob@example.org"]
    ns, workspace, cli, names = bound_stack(
        program_dir, sandbox, admin, "lp-pipeline", kubeconfigs[PIPELINE], users
    )

    cli.up()
    assert [admin.replicas(name) for name in names] == [0, 0]
    assert admin.get_binding(ns, "b0")["status"]["statusText"] == "READY"
    assert guacamole_names(sandbox, workspace) == [workspace, *(f"{workspace}@{u}" for u in users)]
    assert change_summary(cli.preview_json()) == {}

    admin.patch_binding(ns, "b0", {"spec": {"replicas": 1}})
    cli.up()
    assert admin.replicas(names[0]) == 1
    assert admin.get_binding(ns, "b0")["status"]["replicas"] == 1

    admin.delete_binding(ns, "b1")
    cli.up()
    assert admin.replicas(names[1]) is None
    assert guacamole_names(sandbox, workspace) == [workspace, f"{workspace}@{users[0]}"]

    cli.refresh()
    assert change_summary(cli.preview_json()) == {}

    cli.destroy()
    assert admin.replicas(names[0]) is None
    assert not [key for key in admin.snapshot() if names[0] in key]
    assert guacamole_names(sandbox, workspace) == []


def test_watcher_identity_runs_the_watcher(
    program_dir: Path, sandbox: Sandbox, admin: Api, kubeconfigs: dict[str, Path], tmp_path: Path
) -> None:
    users = ["cid@example.org", "dee@example.org"]
    ns, _, cli, names = bound_stack(
        program_dir, sandbox, admin, "lp-watch", kubeconfigs[WATCHER], users
    )
    watcher = Watcher(cli, tmp_path / "watch.log")
    watcher.start()
    try:
        wait_until("the start-up run", lambda: watcher.logged("up finished in"), watcher)
        assert [admin.replicas(name) for name in names] == [0, 0]

        admin.patch_binding(ns, "b1", {"spec": {"replicas": 1}})
        wait_until(
            "the login to scale the Deployment and its status to follow",
            lambda: (
                admin.replicas(names[1]) == 1
                and admin.get_binding(ns, "b1").get("status", {}).get("replicas") == 1
            ),
            watcher,
        )
        admin.delete_binding(ns, "b0")
        wait_until("the deleted binding's browser to go", lambda: admin.replicas(names[0]) is None)
        assert "Forbidden" not in watcher.output() and "forbidden" not in watcher.output()
        assert watcher.terminate() == 0, watcher.output()[-4000:]
    finally:
        if watcher.process is not None and watcher.process.poll() is None:
            watcher.terminate()
    cli.destroy()


def test_preview_identity_previews_and_its_up_writes_nothing(
    program_dir: Path, sandbox: Sandbox, admin: Api, kubeconfigs: dict[str, Path]
) -> None:
    ns = namespace(sandbox, "lp-preview")
    workspace = "lp-preview-ws"
    admin.create_binding(binding(ns, "p0", workspace, "eve@example.org"))
    cli = identity_stack(program_dir, sandbox, "lp-preview", kubeconfigs[PREVIEW], ns)

    # A first roll-out, reviewed: the preview shows it, an up is refused before any write.
    assert change_summary(cli.preview_json()).get("create", 0) >= 7
    before_objects, before_sql = admin.snapshot(), sql_writes(sandbox)
    with pytest.raises(PulumiCommandError) as refusal:
        cli.up()
    output = refusal.value.result.stdout + refusal.value.result.stderr
    assert f"system:serviceaccount:{BROWSER_NAMESPACE}:{PREVIEW} may not" in output
    assert "create apps/deployments in namespace guacamole" in output
    assert "Traceback" not in output
    assert admin.snapshot() == before_objects
    assert sql_writes(sandbox) == before_sql
    assert guacamole_names(sandbox, workspace) == []
    assert "status" not in admin.get_binding(ns, "p0")
    resources = cli.export_state()["deployment"].get("resources") or []
    assert {r["type"] for r in resources} <= {"pulumi:pulumi:Stack"}

    # Once the pipeline has applied it, a change is previewed by the review identity and its up
    # is refused again with nothing touched.
    cli.config_set("kubeconfig", str(kubeconfigs[PIPELINE]))
    cli.env = {**cli.env, "KUBECONFIG": str(kubeconfigs[PIPELINE])}
    cli.up()
    cli.config_set("kubeconfig", str(kubeconfigs[PREVIEW]))
    cli.env = {**cli.env, "KUBECONFIG": str(kubeconfigs[PREVIEW])}
    admin.patch_binding(ns, "p0", {"spec": {"replicas": 1}})
    steps = cli.preview_json()["steps"]
    assert any(s["op"] == "update" and "Deployment" in s["urn"] for s in steps), steps
    before_objects, before_sql = admin.snapshot(), sql_writes(sandbox)
    status = admin.get_binding(ns, "p0")["status"]
    with pytest.raises(PulumiCommandError):
        cli.up()
    assert admin.snapshot() == before_objects
    assert sql_writes(sandbox) == before_sql
    assert admin.get_binding(ns, "p0")["status"] == status
    assert admin.replicas(naming.deployment_name(workspace, "eve@example.org")) == 0

    cli.config_set("kubeconfig", str(kubeconfigs[PIPELINE]))
    cli.env = {**cli.env, "KUBECONFIG": str(kubeconfigs[PIPELINE])}
    cli.destroy()


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE guacamole_connection_history",
        "TRUNCATE guacamole_connection_history",
        "ALTER TABLE guacamole_connection_history ADD COLUMN x int",
        "CREATE TABLE intruder (x int)",
        "SELECT setval('guacamole_entity_entity_id_seq', 1)",
        "CREATE TEMPORARY TABLE intruder (x int)",
    ],
)
def test_sandbox_database_login_may_only_read_and_write_rows(
    sandbox: Sandbox, statement: str
) -> None:
    with psycopg.connect(sandbox.database_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("guacamole_app",)
        conn.execute("SELECT count(*) FROM guacamole_connection_history").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
