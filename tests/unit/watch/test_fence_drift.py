"""The browsers' fence compared with the state: what counts as drift, and what is then refreshed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from components.manifests import DEPLOYMENT_LABEL, WORKSPACE_LABEL
from components.watch import fence_drift
from components.watch.drift import DriftCheck
from components.watch.exported_state import SECRET_SIGNATURE
from components.watch.fence_drift import (
    DEPLOYMENT_TYPE,
    POLICY_TYPE,
    SECRET_TYPE,
    SERVICE_TYPE,
    compare,
    find_fence_drift,
    kubeconfig_of,
    recorded_objects,
    selectors,
)

SPEC = {
    "podSelector": {"matchLabels": {WORKSPACE_LABEL: "ws"}},
    "policyTypes": ["Ingress", "Egress"],
    "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 5900, "protocol": "TCP"}]}],
    "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}],
}
POLICY_INPUTS: dict[str, Any] = {
    "metadata": {"name": "browsers-ws", "labels": {WORKSPACE_LABEL: "ws"}},
    "spec": SPEC,
}
TEMPLATE_LABELS = {"xlscsde.nhs.uk/deployment-name": "d1", WORKSPACE_LABEL: "ws"}
DEPLOYMENT_INPUTS: dict[str, Any] = {
    "metadata": {"name": "d1", "labels": {WORKSPACE_LABEL: "ws"}},
    "spec": {"template": {"metadata": {"labels": TEMPLATE_LABELS}}},
}
SERVICE_INPUTS: dict[str, Any] = {
    "metadata": {"name": "s", "labels": {WORKSPACE_LABEL: "ws"}},
    "spec": {"clusterIP": "None", "selector": {"xlscsde.nhs.uk/deployment-name": "d1"}},
}
PASSWORD_B64 = "c2VjcmV0LXBhc3N3b3Jk"
SECRET_INPUTS: dict[str, Any] = {
    "metadata": {"name": "client-d1-vnc", "labels": {DEPLOYMENT_LABEL: "d1"}},
    "type": "Opaque",
    # As ``pulumi stack export --show-secrets`` writes a secret input.
    "data": {
        SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270",
        "plaintext": json.dumps({"password": PASSWORD_B64}),
    },
}
STATE: dict[str, Any] = {
    "resources": [
        {"urn": "urn:stack", "type": "pulumi:pulumi:Stack"},
        {"urn": "urn:k8s", "type": "pulumi:providers:kubernetes", "inputs": {"kubeconfig": "/k"}},
        {"urn": "urn:policy", "type": POLICY_TYPE, "id": "ns/browsers-ws", "inputs": POLICY_INPUTS},
        {"urn": "urn:d1", "type": DEPLOYMENT_TYPE, "id": "ns/d1", "inputs": DEPLOYMENT_INPUTS},
        {"urn": "urn:old", "type": POLICY_TYPE, "id": "ns/client-x", "delete": True, "inputs": {}},
        {"urn": "urn:pending", "type": DEPLOYMENT_TYPE, "inputs": DEPLOYMENT_INPUTS},
        {"urn": "urn:svc", "type": SERVICE_TYPE, "id": "ns/s", "inputs": SERVICE_INPUTS},
        {"urn": "urn:vnc", "type": SECRET_TYPE, "id": "ns/client-d1-vnc", "inputs": SECRET_INPUTS},
        {"urn": "urn:gone", "type": SECRET_TYPE, "id": "ns/x", "delete": True, "inputs": {}},
    ]
}


def live_objects() -> dict[tuple[str, str, str], dict[str, Any]]:
    """The cluster as the program left it (with what the API server adds)."""
    deployment = copy.deepcopy(DEPLOYMENT_INPUTS)
    deployment["spec"]["replicas"] = 0
    deployment["metadata"]["uid"] = "u1"
    return {
        ("networkpolicies", "ns", "browsers-ws"): {**copy.deepcopy(POLICY_INPUTS), "kind": "x"},
        ("deployments", "ns", "d1"): deployment,
        ("services", "ns", "s"): {**copy.deepcopy(SERVICE_INPUTS), "status": {}},
        ("secrets", "ns", "client-d1-vnc"): {
            "metadata": {"name": "client-d1-vnc", "resourceVersion": "7"},
            "type": "Opaque",
            "data": {"password": PASSWORD_B64},
        },
    }


def test_only_live_fence_objects_are_recorded_with_the_providers_kubeconfig() -> None:
    recorded = recorded_objects(STATE)
    assert [(r.urn, r.key) for r in recorded] == [
        ("urn:policy", ("networkpolicies", "ns", "browsers-ws")),
        ("urn:d1", ("deployments", "ns", "d1")),
        ("urn:svc", ("services", "ns", "s")),
        ("urn:vnc", ("secrets", "ns", "client-d1-vnc")),
    ]
    assert recorded[-1].inputs["data"] == {"password": PASSWORD_B64}
    assert kubeconfig_of(STATE) == "/k"
    assert kubeconfig_of({"resources": []}) is None


def test_the_cluster_as_left_is_no_drift() -> None:
    assert find_fence_drift(recorded_objects(STATE), live_objects()) == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda spec: spec["egress"].append({}),  # everything allowed out
        lambda spec: spec["ingress"][0]["from"].append({"ipBlock": {"cidr": "0.0.0.0/0"}}),
        lambda spec: spec["podSelector"]["matchLabels"].update({"extra": "x"}),  # fewer pods
        lambda spec: spec.update({"policyTypes": ["Ingress"]}),
        lambda spec: spec.pop("egress"),
    ],
)
def test_any_change_to_a_policy_spec_is_drift(edit: Any) -> None:
    live = live_objects()
    edit(live[("networkpolicies", "ns", "browsers-ws")]["spec"])
    drift = find_fence_drift(recorded_objects(STATE), live)
    assert [(d.urn, d.fields) for d in drift] == [("urn:policy", ("spec",))]


def test_a_template_without_the_workspace_label_or_a_missing_object_is_drift() -> None:
    live = live_objects()
    del live[("deployments", "ns", "d1")]["spec"]["template"]["metadata"]["labels"][WORKSPACE_LABEL]
    del live[("networkpolicies", "ns", "browsers-ws")]
    drift = find_fence_drift(recorded_objects(STATE), live)
    assert [(d.urn, d.fields) for d in drift] == [
        ("urn:policy", ("<deleted>",)),
        ("urn:d1", (f"spec.template.metadata.labels[{WORKSPACE_LABEL}]",)),
    ]


def test_server_fields_and_labels_no_manager_owns_are_not_drift() -> None:
    live = live_objects()
    deployment = live[("deployments", "ns", "d1")]
    deployment["spec"]["template"]["metadata"]["labels"]["added-by-someone"] = "x"
    deployment["status"] = {"replicas": 0}
    recorded = recorded_objects(STATE)[1]
    assert compare(recorded, deployment) == ()
    assert compare(recorded, None) == ("<deleted>",)


def test_objects_are_listed_by_their_workspace_labels_in_bounded_selectors() -> None:
    recorded = [
        fence_drift.RecordedObject(
            f"urn:{i}",
            "deployments",
            "ns",
            f"d{i}",
            {"metadata": {"labels": {WORKSPACE_LABEL: f"w{i}"}}},
        )
        for i in range(120)
    ]
    chosen = selectors(recorded)
    assert list(chosen) == [("deployments", "ns")]
    assert len(chosen["deployments", "ns"]) == 3
    assert all(s.startswith(f"{WORKSPACE_LABEL} in (") for s in chosen["deployments", "ns"])
    unlabelled = fence_drift.RecordedObject("urn:x", "deployments", "ns", "x", {"metadata": {}})
    assert selectors([*recorded, unlabelled]) == {("deployments", "ns"): [""]}


class Runner:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.refreshed: list[list[str]] = []

    def export(self, *, show_secrets: bool = False) -> dict[str, Any]:
        return {"deployment": self.state}

    def database_url(self) -> str | None:
        return "postgresql://u:hunter2@127.0.0.1:1/x?connect_timeout=1"

    def refresh(self, targets: list[str]) -> str:
        self.refreshed.append(list(targets))
        return ""


def test_a_drifted_fence_is_refreshed_even_when_the_database_is_down() -> None:
    state = copy.deepcopy(STATE)
    state["resources"].append(
        {
            "urn": "urn:conn",
            "type": "pulumi-python:dynamic/guacamole:Connection",
            "id": "9",
            "outputs": {},
        }
    )
    live = live_objects()
    del live[("networkpolicies", "ns", "browsers-ws")]
    seen: list[str | None] = []

    def fence(kubeconfig: str | None, recorded: list[Any], accepted: tuple[str, ...]) -> Any:
        seen.append(kubeconfig)
        return find_fence_drift(recorded, live, accepted)

    runner = Runner(state)
    report = DriftCheck(runner, environ={}, fence=fence).run()
    assert seen == ["/k"]
    assert runner.refreshed == [["urn:policy"]]
    assert report.refreshed and "Guacamole" in report.error and "hunter2" not in report.error


def test_an_unreachable_cluster_is_reported_not_raised() -> None:
    def fence(kubeconfig: str | None, recorded: list[Any], accepted: tuple[str, ...]) -> Any:
        raise ConnectionError("API server down")

    runner = Runner(copy.deepcopy(STATE))
    report = DriftCheck(runner, environ={}, fence=fence).run()
    assert "fence: ConnectionError: API server down" in report.error
    assert runner.refreshed == []


def test_the_check_hands_its_accepted_managers_to_the_fence() -> None:
    given: list[tuple[str, ...]] = []

    def fence(kubeconfig: str | None, recorded: list[Any], accepted: tuple[str, ...]) -> Any:
        given.append(accepted)
        return []

    DriftCheck(Runner(copy.deepcopy(STATE)), environ={}, fence=fence).run()
    DriftCheck(
        Runner(copy.deepcopy(STATE)),
        environ={},
        fence=fence,
        accepted_managers=("kyverno", "reloader"),
    ).run()
    assert given == [(), ("kyverno", "reloader")]


def test_an_object_that_cannot_be_put_back_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A write made between the read and the repair (409) is left for the next check; the
    other changed objects are still put back and every drifted one is still reported."""
    live = live_objects()
    live[("networkpolicies", "ns", "browsers-ws")]["spec"]["egress"].append({})
    del live[("deployments", "ns", "d1")]["spec"]["template"]["metadata"]["labels"][WORKSPACE_LABEL]
    restored: list[str] = []

    def restore(api: Any, item: fence_drift.RecordedObject, body: Any, accepted: Any) -> None:
        if item.kind == "networkpolicies":
            raise ApiException(status=409, reason="Conflict")
        restored.append(item.name)

    class Api:
        def close(self) -> None:
            pass

    monkeypatch.setattr(fence_drift, "new_api_client", lambda kubeconfig: Api())
    monkeypatch.setattr(fence_drift, "read_live", lambda api, recorded: live)
    monkeypatch.setattr(fence_drift, "read_foreign_policies", lambda api, recorded: [])
    monkeypatch.setattr(fence_drift, "restore", restore)
    drifted = fence_drift.repair(None, recorded_objects(STATE))
    assert [d.urn for d in drifted] == ["urn:policy", "urn:d1"]
    assert restored == ["d1"]
    assert "could not put back networkpolicies ns/browsers-ws (HTTP 409)" in caplog.text


def test_a_repair_writes_the_recorded_part_and_keeps_the_live_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Deployment keeps the login path's ``replicas`` and its ``resourceVersion`` (so a
    write made since is refused); the Service keeps the addresses the server allocated."""
    written: dict[str, Any] = {}

    class Api:
        def __getattr__(self, name: str) -> Any:
            return lambda name_, namespace, body, **kwargs: written.update({name: (body, kwargs)})

    for api in ("AppsV1Api", "CoreV1Api", "NetworkingV1Api"):
        monkeypatch.setattr(f"kubernetes.client.{api}", lambda _api: Api())
    kinds = ("deployments", "services")
    deployment, service = (r for r in recorded_objects(STATE) if r.kind in kinds)
    live = live_objects()[deployment.key]
    live["spec"]["replicas"] = 1
    live["metadata"]["resourceVersion"] = "42"
    live["spec"]["template"]["spec"] = {"hostNetwork": True}
    fence_drift.restore(None, deployment, live)
    body, kwargs = written["replace_namespaced_deployment"]
    assert body["spec"]["replicas"] == 1 and body["metadata"]["resourceVersion"] == "42"
    assert body["spec"]["template"] == DEPLOYMENT_INPUTS["spec"]["template"]
    assert kwargs["field_manager"] == "awms-browser-workspaces"

    live_service = {**SERVICE_INPUTS, "spec": {"clusterIPs": ["None"], "externalIPs": ["1.2.3.4"]}}
    fence_drift.restore(None, service, live_service)
    body, _ = written["replace_namespaced_service"]
    assert body["spec"] == {**SERVICE_INPUTS["spec"], "clusterIPs": ["None"]}


@pytest.mark.parametrize(
    ("edit", "fields"),
    [
        (lambda secret: secret["data"].update({"password": "MTIzNA=="}), ("data[password]",)),
        (lambda secret: secret["data"].update({"extra": "eA=="}), ("data[extra]",)),
        (lambda secret: secret.pop("data"), ("data[password]",)),
        (lambda secret: secret.update({"type": "kubernetes.io/basic-auth"}), ("type",)),
    ],
)
def test_a_vnc_secret_edited_by_hand_is_drift_named_without_its_value(
    edit: Any, fields: tuple[str, ...]
) -> None:
    """The browser reads its VNC password from the Secret when it starts, guacd sends the
    recorded one: an edited Secret locks the user out at the next login, or sets a password
    the program did not choose."""
    live = live_objects()
    edit(live[("secrets", "ns", "client-d1-vnc")])
    drift = find_fence_drift(recorded_objects(STATE), live)
    assert [(d.urn, d.fields) for d in drift] == [("urn:vnc", fields)]
    described = drift[0].describe()
    assert PASSWORD_B64 not in described and "MTIzNA==" not in described


def test_vnc_secrets_are_listed_by_their_deployments_name() -> None:
    chosen = selectors(recorded_objects(STATE))
    assert chosen[("secrets", "ns")] == [f"{DEPLOYMENT_LABEL} in (d1)"]
    assert chosen[("deployments", "ns")] == [f"{WORKSPACE_LABEL} in (ws)"]


def test_a_secret_repair_writes_the_recorded_data_and_keeps_its_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written: dict[str, Any] = {}

    class Api:
        def replace_namespaced_secret(self, name: str, namespace: str, body: Any, **kw: Any):
            written.update(name=name, namespace=namespace, body=body, **kw)

    monkeypatch.setattr("kubernetes.client.CoreV1Api", lambda _api: Api())
    (secret,) = (r for r in recorded_objects(STATE) if r.kind == "secrets")
    live = live_objects()[secret.key]
    live["data"] = {"password": "MTIzNA==", "extra": "eA=="}
    fence_drift.restore(None, secret, live)
    assert written["body"]["data"] == {"password": PASSWORD_B64}
    assert written["body"]["metadata"]["resourceVersion"] == "7"
    assert (written["name"], written["namespace"]) == ("client-d1-vnc", "ns")
    assert written["field_manager"] == "awms-browser-workspaces"


def test_a_secret_exported_without_its_value_is_never_compared_nor_written() -> None:
    state = copy.deepcopy(STATE)
    (vnc,) = (r for r in state["resources"] if r["urn"] == "urn:vnc")
    encrypted = {SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}
    vnc["inputs"] = {**vnc["inputs"], "data": encrypted}
    live = live_objects()
    live[("secrets", "ns", "client-d1-vnc")]["data"] = {"password": "MTIzNA=="}
    assert find_fence_drift(recorded_objects(state), live) == []
