"""A binding removed while kube-controller-manager is down still loses everything at once.

The garbage collector runs in kube-controller-manager. An object deleted with foreground
propagation stays, with a finalizer, until the collector has seen it, and pulumi-kubernetes
waits for it to go: with the collector stopped, removing a binding would hang for ten minutes and
fail. Here the controller-manager is frozen (SIGSTOP) while a binding is removed: the run must
finish within a short deadline, the Guacamole rows and the Secret, Service and NetworkPolicy must
be gone, and the Deployment must be gone or on its way out (it keeps foreground propagation, so
the collector removes it, after its pods, once it is back).
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
        ],
    )
    cli.up()
    name = naming.deployment_name(WORKSPACE, REMOVED)
    objects = {
        "secret": naming.vnc_secret_name(name),
        "service": naming.service_name(name),
        "networkpolicy": naming.network_policy_name(name),
    }
    assert all(live(sandbox, kind, n) for kind, n in objects.items())
    # In the recorded state: the engine creates the policy first and deletes it last.
    recorded = cli.export_state()["deployment"]["resources"]
    by_kind = {(r["type"], r["urn"].rsplit("::", 1)[-1]): r for r in recorded}
    policy = by_kind["kubernetes:networking.k8s.io/v1:NetworkPolicy", f"{name}-network-policy"]
    deployment = by_kind["kubernetes:apps/v1:Deployment", name]
    assert policy["urn"] in deployment.get("dependencies", [])

    with frozen(sandbox.kube.pids["kube-controller-manager"]):
        sandbox.kubectl("delete", "analyticsworkspacebinding", "gone", "-n", NAMESPACE)
        bounded = PulumiCli(cli.project_dir, cli.stack, cli.env, timeout=DEADLINE)
        started = time.monotonic()
        bounded.up()
        took = time.monotonic() - started

        assert sorted(connection_parameters(sandbox, WORKSPACE)) == [KEPT]
        left = {kind: n for kind, n in objects.items() if live(sandbox, kind, n) is not None}
        assert left == {}, f"still there {took:.0f} s into a run with the collector down: {left}"
        deployment = live(sandbox, "deployment", name)
        assert deployment is None or deployment["metadata"].get("deletionTimestamp")
        assert live(sandbox, "deployment", naming.deployment_name(WORKSPACE, KEPT)) is not None

    # Back up, the collector removes the Deployment it kept, and nothing is left to do.
    deadline = time.monotonic() + 120
    while live(sandbox, "deployment", name) is not None:
        assert time.monotonic() < deadline, f"Deployment {name} was never collected"
        time.sleep(1)
    assert change_summary(cli.preview_json()) == {}
