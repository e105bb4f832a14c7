"""The field-ownership take-over looks only where its stack's selectors point, on a real API server.

Two browsers, in workspaces ``fo-a`` and ``fo-b``, written by the legacy operator's own client
calls and then applied by this program's field manager (labelled with their workspace, as every
apply does), still carry the legacy ``Update`` entry: the state a shard finds when the legacy
operator resumed. The provider, run with the selectors of a shard holding only ``fo-a``, moves
``fo-a``'s ownership and leaves ``fo-b``'s alone: ``fo-b`` is another shard's to take over, and
listing it would make every shard's run cost grow with the fleet. A state written before the
selectors existed still looks at the whole namespace.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pulumi.dynamic import ConfigureRequest

from components.manifests import (
    FIELD_MANAGER,
    PATCH_FIELD_MANAGER,
    WORKSPACE_LABEL,
    workspace_label_value,
)
from components.takeover.field_owner import FieldOwnerTakeoverProvider
from components.takeover.inventory import LEGACY_MANAGERS, object_selectors
from sandbox.environment import Sandbox
from tests.legacy_operator import LegacyOperator, legacy_deployment_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WORKSPACES = ("fo-a", "fo-b")
USER = "someone@x.org"


@pytest.fixture(scope="module")
def namespace(sandbox: Sandbox) -> Iterator[str]:
    name = f"takeover-scope-{secrets.token_hex(3)}"
    sandbox.kubectl("create", "namespace", name)
    operator = LegacyOperator(sandbox.kube.kubeconfig, sandbox.database_url, name)
    for workspace in WORKSPACES:
        deployment = legacy_deployment_name(workspace, USER)
        operator.write_objects(deployment, USER, workspace)
        for kind, object_name in (("Deployment", deployment), ("Service", f"client-{deployment}")):
            _apply_as_program(sandbox, name, kind, object_name, workspace)
    yield name
    sandbox.kubectl("delete", "namespace", name, "--wait=false")


def _apply_as_program(sandbox: Sandbox, namespace: str, kind: str, name: str, workspace: str):
    """What the program's first apply adds to a legacy object: its labels and annotation,
    under its field manager (the legacy entry stays, as it does after a forced apply)."""
    body = {
        "apiVersion": "apps/v1" if kind == "Deployment" else "v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {WORKSPACE_LABEL: workspace_label_value(workspace)},
            "annotations": {PATCH_FIELD_MANAGER: FIELD_MANAGER},
        },
    }
    sandbox.kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts",
        "-f", "-", stdin=json.dumps(body),
    )  # fmt: skip


def _legacy_owned(sandbox: Sandbox, namespace: str) -> set[str]:
    owned = set()
    for kind in ("deployments", "services"):
        listed = json.loads(
            sandbox.kubectl("get", kind, "-n", namespace, "-o", "json", "--show-managed-fields")
        )
        for item in listed["items"]:
            entries = item["metadata"].get("managedFields") or []
            if any(e["manager"] in LEGACY_MANAGERS and e["operation"] == "Update" for e in entries):
                owned.add(f"{kind}/{item['metadata']['name']}")
    return owned


def _provider(sandbox: Sandbox) -> FieldOwnerTakeoverProvider:
    provider = FieldOwnerTakeoverProvider()
    config = SimpleNamespace(config={"kubeconfig": str(sandbox.kube.kubeconfig)})
    provider.configure_kube(cast(ConfigureRequest, config))
    return provider


def _props(namespace: str, **extra: Any) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "fieldManager": FIELD_MANAGER,
        "legacyManagers": list(LEGACY_MANAGERS),
        "pending": [],
        **extra,
    }


def _names(workspace: str) -> set[str]:
    deployment = legacy_deployment_name(workspace, USER)
    return {f"deployments/{deployment}", f"services/client-{deployment}"}


def test_a_shard_moves_only_its_own_workspaces_ownership(sandbox: Sandbox, namespace: str):
    assert _legacy_owned(sandbox, namespace) == _names("fo-a") | _names("fo-b")
    provider = _provider(sandbox)

    outs = provider.create(_props(namespace, selectors=object_selectors({"fo-a"}))).outs or {}

    a = legacy_deployment_name("fo-a", USER)
    assert outs["takenOver"] == [f"Deployment/{a}", f"Service/client-{a}"]
    assert _legacy_owned(sandbox, namespace) == _names("fo-b")

    # A state from before the selectors: the refresh looks at the whole namespace.
    read = provider.read("field-owner-takeover", _props(namespace)).outs or {}
    remaining = read["remaining"]
    b = legacy_deployment_name("fo-b", USER)
    assert sorted(remaining) == [f"Deployment/{b}", f"Service/client-{b}"]
