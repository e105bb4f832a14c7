"""A binding removed while kube-controller-manager is down still loses everything at once.

The garbage collector runs in kube-controller-manager. An object deleted with foreground
propagation stays, with a finalizer, until the collector has seen it, and pulumi-kubernetes
waits for it to go: with the collector stopped, removing a binding would hang for ten minutes and
fail. Here the controller-manager is frozen (SIGSTOP) while two bindings are removed, one of
them its workspace's last: the run must finish within a short deadline, the Guacamole rows, the
Secrets and Services and the emptied workspace's NetworkPolicy must be gone, and the Deployments
must be gone or on their way out (they keep foreground propagation, so the collector removes
them, after their pods, once it is back).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import naming
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.conftest import new_stack
from tests.integration.helpers_guacamole import apply_bindings, binding, connection_parameters

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

NAMESPACE = "gc-down"
WORKSPACE = f"{NAMESPACE}-workspace"
KEPT, REMOVED = "kept@example.org", "removed@example.org"
EMPTIED = f"{NAMESPACE}-emptied"
"""A workspace whose only binding is removed, so its NetworkPolicy goes too."""
DEADLINE = 240.0
"""Far below the provider's ten-minute wait for a foreground deletion."""


def live(sandbox: Sandbox, kind: str, name: str) -> dict[str, Any] | None:
    selector = f"metadata.name={name}"
    listing = sandbox.kubectl(
        "get", kind, "-n", BROWSER_NAMESPACE, "--field-selector", selector, "-o", "json"
    )
    found: list[dict[str, Any]] = json.loads(listing)["items"]
    return found[0] if found else None


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The process stopped in place, as a hung or descheduled controller-manager is."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_removal_does_not_wait_for_the_garbage_collector(
    program_dir: Path, sandbox: Sandbox
) -> None:
    cli = new_stack(program_dir, sandbox, NAMESPACE)
    cli.config_set("bindingsNamespace", NAMESPACE)
    apply_bindings(
        sandbox,
        NAMESPACE,
        [
            binding(NAMESPACE, "kept", WORKSPACE, KEPT),
            binding(NAMESPACE, "gone", WORKSPACE, REMOVED),
            binding(NAMESPACE, "alone", EMPTIED, REMOVED),
        ],
    )
    cli.up()
    name = naming.deployment_name(WORKSPACE, REMOVED)
    alone = naming.deployment_name(EMPTIED, REMOVED)
    objects = {("secret", n): naming.vnc_secret_name(n) for n in (name, alone)} | {
        ("service", n): naming.service_name(n) for n in (name, alone)
    }
    objects[("networkpolicy", alone)] = naming.workspace_network_policy_name(EMPTIED)
    assert all(live(sandbox, kind, n) for (kind, _), n in objects.items())
    # In the recorded state: the engine creates the policy first and deletes it last.
    recorded = cli.export_state()["deployment"]["resources"]
    by_kind = {(r["type"], r["urn"].rsplit("::", 1)[-1]): r for r in recorded}
    for workspace, deployment_name in ((WORKSPACE, name), (EMPTIED, alone)):
        policy_key = (
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            f"network-policy-{workspace}",
        )
        deployment = by_kind["kubernetes:apps/v1:Deployment", deployment_name]
        assert by_kind[policy_key]["urn"] in deployment.get("dependencies", [])

    with frozen(sandbox.kube.pids["kube-controller-manager"]):
        sandbox.kubectl("delete", "analyticsworkspacebinding", "gone", "alone", "-n", NAMESPACE)
        bounded = PulumiCli(cli.project_dir, cli.stack, cli.env, timeout=DEADLINE)
        started = time.monotonic()
        bounded.up()
        took = time.monotonic() - started

        assert sorted(connection_parameters(sandbox, WORKSPACE)) == [KEPT]
        assert connection_parameters(sandbox, EMPTIED) == {}
        left = {n for (kind, _), n in objects.items() if live(sandbox, kind, n) is not None}
        assert left == set(), f"still there {took:.0f} s into a run with the collector down: {left}"
        for gone in (name, alone):
            deployment = live(sandbox, "deployment", gone)
            assert deployment is None or deployment["metadata"].get("deletionTimestamp")
        assert live(sandbox, "deployment", naming.deployment_name(WORKSPACE, KEPT)) is not None
        kept_policy = naming.workspace_network_policy_name(WORKSPACE)
        assert live(sandbox, "networkpolicy", kept_policy) is not None

    # Back up, the collector removes the Deployment it kept, and nothing is left to do.
    deadline = time.monotonic() + 120
    while any(live(sandbox, "deployment", n) is not None for n in (name, alone)):
        assert time.monotonic() < deadline, f"Deployment {name} or {alone} was never collected"
        time.sleep(1)
    assert change_summary(cli.preview_json()) == {}
