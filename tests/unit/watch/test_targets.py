"""The URN index read from stack state, checked against what the real program registers."""

from __future__ import annotations

from datetime import date
from typing import Any

from components import naming
from components.browser_workspace import TYPE
from components.program import declare
from components.settings import settings_from_values
from components.watch.targets import BROWSER_WORKSPACE_TYPE, UrnIndex, urn_name
from tests.factories import manifest
from tests.unit.conftest import PulumiHarness
from tests.unit.test_program import ListSource

TODAY = date(2025, 6, 1)


def program_state(harness: PulumiHarness, *manifests: Any) -> dict[str, Any]:
    """A ``stack export``-shaped deployment of what the program registers under mocks."""
    harness.run(lambda: declare(settings_from_values({}), ListSource(*manifests), today=TODAY))
    return {
        "resources": [
            {"urn": r.urn, "type": r.typ, "parent": r.parent, "inputs": r.inputs}
            for r in harness.monitor.registered
        ]
    }


def test_type_constant_matches_the_component() -> None:
    assert BROWSER_WORKSPACE_TYPE == TYPE


def test_index_holds_each_workspace_subtree_and_each_status(harness: PulumiHarness) -> None:
    jane = manifest("b-jane", username="jane@example.org", replicas=0)
    john = manifest("b-john", username="john@example.org", replicas=1)
    state = program_state(harness, jane, john)
    index = UrnIndex.from_deployment(state)

    name = naming.deployment_name("default-generic-workspace", "jane@example.org")
    subtree = index.workspaces[name]
    assert urn_name(subtree[0]) == name and f"{TYPE}::" in subtree[0]
    types = {r["type"] for r in state["resources"] if r["urn"] in subtree[1:]}
    assert "kubernetes:apps/v1:Deployment" in types
    assert "kubernetes:core/v1:Service" in types
    assert "pulumi-python:dynamic/guacamole:Connection" in types
    assert all(r["parent"] == subtree[0] for r in state["resources"] if r["urn"] in subtree[1:])
    assert set(index.statuses) == {"jupyterhub/b-jane", "jupyterhub/b-john"}

    urns = index.urns_for([name], ["jupyterhub/b-jane"])
    assert urns is not None and urns[-1] == index.statuses["jupyterhub/b-jane"]
    other = naming.deployment_name("default-generic-workspace", "john@example.org")
    assert not set(urns) & set(index.workspaces[other])
    assert index.owner(subtree[2]) == ("workspace", name)
    assert index.owner(index.statuses["jupyterhub/b-john"]) == ("status", "jupyterhub/b-john")


def test_missing_resources_are_reported_as_not_deployed() -> None:
    index = UrnIndex.from_deployment({"resources": []})
    assert index.urns_for(["abc"], []) is None
    assert index.urns_for([], ["ns/missing"]) is None
    assert index.owner("urn:pulumi:s::p::t::n") is None


def test_deleted_resources_and_pending_operations() -> None:
    component = f"urn:pulumi:dev::p::{TYPE}::abc"
    state = {
        "resources": [
            {"urn": component, "type": TYPE},
            {"urn": f"{component}$x::abc-old", "type": "x", "parent": component, "delete": True},
            {"urn": f"{component}$x::abc", "type": "x", "parent": component},
        ],
        "pending_operations": [{"type": "creating", "resource": {"urn": "urn:new"}}],
    }
    index = UrnIndex.from_deployment(state)
    assert index.workspaces["abc"] == (component, f"{component}$x::abc")
    assert [(op.type, op.urn) for op in index.pending] == [("creating", "urn:new")]
    assert UrnIndex.from_deployment(None).workspaces == {}
