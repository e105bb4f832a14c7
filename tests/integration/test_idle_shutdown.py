"""Sessions end, browsers stop; the lock-down policy is declared: on the real sandbox.

* The watcher's idle check reads Guacamole's history rows (written the way Guacamole writes them:
  INSERT on open, UPDATE end_date on close, one row left open by a "crashed" Guacamole) and
  scales idle bindings to 0 through their scale subresource; the watcher's normal path then
  scales the Deployment. A browser with an open session keeps running until the session closes.
  Every stop is an Event on the binding; the dry-run mode only records Events.
* The Firefox policy ConfigMap: an existing legacy-shaped one is adopted, its JSON equals what
  the settings say, the Deployments mount it where the legacy ones did with the policy digest on
  the pod template, and the next preview is clean.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client, config

from components import firefox_policy, naming
from components.bindings import GROUP, PLURAL, VERSION
from components.manifests import FIREFOX_POLICY_DIGEST
from components.settings import settings_from_values
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import change_summary
from tests.factories import manifest
from tests.guacamole.sessions import close_session, db_now, open_session
from tests.integration.conftest import new_stack
from tests.integration.test_watch import Cluster, Watcher, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

NAMESPACE = "idle-check"
WORKSPACE = "idle-workspace"
USERS = {
    "busy": "busy@example.org",  # a session stays open
    "done": "done@example.org",  # a session opened and closed
    "never": "never@example.org",  # never connects
    "crashed": "crashed@example.org",  # its only row was left open by a crashed Guacamole
}


def binding(name: str, username: str) -> dict[str, Any]:
    return manifest(name, NAMESPACE, workspace=WORKSPACE, username=username)


class Bindings:
    def __init__(self, kubeconfig: Path) -> None:
        api = config.new_client_from_config(str(kubeconfig))
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def replicas(self, name: str) -> int:
        body = self.custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
        return int(body["spec"].get("replicas", 0))

    def login(self, name: str) -> None:
        """What Keycloak does at login: a JSON patch of ``/spec/replicas`` to 1."""
        self.custom.api_client.call_api(
            f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}/{name}",
            "PATCH",
            header_params={
                "Content-Type": "application/json-patch+json",
                "Accept": "application/json",
            },
            body=[{"op": "replace", "path": "/spec/replicas", "value": 1}],
            auth_settings=["BearerToken"],
            response_type="object",
        )

    def events(self, name: str) -> list[tuple[str, str]]:
        items = self.core.list_namespaced_event(
            NAMESPACE, field_selector=f"involvedObject.name={name}"
        ).items
        return [(event.reason, event.message) for event in items]


@pytest.fixture
def idle_watcher(program_dir: Path, sandbox: Sandbox, tmp_path: Path) -> Iterator[Watcher]:
    cli = new_stack(program_dir, sandbox, "idle")
    cli.config_set("bindingsNamespace", NAMESPACE)
    cli.config_set("firefoxPolicyConfigMap", "firefox-config-idle")
    for key, value in {
        "idleTimeout": "4",
        "idleStartupGrace": "4",
        "idleMaxSessionAge": "3600",
        "idleCheckInterval": "1",
    }.items():
        cli.config_set(key, value)
    running = Watcher(cli, tmp_path / "watch.log")
    yield running
    if running.process is not None and running.process.poll() is None:
        running.terminate()


def test_idle_browsers_stop_and_busy_ones_keep_running(
    idle_watcher: Watcher, sandbox: Sandbox
) -> None:
    sandbox.kubectl("create", "namespace", NAMESPACE)
    bindings = Bindings(sandbox.kube.kubeconfig)
    cluster = Cluster(sandbox.kube.kubeconfig)
    for name, user in USERS.items():
        bindings.custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, binding(name, user)
        )
    idle_watcher.start()
    wait_until("the start-up run", lambda: idle_watcher.logged("up finished in"), idle_watcher)
    assert idle_watcher.logged("idle check every 1s")

    # Guacamole's own records, written before the logins so nothing races the short grace.
    with psycopg.connect(sandbox.database_url, autocommit=True) as conn:
        now = db_now(conn)
        busy = open_session(conn, WORKSPACE, USERS["busy"], now)
        done = open_session(conn, WORKSPACE, USERS["done"], now - timedelta(minutes=3))
        close_session(conn, done, now)
        open_session(conn, WORKSPACE, USERS["crashed"], now - timedelta(hours=2))

    for name in USERS:
        bindings.login(name)
    deployments = {name: naming.deployment_name(WORKSPACE, user) for name, user in USERS.items()}
    wait_until(
        "the idle browsers to be scaled to 0, binding and Deployment",
        lambda: all(
            bindings.replicas(name) == 0 and cluster.replicas(deployments[name]) == 0
            for name in ("done", "never", "crashed")
        ),
        idle_watcher,
    )
    wait_until(
        "the busy browser's Deployment to run",
        lambda: cluster.replicas(deployments["busy"]) == 1,
        idle_watcher,
    )
    assert bindings.replicas("busy") == 1
    for name in ("done", "never", "crashed"):
        assert idle_watcher.logged(f"scaled binding {NAMESPACE}/{name} to 0")
        reasons = [reason for reason, _ in bindings.events(name)]
        assert "IdleStopped" in reasons, bindings.events(name)
    assert not [r for r, _ in bindings.events("busy") if r.startswith("Idle")]

    # The session closes; the browser stops after the idle timeout.
    with psycopg.connect(sandbox.database_url, autocommit=True) as conn:
        close_session(conn, busy, db_now(conn))
    wait_until(
        "the browser whose session closed to stop",
        lambda: bindings.replicas("busy") == 0 and cluster.replicas(deployments["busy"]) == 0,
        idle_watcher,
    )
    (message,) = [m for r, m in bindings.events("busy") if r == "IdleStopped"]
    assert "idle since the last session ended" in message
    assert idle_watcher.terminate() == 0

    # Dry run: a login nobody uses is only reported.
    idle_watcher.cli.config_set("idleDryRun", "true")
    idle_watcher.start("--initial-run", "none")
    wait_until("the watcher", lambda: idle_watcher.logged("[dry run: report only]"), idle_watcher)
    bindings.login("never")
    wait_until(
        "a dry-run report",
        lambda: "IdleStopPending" in [r for r, _ in bindings.events("never")],
        idle_watcher,
    )
    wait_until(
        "the Deployment to follow the login",
        lambda: cluster.replicas(deployments["never"]) == 1,
        idle_watcher,
    )
    assert bindings.replicas("never") == 1
    assert idle_watcher.logged(f"[dry run] would scale binding {NAMESPACE}/never to 0")
    assert idle_watcher.terminate() == 0


# The Firefox policy -------------------------------------------------------------------------

POLICY_MAP = "firefox-config-policy"
LEGACY_POLICY = {"policies": {"DisableDeveloperTools": True, "CaptivePortal": True}}


def test_policy_config_map_is_adopted_equal_to_the_settings_and_mounted(
    program_dir: Path, sandbox: Sandbox
) -> None:
    api = config.new_client_from_config(str(sandbox.kube.kubeconfig))
    core = client.CoreV1Api(api)
    # The legacy chart's ConfigMap, as Helm/Flux creates it (a plain create, no field manager
    # of ours); the program must adopt and overwrite it.
    core.create_namespaced_config_map(
        BROWSER_NAMESPACE,
        {
            "metadata": {"name": POLICY_MAP},
            "data": {
                "distribution.ini": "[Global]\nid=mozilla-deb\n",
                "policies.json": json.dumps(LEGACY_POLICY),
            },
        },
    )
    values = {
        "browserUrl": "https://jupyter.example.org/hub/",
        "firefoxAllowedUrls": ["https://jupyter.example.org", "https://ohdsi.example.org/atlas/*"],
        "firefoxPolicyConfigMap": POLICY_MAP,
    }
    cli = new_stack(program_dir, sandbox, "policy")
    cli.config_set("bindingsNamespace", "policy-bindings")
    cli.config_set("browserUrl", str(values["browserUrl"]))
    cli.config_set("firefoxPolicyConfigMap", POLICY_MAP)
    cli.run("config", "set", "--path", "firefoxAllowedUrls[0]", "https://jupyter.example.org")
    cli.run("config", "set", "--path", "firefoxAllowedUrls[1]", "https://ohdsi.example.org/atlas/*")
    sandbox.kubectl("create", "namespace", "policy-bindings")
    user = "policy@example.org"
    manifest = binding("policy-0", user)
    manifest["metadata"]["namespace"] = "policy-bindings"
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, "policy-bindings", PLURAL, manifest
    )

    cli.up()
    settings = settings_from_values(values)
    stored = core.read_namespaced_config_map(POLICY_MAP, BROWSER_NAMESPACE)
    assert json.loads(stored.data["policies.json"]) == firefox_policy.policies(settings)
    assert stored.data["distribution.ini"] == firefox_policy.DISTRIBUTION_INI
    rules = json.loads(stored.data["policies.json"])["policies"]
    assert rules["WebsiteFilter"]["Exceptions"] == [
        "https://jupyter.example.org/*",
        "https://ohdsi.example.org/atlas/*",
    ]
    assert rules["CaptivePortal"] is False  # the legacy value is overwritten

    deployment = client.AppsV1Api(api).read_namespaced_deployment(
        naming.deployment_name(WORKSPACE, user), BROWSER_NAMESPACE
    )
    template = deployment.spec.template
    assert template.metadata.annotations[FIREFOX_POLICY_DIGEST] == firefox_policy.digest(settings)
    volumes = {v.name: v.config_map.name for v in template.spec.volumes}
    assert volumes["firefox-config"] == POLICY_MAP
    mounts = {m.mount_path: m.name for m in template.spec.containers[0].volume_mounts}
    assert mounts == {
        "/usr/lib/firefox/distribution": "firefox-config",
        "/usr/lib/firefox/distribution/certs": "guacamole-certificates",
    }

    assert change_summary(cli.preview_json()) == {}
    cli.refresh()
    assert change_summary(cli.preview_json()) == {}

    # A policy change shows as an update of the ConfigMap and of the pod template (a restart).
    cli.config_set("browserUrl", "https://jupyter2.example.org")
    summary = cli.preview_json()
    updated = {
        step["urn"].rsplit("::", 1)[1]
        for step in summary.get("steps", [])
        if step.get("op") == "update"
    }
    assert {"firefox-policy", naming.deployment_name(WORKSPACE, user)} <= updated
