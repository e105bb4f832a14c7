"""The managed set: Deployments the stack's state records under a BrowserWorkspace."""

from __future__ import annotations

from typing import Any

from components.watch.managed import DEPLOYMENT_TYPE, ManagedDeployment, managed_deployments
from components.watch.targets import BROWSER_WORKSPACE_TYPE

COMPONENT = "urn:pulumi:s::p::awms:index:BrowserWorkspace::abc"


def deployment(
    name: str, *, uid: str | None = "u-1", parent: str = COMPONENT, **extra: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "guacamole"}
    if uid is not None:
        metadata["uid"] = uid
    return {
        "urn": f"{parent}$kubernetes:apps/v1:Deployment::{name}",
        "type": DEPLOYMENT_TYPE,
        "parent": parent,
        "outputs": {"metadata": metadata},
        **extra,
    }


def test_only_live_deployments_of_browser_workspaces_with_a_uid_are_managed() -> None:
    state = {
        "resources": [
            {"urn": COMPONENT, "type": BROWSER_WORKSPACE_TYPE},
            deployment("abc"),
            deployment("stranger", parent="urn:pulumi:s::p::pulumi:pulumi:Stack::s"),
            deployment("pending-delete", delete=True),
            deployment("never-created", uid=None),
        ]
    }
    assert managed_deployments(state) == {"abc": ManagedDeployment("guacamole", "abc", "u-1")}


def test_an_empty_or_missing_state_manages_nothing() -> None:
    assert managed_deployments(None) == {}
    assert managed_deployments({"resources": None}) == {}
