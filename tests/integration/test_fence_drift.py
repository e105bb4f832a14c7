"""The browsers' network fence, changed behind the program's back, is found and repaired.

The edits are what ``kubectl`` does in a hurry: a workspace's NetworkPolicy deleted, another's
egress opened to everything, one Deployment's pod template stripped of the label its workspace's
policy selects and another's relabelled to a workspace without a policy (their pods would run
unfenced). A plain ``up`` does not notice (pulumi-kubernetes
compares with the state); ``scripts/watch up --repair-drift`` puts every one back, and the next
preview and check find nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import naming
from components.manifests import WORKSPACE_LABEL
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.conftest import new_stack
from tests.integration.helpers_guacamole import apply_bindings, binding, run_watch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

NAMESPACE = "fence"
DELETED, WIDENED = "fence-deleted", "fence-widened"
USERS = ["hal@example.org", "ida@example.org"]
STRIPPED = naming.deployment_name(WIDENED, USERS[0])
"""The Deployment whose pod template loses the workspace label."""
RELABELLED = naming.deployment_name(WIDENED, USERS[1])
"""The Deployment whose pod template's workspace label names no policy's workspace."""


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
    labels = {}
    for name in (STRIPPED, RELABELLED):
        deployment = get(sandbox, "deployment", name) or {}
        template = deployment.get("spec", {}).get("template", {}).get("metadata", {})
        labels[name] = template.get("labels", {}).get(WORKSPACE_LABEL)
    return {"policies": policies, "labels": labels}


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
    escaped = WORKSPACE_LABEL.replace("~", "~0").replace("/", "~1")
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


@pytest.fixture(scope="module")
def stack(program_dir: Path, sandbox: Sandbox) -> PulumiCli:
    cli = new_stack(program_dir, sandbox, "fence")
    cli.config_set("bindingsNamespace", NAMESPACE)
    apply_bindings(
        sandbox,
        NAMESPACE,
        [
            binding(NAMESPACE, f"{ws}-{i}", ws, user)
            for ws in (DELETED, WIDENED)
            for i, user in enumerate(USERS)
        ],
    )
    up = run_watch(cli, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    return cli


def test_up_with_repair_drift_restores_the_fence(stack: PulumiCli, sandbox: Sandbox) -> None:
    intact = fence(sandbox)
    assert intact["labels"] == {STRIPPED: WIDENED, RELABELLED: WIDENED}
    assert all(intact["policies"].values())
    tamper(sandbox)
    broken = fence(sandbox)
    assert broken["policies"][DELETED] is None
    assert broken["labels"] == {STRIPPED: None, RELABELLED: "nowhere"}
    assert {} in broken["policies"][WIDENED]["egress"]

    # Without the option nothing notices: the state still records the fence as it was.
    plain = run_watch(stack, "up")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert fence(sandbox) == broken

    repaired = run_watch(stack, "up", "--repair-drift")
    output = repaired.stdout + repaired.stderr
    assert repaired.returncode == 0, output
    assert "drift in 4 of" in output, output[-3000:]
    assert fence(sandbox) == intact

    assert change_summary(stack.preview_json()) == {}
    clean = run_watch(stack, "up", "--repair-drift")
    assert clean.returncode == 0 and "match the state" in clean.stdout + clean.stderr
