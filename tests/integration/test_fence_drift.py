"""The browsers' fence, changed behind the program's back, is found and repaired.

The edits are what ``kubectl`` does in a hurry: a workspace's NetworkPolicy deleted, another's
egress opened to everything, one Deployment's pod template stripped of the label its workspace's
policy selects and another's relabelled to a workspace without a policy (their pods would run
unfenced), a third made privileged with the host's root mounted and another image, a fourth
given the node's network (and restarted with ``kubectl rollout restart``, which is allowed), and
one Service re-pointed at another user's browser and port 22. A plain ``up`` does not notice
(pulumi-kubernetes compares with the state); ``scripts/watch up --repair-drift`` puts every one
back, keeps the restart, and the next preview and check find nothing.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from components import naming
from components.manifests import DEPLOYMENT_LABEL, WORKSPACE_LABEL
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.helpers_guacamole import binding, run_watch, stack_with_bindings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

NAMESPACE = "fence"
DELETED, WIDENED = "fence-deleted", "fence-widened"
USERS = ["hal@example.org", "ida@example.org"]
STRIPPED = naming.deployment_name(WIDENED, USERS[0])
"""The Deployment whose pod template loses the workspace label."""
RELABELLED = naming.deployment_name(WIDENED, USERS[1])
"""The Deployment whose pod template's workspace label names no policy's workspace."""
PRIVILEGED = naming.deployment_name(DELETED, USERS[0])
"""The Deployment made privileged, with a hostPath volume of ``/`` mounted and another image."""
HOST_NETWORK = naming.deployment_name(DELETED, USERS[1])
"""The Deployment given the node's network (a field the program never sets, so only its field
manager tells it from a default), then restarted."""
ROGUE_IMAGE = "registry.invalid/rogue:latest"
REPOINTED = naming.service_name(STRIPPED)
"""The Service re-pointed at another user's browser (:data:`RELABELLED`'s) and its port 22."""
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def get(sandbox: Sandbox, kind: str, name: str) -> dict[str, Any] | None:
    listing = sandbox.kubectl(
        "get", kind, "-n", BROWSER_NAMESPACE, "--field-selector", f"metadata.name={name}",
        "-o", "json",
    )  # fmt: skip
    found: list[dict[str, Any]] = json.loads(listing)["items"]
    return found[0] if found else None


def fence(sandbox: Sandbox) -> dict[str, Any]:
    """What the fence looks like now: each workspace's policy spec, the template's label."""
    policies = {
        ws: (get(sandbox, "networkpolicy", naming.workspace_network_policy_name(ws)) or {}).get(
            "spec"
        )
        for ws in (DELETED, WIDENED)
    }
    labels, pods = {}, {}
    for name in (STRIPPED, RELABELLED, PRIVILEGED, HOST_NETWORK):
        template = (get(sandbox, "deployment", name) or {}).get("spec", {}).get("template", {})
        labels[name] = template.get("metadata", {}).get("labels", {}).get(WORKSPACE_LABEL)
        (container,) = template["spec"]["containers"]
        pods[name] = {
            "image": container["image"],
            "privileged": container.get("securityContext", {}).get("privileged"),
            "host_network": template["spec"].get("hostNetwork"),
            "volumes": sorted(v["name"] for v in template["spec"].get("volumes", [])),
        }
    service = (get(sandbox, "service", REPOINTED) or {}).get("spec", {})
    routes = {
        "selector": service.get("selector"),
        "targets": [port.get("targetPort") for port in service.get("ports", [])],
    }
    return {"policies": policies, "labels": labels, "pods": pods, "service": routes}


def restarted_at(sandbox: Sandbox) -> str | None:
    deployment = get(sandbox, "deployment", HOST_NETWORK) or {}
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    value = annotations.get(RESTARTED_AT)
    return str(value) if value is not None else None


def escape(key: str) -> str:
    """``key`` as one JSON-pointer step."""
    return key.replace("~", "~0").replace("/", "~1")


def tamper(sandbox: Sandbox) -> None:
    sandbox.kubectl(
        "delete", "networkpolicy", naming.workspace_network_policy_name(DELETED),
        "-n", BROWSER_NAMESPACE,
    )  # fmt: skip
    sandbox.kubectl(
        "patch", "networkpolicy", naming.workspace_network_policy_name(WIDENED),
        "-n", BROWSER_NAMESPACE, "--type=json",
        "-p", json.dumps([{"op": "add", "path": "/spec/egress/-", "value": {}}]),
    )  # fmt: skip
    escaped = escape(WORKSPACE_LABEL)
    sandbox.kubectl(
        "patch", "deployment", STRIPPED, "-n", BROWSER_NAMESPACE, "--type=json",
        "-p", json.dumps(
            [{"op": "remove", "path": f"/spec/template/metadata/labels/{escaped}"}]
        ),
    )  # fmt: skip
    sandbox.kubectl(
        "patch", "deployment", RELABELLED, "-n", BROWSER_NAMESPACE, "--type=json",
        "-p", json.dumps(
            [{"op": "replace", "path": f"/spec/template/metadata/labels/{escaped}",
              "value": "nowhere"}]
        ),
    )  # fmt: skip
    sandbox.kubectl(
        "patch", "deployment", PRIVILEGED, "-n", BROWSER_NAMESPACE, "--type=json",
        "-p", json.dumps([
            {"op": "replace",
             "path": "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation",
             "value": True},
            {"op": "add", "path": "/spec/template/spec/containers/0/securityContext/privileged",
             "value": True},
            {"op": "add", "path": "/spec/template/spec/volumes/-",
             "value": {"name": "host", "hostPath": {"path": "/"}}},
            {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/-",
             "value": {"name": "host", "mountPath": "/host"}},
        ]),
    )  # fmt: skip
    sandbox.kubectl(
        "set", "image", f"deployment/{PRIVILEGED}", f"{PRIVILEGED}={ROGUE_IMAGE}",
        "-n", BROWSER_NAMESPACE,
    )  # fmt: skip
    sandbox.kubectl(
        "patch", "deployment", HOST_NETWORK, "-n", BROWSER_NAMESPACE, "--type=json",
        "-p", json.dumps([{"op": "add", "path": "/spec/template/spec/hostNetwork", "value": True}]),
    )  # fmt: skip
    sandbox.kubectl("rollout", "restart", f"deployment/{HOST_NETWORK}", "-n", BROWSER_NAMESPACE)
    sandbox.kubectl(
        "patch", "service", REPOINTED, "-n", BROWSER_NAMESPACE, "--type=json",
        "-p", json.dumps([
            {"op": "replace", "path": f"/spec/selector/{escape(DEPLOYMENT_LABEL)}",
             "value": RELABELLED},
            {"op": "replace", "path": "/spec/ports/0/targetPort", "value": 22},
        ]),
    )  # fmt: skip


@pytest.fixture(scope="module")
def stack(program_dir: Path, sandbox: Sandbox) -> PulumiCli:
    manifests = [
        binding(NAMESPACE, f"{ws}-{i}", ws, user)
        for ws in (DELETED, WIDENED)
        for i, user in enumerate(USERS)
    ]
    return stack_with_bindings(program_dir, sandbox, "fence", NAMESPACE, manifests)


def test_up_with_repair_drift_restores_the_fence(stack: PulumiCli, sandbox: Sandbox) -> None:
    intact = fence(sandbox)
    assert intact["labels"] == {
        STRIPPED: WIDENED,
        RELABELLED: WIDENED,
        PRIVILEGED: DELETED,
        HOST_NETWORK: DELETED,
    }
    assert intact["service"] == {
        "selector": {DEPLOYMENT_LABEL: STRIPPED},
        "targets": [naming.VNC_PORT],
    }
    assert all(intact["policies"].values())
    tamper(sandbox)
    broken = fence(sandbox)
    assert broken["policies"][DELETED] is None
    assert broken["labels"] == {**intact["labels"], STRIPPED: None, RELABELLED: "nowhere"}
    assert {} in broken["policies"][WIDENED]["egress"]
    assert broken["pods"][PRIVILEGED]["privileged"] is True
    assert "host" in broken["pods"][PRIVILEGED]["volumes"]
    assert broken["pods"][PRIVILEGED]["image"] == ROGUE_IMAGE
    assert broken["pods"][HOST_NETWORK]["host_network"] is True
    restart = restarted_at(sandbox)
    assert restart is not None
    assert broken["service"] == {"selector": {DEPLOYMENT_LABEL: RELABELLED}, "targets": [22]}

    # Without the option nothing notices: the state still records the fence as it was.
    plain = run_watch(stack, "up")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert fence(sandbox) == broken

    repaired = run_watch(stack, "up", "--repair-drift")
    output = repaired.stdout + repaired.stderr
    assert repaired.returncode == 0, output
    assert "drift in 7 of" in output, output[-3000:]
    assert "securityContext.privileged (set by kubectl-patch)" in output, output[-3000:]
    assert "spec.template.spec.hostNetwork (set by kubectl-patch)" in output, output[-3000:]
    assert fence(sandbox) == intact
    assert restarted_at(sandbox) == restart

    assert change_summary(stack.preview_json()) == {}
    clean = run_watch(stack, "up", "--repair-drift")
    assert clean.returncode == 0 and "match the state" in clean.stdout + clean.stderr


def test_a_policy_that_is_not_the_programs_and_opens_browsers_is_named(
    stack: PulumiCli, sandbox: Sandbox
) -> None:
    """A debugging ``allow-all`` beside a default-deny: only the first widens the fence, and
    neither is the program's to delete."""
    policies = {
        "debug-allow-all": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]},
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    manifests = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": BROWSER_NAMESPACE},
            "spec": spec,
        }
        for name, spec in policies.items()
    ]
    sandbox.kubectl(
        "apply",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}),
    )
    try:
        checked = run_watch(stack, "up", "--repair-drift")
        output = checked.stdout + checked.stderr
        assert checked.returncode == 0, output
        assert (
            f"NetworkPolicy {BROWSER_NAMESPACE}/debug-allow-all is not this program's, "
            "selects 4 browser(s)"
        ) in output, output[-3000:]
        assert "default-deny" not in output
        assert "match the state" in output  # a warning, not drift: nothing to refresh
        for name in policies:
            assert get(sandbox, "networkpolicy", name) is not None
    finally:
        for name in policies:
            sandbox.kubectl(
                "delete", "networkpolicy", name, "-n", BROWSER_NAMESPACE, "--ignore-not-found"
            )


MUTATOR = "background-mutator"
"""A controller the stack trusts (``driftAcceptedFieldManagers``), as a policy engine that
mutates Deployments in the background writes under its own field manager."""


def test_an_accepted_managers_additions_survive_a_repair_of_a_hand_edit(
    stack: PulumiCli, sandbox: Sandbox
) -> None:
    """The mutator adds an environment variable and a sidecar to one browser; someone then
    labels the same pod template by hand. The check names only the label, and the repair takes
    the label away and keeps the mutator's fields, so the next check finds nothing to undo."""
    stack.run("config", "set", "--path", "driftAcceptedFieldManagers[0]", MUTATOR)
    try:
        sandbox.kubectl(
            "patch", "deployment", STRIPPED, "-n", BROWSER_NAMESPACE, "--type=json",
            f"--field-manager={MUTATOR}",
            "-p", json.dumps([
                {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
                 "value": {"name": "TZ", "value": "Europe/London"}},
                {"op": "add", "path": "/spec/template/spec/containers/-",
                 "value": {"name": "log-shipper", "image": "registry.invalid/fluent-bit:3"}},
            ]),
        )  # fmt: skip
        sandbox.kubectl(
            "patch", "deployment", STRIPPED, "-n", BROWSER_NAMESPACE, "--type=merge",
            "-p", json.dumps({"spec": {"template": {"metadata": {"labels": {"role": "admin"}}}}}),
        )  # fmt: skip

        checked = run_watch(stack, "up", "--repair-drift")
        output = checked.stdout + checked.stderr
        assert checked.returncode == 0, output
        assert "drift in 1 of" in output, output[-3000:]
        assert "spec.template.metadata.labels.role (set by kubectl-patch)" in output, output[-3000:]
        assert f"set by {MUTATOR}" not in output

        template = (get(sandbox, "deployment", STRIPPED) or {})["spec"]["template"]
        assert "role" not in template["metadata"]["labels"]
        assert template["metadata"]["labels"][WORKSPACE_LABEL] == WIDENED
        browser, sidecar = template["spec"]["containers"]
        assert {"name": "TZ", "value": "Europe/London"} in browser["env"]
        assert sidecar["name"] == "log-shipper"

        again = run_watch(stack, "up", "--repair-drift")
        assert again.returncode == 0 and "match the state" in again.stdout + again.stderr
    finally:
        stack.run("config", "rm", "driftAcceptedFieldManagers")


def test_a_vnc_secret_edited_by_hand_is_put_back_without_printing_it(
    stack: PulumiCli, sandbox: Sandbox
) -> None:
    """Someone resets a browser's VNC password to the legacy ``1234`` and adds a key. guacd
    still sends the recorded password, so the user's next login would fail (and the browser
    would accept a password the program did not choose): the check names the Secret's changed
    keys, never their values, and puts back the recorded data."""
    # Start from a fence that matches the state (the test before leaves the mutator's fields,
    # which are drift once the setting is gone).
    settled = run_watch(stack, "up", "--repair-drift")
    assert settled.returncode == 0, settled.stdout + settled.stderr
    name = naming.vnc_secret_name(RELABELLED)
    recorded = (get(sandbox, "secret", name) or {})["data"]
    legacy = base64.b64encode(b"1234").decode()
    sandbox.kubectl(
        "patch", "secret", name, "-n", BROWSER_NAMESPACE, "--type=merge",
        "-p", json.dumps({"data": {"password": legacy, "note": base64.b64encode(b"x").decode()}}),
    )  # fmt: skip
    assert (get(sandbox, "secret", name) or {})["data"]["password"] == legacy

    checked = run_watch(stack, "up", "--repair-drift")
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "drift in 1 of" in output, output[-3000:]
    assert "data[note], data[password]" in output, output[-3000:]
    for value in (legacy, recorded["password"], base64.b64decode(recorded["password"]).decode()):
        assert value not in output
    assert (get(sandbox, "secret", name) or {})["data"] == recorded

    again = run_watch(stack, "up", "--repair-drift")
    assert again.returncode == 0 and "match the state" in again.stdout + again.stderr
