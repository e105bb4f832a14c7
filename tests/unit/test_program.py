"""The program under Pulumi mocks: what gets declared, named, parented and reported."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pulumi
import pytest

from components import naming, sharding
from components.binding_source import BindingSourceError, SourcedManifest
from components.browser_workspace import TYPE as WORKSPACE_TYPE
from components.program import Declared, declare
from components.settings import Settings, settings_from_values
from components.takeover.inventory import Inventory
from tests.factories import manifest
from tests.unit.conftest import PulumiHarness, is_secret, unsecret

TODAY = date(2025, 6, 1)
CHILD_TYPES = (
    "awms:GeneratedPassword",
    "kubernetes:core/v1:Secret",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
    "guacamole:Connection",
)


class ListSource:
    def __init__(self, *manifests: Any) -> None:
        self.manifests = manifests

    def describe(self) -> str:
        return "test bindings"

    def load(self) -> list[SourcedManifest]:
        return [SourcedManifest(f"#{i}", m) for i, m in enumerate(self.manifests)]


class BrokenSource:
    def describe(self) -> str:
        return "a dead API server"

    def load(self) -> list[SourcedManifest]:
        raise BindingSourceError("cannot reach the Kubernetes API")


def _declare(harness: PulumiHarness, *manifests: Any, settings: Settings | None = None) -> Declared:
    chosen = settings or settings_from_values({})
    declared: Declared = harness.run(
        lambda: declare(
            chosen, ListSource(*manifests), today=TODAY, inventory=lambda *_: Inventory()
        )
    )
    return declared


def _name(workspace: str, username: str) -> str:
    return naming.deployment_name(workspace, username)


def test_one_component_per_binding_with_parented_children(harness: PulumiHarness):
    declared = _declare(
        harness,
        manifest("ann", workspace="ws-one", username="ann@x.org", replicas=1),
        manifest("bob", workspace="ws-one", username="bob@x.org"),
        manifest("cat", namespace="team-b", workspace="ws-two", username="cat@x.org"),
    )
    components = harness.of_type(WORKSPACE_TYPE)
    expected = {
        _name("ws-one", "ann@x.org"),
        _name("ws-one", "bob@x.org"),
        _name("ws-two", "cat@x.org"),
    }
    assert {c.name for c in components} == expected
    assert set(declared.workspaces) == expected
    for component in components:
        children = [r for r in harness.monitor.registered if r.parent == component.urn]
        assert sorted(
            r.typ.split(":", 1)[1] if r.typ.startswith("pulumi-python") else r.typ for r in children
        ) == sorted(t if t.startswith("kubernetes") else f"dynamic/{t}" for t in CHILD_TYPES)
    groups = harness.of_type("guacamole:ConnectionGroup")
    assert sorted(g.inputs["group_name"] for g in groups) == ["ws-one", "ws-two"]
    assert all("::pulumi:pulumi:Stack::" in g.parent for g in groups)
    policies = harness.of_type("NetworkPolicy")
    assert sorted(p.name for p in policies) == ["network-policy-ws-one", "network-policy-ws-two"]
    assert all("::pulumi:pulumi:Stack::" in p.parent for p in policies)


def test_kubernetes_names_match_the_legacy_operator(harness: PulumiHarness):
    _declare(harness, manifest("ann", workspace="test-workspace", username="jovyan"))
    name = "1650b50f8d495d69a1ddc8453da48e53"
    deployment = harness.one("apps/v1:Deployment", name)
    assert deployment.inputs["metadata"]["name"] == name
    assert deployment.inputs["metadata"]["namespace"] == "guacamole"
    assert harness.one("core/v1:Service", f"{name}-service").inputs["metadata"]["name"] == (
        f"client-{name}"
    )
    assert harness.one("core/v1:Secret", f"{name}-vnc").inputs["metadata"]["name"] == (
        f"client-{name}-vnc"
    )
    assert not harness.of_type("guacamole:User")  # the connection holds its user
    connection = harness.one("guacamole:Connection", f"{name}-guacamole-connection")
    assert connection.inputs["username"] == "test-workspace@jovyan"
    assert "entity_id" not in connection.inputs or connection.inputs["entity_id"] is None
    assert connection.inputs["connection_name"] == "jovyan"
    assert connection.inputs["hostname"] == f"client-{name}.guacamole.svc.cluster.local"
    assert connection.inputs["port"] == 5900


def test_password_and_hostname_reach_both_sides(harness: PulumiHarness):
    _declare(harness, manifest("ann"))
    name = _name("default-generic-workspace", "jane.doe@example.org")
    password = harness.one("awms:GeneratedPassword", f"{name}-vnc-password")
    assert "password" in password.additional_secret_outputs
    secret = harness.one("core/v1:Secret", f"{name}-vnc")
    connection = harness.one("guacamole:Connection", f"{name}-guacamole-connection")
    string_data = secret.inputs["stringData"]
    assert is_secret(string_data)
    assert is_secret(connection.inputs["password"])
    generated = f"generated-{name}-vnc-password"
    assert unsecret(string_data) == {"password": generated}
    assert unsecret(connection.inputs["password"]) == generated

    container = harness.one("apps/v1:Deployment", name).inputs["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert {
        "name": "VNC_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": f"client-{name}-vnc", "key": "password"}},
    } in container["env"]

    service = harness.one("core/v1:Service", f"{name}-service").inputs["metadata"]
    assert connection.inputs["hostname"] == (
        f"{service['name']}.{service['namespace']}.svc.cluster.local"
    )
    assert harness.one("core/v1:Service", f"{name}-service").urn in harness.reaches(connection)


def test_connection_joins_the_workspace_group_and_the_user(harness: PulumiHarness):
    _declare(harness, manifest("ann"), manifest("bob", username="bob@x.org"))
    (group,) = harness.of_type("guacamole:ConnectionGroup")
    connections = harness.of_type("guacamole:Connection")
    assert len(connections) == 2
    group_id = harness.monitor.resources[group.urn].state["group_id"]
    for connection in connections:
        assert connection.inputs["group_id"] == group_id
        assert group.urn in connection.dependencies
        workspace, _, username = connection.inputs["username"].partition("@")
        assert workspace == "default-generic-workspace"
        assert username == connection.inputs["connection_name"]
        assert connection.inputs["disable_copy"] is True
        assert connection.inputs["disable_paste"] is True


def test_malformed_and_expired_bindings_are_skipped_with_a_message(harness: PulumiHarness):
    declared = _declare(
        harness,
        manifest("good"),
        manifest("bad", namespace="team-x", workspace=...),
        manifest("old", username="old@x.org", expires="2025-05-31"),
        manifest("claims", username=..., claims=[{"name": "g", "operator": "IN", "value": "a"}]),
    )
    assert [c.name for c in harness.of_type(WORKSPACE_TYPE)] == [
        _name("default-generic-workspace", "jane.doe@example.org")
    ]
    # Refusals are warnings: an error diagnostic would make the engine call the update failed.
    assert harness.log.messages(logging.ERROR) == []
    warnings = harness.log.messages(logging.WARNING)
    assert any("team-x/bad" in m and "spec.workspace" in m for m in warnings)
    assert any(
        "jupyterhub/claims" in m and "claims-only bindings are not supported" in m for m in warnings
    )
    assert any("jupyterhub/old" in m and "expired on 2025-05-31" in m for m in warnings)
    outputs = declared.outputs()
    assert outputs["summary"] == {
        "bindingsRead": 4,
        "provisioned": 1,
        "workspaces": 1,
        "skipped": 2,
        "expired": 1,
    }
    assert set(outputs["workspaces"]) == {"jupyterhub/good"}
    assert {p["kind"] for p in outputs["problems"]} == {"invalid", "expired"}
    fields = {p["bindings"][0]: p["field"] for p in outputs["problems"] if p["kind"] == "invalid"}
    assert fields == {"team-x/bad": "spec.workspace", "jupyterhub/claims": "spec.claims"}

    statuses = {r.name: r.inputs["status"] for r in harness.of_type("awms:BindingStatus")}
    assert statuses["jupyterhub/old"] == {
        "statusText": "EXPIRED",
        "replicas": 0,
        "deploymentName": "",
    }
    assert statuses["team-x/bad"] == {
        "statusText": "INVALID: spec.workspace: is required",
        "replicas": 0,
        "deploymentName": "",
    }
    assert statuses["jupyterhub/claims"]["statusText"].startswith("INVALID: spec.claims: ")
    assert statuses["jupyterhub/good"]["statusText"] == "READY"


def test_forged_binding_text_reaches_logs_outputs_and_status_escaped(harness: PulumiHarness):
    forged = "x\n\x1b[31merror: binding analytics/good-alice skipped: FORGED\u202e"
    declared = _declare(harness, manifest("good"), manifest("evil", username=forged))
    messages = [m for level in (logging.WARNING, logging.INFO) for m in harness.log.messages(level)]
    refusal = next(m for m in messages if "jupyterhub/evil" in m)
    assert refusal.isprintable() and "spec.username" in refusal
    assert "U+000A, U+001B, U+202E" in refusal
    assert all(m.isprintable() for m in messages)
    problems = declared.outputs()["problems"]
    assert [p["field"] for p in problems] == ["spec.username"]
    assert all(p["message"].isprintable() for p in problems)
    status = {r.name: r.inputs for r in harness.of_type("awms:BindingStatus")}["jupyterhub/evil"]
    assert status["status"]["statusText"].startswith("INVALID: spec.username: ")
    assert status["status"]["statusText"].isprintable()
    assert status["note"].isprintable()


def test_a_ready_status_mirrors_its_deployment_and_words_its_events(harness: PulumiHarness):
    name = _name("default-generic-workspace", "jane.doe@example.org")
    _declare(
        harness,
        manifest("new"),
        manifest(
            "legacy",
            namespace="team-l",
            status={"statusText": "READY", "deploymentName": name},
        ),
    )
    statuses = {r.name: r.inputs for r in harness.of_type("awms:BindingStatus")}
    for key in ("jupyterhub/new", "team-l/legacy"):
        assert statuses[key]["deployment"] == {"namespace": "guacamole", "name": name}
        assert name in statuses[key]["note"] and "jane.doe@example.org" in statuses[key]["note"]
    assert statuses["jupyterhub/new"]["takenOver"] is False
    assert statuses["team-l/legacy"]["takenOver"] is True


def test_duplicates_collapse_and_both_bindings_get_the_status(harness: PulumiHarness):
    _declare(
        harness,
        manifest("first", namespace="team-a", replicas=0),
        manifest("second", namespace="team-b", replicas=1),
    )
    (component,) = harness.of_type(WORKSPACE_TYPE)
    name = component.name
    assert harness.one("apps/v1:Deployment", name).inputs["spec"]["replicas"] == 1
    duplicate_warnings = [m for m in harness.log.messages(logging.WARNING) if "share one" in m]
    assert len(duplicate_warnings) == 1
    assert "team-a/first" in duplicate_warnings[0] and "team-b/second" in duplicate_warnings[0]
    statuses = {r.name: r for r in harness.of_type("awms:BindingStatus")}
    assert set(statuses) == {"team-a/first", "team-b/second"}
    deployment_urn = harness.one("apps/v1:Deployment", name).urn
    for status in statuses.values():
        assert status.inputs["status"] == {
            "statusText": "READY",
            "deploymentName": name,
            "replicas": 1,
        }
        assert deployment_urn in status.dependencies
        assert harness.one("guacamole:Connection", f"{name}-guacamole-connection").urn in (
            status.dependencies
        )
    assert statuses["team-a/first"].inputs["bindingNamespace"] == "team-a"
    assert statuses["team-b/second"].inputs["bindingName"] == "second"


def test_stack_outputs_name_every_binding(harness: PulumiHarness):
    declared = _declare(harness, manifest("a"), manifest("b", username="bob@x.org"))
    outputs = declared.outputs()
    name = _name("default-generic-workspace", "bob@x.org")
    entry = outputs["workspaces"]["jupyterhub/b"]
    assert entry["deploymentName"] == name
    assert entry["hostname"] == f"client-{name}.guacamole.svc.cluster.local"
    connection_ids: list[Any] = []
    harness.run(lambda: entry["connectionId"].apply(connection_ids.append))
    connection = harness.one("guacamole:Connection", f"{name}-guacamole-connection")
    assert connection_ids == [harness.monitor.resources[connection.urn].state["connection_id"]]


def test_a_source_that_cannot_be_read_fails_the_run(harness: PulumiHarness):
    settings = settings_from_values({})
    with pytest.raises(BindingSourceError):
        harness.run(lambda: declare(settings, BrokenSource(), today=TODAY))
    assert harness.monitor.registered == []


def test_config_overrides_change_the_pod_spec(harness: PulumiHarness):
    settings = settings_from_values(
        {
            "namespace": "browsers",
            "image": "registry.example/vnc:2",
            "browserUrl": "https://jupyter.example",
            "firefoxPolicyConfigMap": "",
            "enterpriseCaConfigMap": "corp-ca",
            "resources": {"limits": {"memory": "3Gi"}},
            "podSecurity": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": ""},
            "awaitDeployments": True,
            "disableCopy": False,
        }
    )
    _declare(harness, manifest("a"), settings=settings)
    name = _name("default-generic-workspace", "jane.doe@example.org")
    deployment = harness.one("apps/v1:Deployment", name).inputs
    assert deployment["metadata"]["namespace"] == "browsers"
    assert "pulumi.com/skipAwait" not in deployment["metadata"]["annotations"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/vnc:2"
    assert container["env"][0] == {"name": "BROWSER_URL", "value": "https://jupyter.example"}
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "512Mi"},
        "limits": {"memory": "3Gi"},
    }
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000}
    assert pod["volumes"] == [{"name": "guacamole-certificates", "configMap": {"name": "corp-ca"}}]
    connection = harness.one("guacamole:Connection", f"{name}-guacamole-connection").inputs
    assert connection["hostname"] == f"client-{name}.browsers.svc.cluster.local"
    assert connection["disable_copy"] is False


def test_no_browser_pod_outlives_or_predates_its_network_policy(harness: PulumiHarness):
    """The engine creates dependencies first and deletes them last: each Deployment waits for
    its own workspace's policy, which selects the labels of its pod template."""
    _declare(
        harness,
        manifest("ann", workspace="ws-one", username="ann@x.org"),
        manifest("bob", workspace="ws-one", username="bob@x.org"),
        manifest("cat", workspace="ws-two", username="cat@x.org"),
    )
    for workspace, username in (
        ("ws-one", "ann@x.org"),
        ("ws-one", "bob@x.org"),
        ("ws-two", "cat@x.org"),
    ):
        policy = harness.one("NetworkPolicy", f"network-policy-{workspace}")
        other = "ws-two" if workspace == "ws-one" else "ws-one"
        deployment = harness.one("apps/v1:Deployment", _name(workspace, username))
        assert policy.urn in deployment.dependencies
        assert harness.one("NetworkPolicy", f"network-policy-{other}").urn not in (
            deployment.dependencies
        )
        selected = policy.inputs["spec"]["podSelector"]["matchLabels"]
        pod_labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
        assert selected and selected.items() <= pod_labels.items()


def test_guacamole_rows_come_after_every_kubernetes_object_and_go_before_them(
    harness: PulumiHarness,
):
    """Access is granted once the browser exists and revoked before anything else is touched."""
    _declare(harness, manifest("ann"))
    name = _name("default-generic-workspace", "jane.doe@example.org")
    objects = [
        harness.one("core/v1:Secret", f"{name}-vnc"),
        harness.one("NetworkPolicy", "network-policy-default-generic-workspace"),
        harness.one("apps/v1:Deployment", name),
        harness.one("core/v1:Service", f"{name}-service"),
    ]
    connection = harness.one("guacamole:Connection", f"{name}-guacamole-connection")
    assert {o.urn for o in objects} <= harness.reaches(connection)
    for obj in objects:
        assert connection.urn not in harness.reaches(obj), obj.name
    # Each edge is a URN in the state: only the two objects that do not already order the rest.
    kubernetes = {o.urn for o in objects}
    assert kubernetes & set(connection.dependencies) == {objects[2].urn, objects[3].urn}


def test_a_binding_component_registers_no_outputs_of_its_own(harness: PulumiHarness):
    """Each registration is one more checkpoint write per binding; the stack output has them."""

    def declare_with_a_control() -> Any:
        control = pulumi.ComponentResource("test:index:Control", "control")
        control.register_outputs({"seen": True})
        return declare(
            settings_from_values({}),
            ListSource(manifest("ann")),
            today=TODAY,
            inventory=lambda *_: Inventory(),
        )

    harness.run(declare_with_a_control)
    name = _name("default-generic-workspace", "jane.doe@example.org")
    component = harness.one("awms:index:BrowserWorkspace", name)
    assert harness.one("test:index:Control", "control").urn in harness.monitor.outputs_registered
    assert component.urn not in harness.monitor.outputs_registered


def test_network_policy_and_status_writing_can_be_switched_off(harness: PulumiHarness):
    settings = settings_from_values(
        {"networkPolicy": {"enabled": False}, "writeBindingStatus": False}
    )
    _declare(harness, manifest("a"), settings=settings)
    assert harness.of_type("NetworkPolicy") == []
    assert harness.of_type("awms:BindingStatus") == []
    assert len(harness.of_type("apps/v1:Deployment")) == 1


def test_kubernetes_objects_use_one_explicit_provider(harness: PulumiHarness):
    settings = settings_from_values({"kubeconfig": "/etc/awms/kubeconfig"})
    _declare(harness, manifest("a"), settings=settings)
    providers = {p.name: p for p in harness.of_type("pulumi:providers:kubernetes")}
    # The policy ConfigMap has its own provider (mutable ConfigMaps), on the same cluster.
    assert set(providers) == {"kubernetes", "kubernetes-firefox-policy"}
    assert all(p.inputs["kubeconfig"] == "/etc/awms/kubeconfig" for p in providers.values())
    provider = providers["kubernetes"]
    (config_map,) = harness.of_type("core/v1:ConfigMap")
    assert config_map.provider.startswith(providers["kubernetes-firefox-policy"].urn + "::")
    kinds = ("apps/v1:Deployment", "core/v1:Service", "core/v1:Secret", "NetworkPolicy")
    resources = [r for kind in kinds for r in harness.of_type(kind)]
    assert len(resources) == 4
    for resource in resources:
        assert resource.provider.startswith(provider.urn + "::"), resource.name


def test_empty_egress_is_warned_about(harness: PulumiHarness):
    _declare(harness, manifest("a"))
    assert any("networkPolicy.egress is empty" in m for m in harness.log.messages(logging.WARNING))


def test_leftovers_become_one_revocation_and_the_outputs_name_the_orphans(
    harness: PulumiHarness,
):
    from components.takeover.inventory import LiveConnection, LiveObject

    gone = naming.deployment_name("default-generic-workspace", "gone@x.org")
    live = Inventory(
        objects=(
            LiveObject("Deployment", gone, "default-generic-workspace", "gone@x.org", False, True),
        ),
        connections=(
            LiveConnection(
                "default-generic-workspace",
                "gone@x.org",
                9,
                naming.connection_hostname(gone, "guacamole"),
                True,
            ),
        ),
    )
    settings = settings_from_values({"legacyOrphans": "remove"})
    declared: Declared = harness.run(
        lambda: declare(
            settings,
            ListSource(manifest("old", username="old@x.org", expires="2025-05-31"), manifest("a")),
            today=TODAY,
            inventory=lambda *_: live,
        )
    )
    (revocation,) = harness.of_type("AccessRevocation")
    reasons = {e["key"]: e["reason"] for e in revocation.inputs["entries"]}
    old = naming.deployment_name("default-generic-workspace", "old@x.org")
    assert reasons == {old: "expired", gone: "orphan"}
    outputs = declared.outputs()
    assert [o["deploymentName"] for o in outputs["orphans"]] == [gone]
    assert outputs["orphans"][0]["action"] == "removed"
    status = harness.one("awms:BindingStatus", "jupyterhub/old")
    assert revocation.urn in status.dependencies


def test_one_firefox_policy_config_map_per_stack_unless_declared_elsewhere(
    harness: PulumiHarness,
):
    settings = settings_from_values({"browserUrl": "https://jupyter.example.org"})
    _declare(harness, manifest("a"), manifest("b", username="b@x.org"), settings=settings)
    (config_map,) = harness.of_type("core/v1:ConfigMap")
    assert config_map.inputs["metadata"]["name"] == "firefox-config"
    assert set(config_map.inputs["data"]) == {"policies.json", "distribution.ini"}
    assert not any("blocks every site" in m for m in harness.log.messages(logging.WARNING))


def test_no_policy_config_map_when_declared_elsewhere(harness: PulumiHarness):
    _declare(harness, manifest("a"), settings=settings_from_values({"declareFirefoxPolicy": False}))
    assert harness.of_type("core/v1:ConfigMap") == []


def test_an_empty_allow_list_is_warned_about(harness: PulumiHarness):
    _declare(harness, manifest("a"))
    assert any("blocks every site" in m for m in harness.log.messages(logging.WARNING))


def test_a_stack_beyond_the_sizing_rule_is_warned_with_the_shard_count(
    harness: PulumiHarness, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sharding, "LARGE_STACK", 1)
    _declare(harness, manifest("a"), manifest("b", username="b@x.org"))

    warnings = [m for m in harness.log.messages(logging.WARNING) if "holds 2 bindings" in m]
    assert len(warnings) == 1
    assert "shards: 2" in warnings[0]


def test_a_stack_within_the_sizing_rule_is_not_warned(harness: PulumiHarness):
    _declare(harness, manifest("a"), manifest("b", username="b@x.org"))

    assert not any("bindings (" in m for m in harness.log.messages(logging.WARNING))
