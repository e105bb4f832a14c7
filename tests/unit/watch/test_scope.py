"""Scoping a targeted run: whole workspace plans, and refusals that fall back to a full run."""

from __future__ import annotations

from datetime import date
from typing import Any

from components import naming
from components.watch.scope import NotTargetable, TargetedScope, bindings_by_workspace, plan_scope
from components.watch.targets import UrnIndex
from tests.factories import manifest

TODAY = date(2025, 6, 1)
WORKSPACE = "default-generic-workspace"


def by_key(*manifests: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m['metadata']['namespace']}/{m['metadata']['name']}": m for m in manifests}


def index_for(bindings: dict[str, dict[str, Any]]) -> UrnIndex:
    workspaces: dict[str, tuple[str, ...]] = {}
    statuses: dict[str, str] = {}
    for key, m in bindings.items():
        name = naming.deployment_name(m["spec"]["workspace"], m["spec"]["username"])
        workspaces[name] = (f"urn:c::{name}", f"urn:c$d::{name}")
        statuses[key] = f"urn:s::{key}"
    return UrnIndex(workspaces, statuses)


def test_scope_is_the_changed_bindings_workspace_and_everyone_sharing_it() -> None:
    bindings = by_key(
        manifest("a", username="jane@x.org", replicas=1),
        manifest("a-duplicate", username="jane@x.org"),
        manifest("b", username="john@x.org"),
    )
    scope = plan_scope(["jupyterhub/a"], bindings, index_for(bindings), TODAY)
    assert isinstance(scope, TargetedScope)
    name = naming.deployment_name(WORKSPACE, "jane@x.org")
    assert scope.deployment_names == (name,)
    assert scope.binding_keys == ("jupyterhub/a", "jupyterhub/a-duplicate")
    assert scope.urns == (
        f"urn:c::{name}",
        f"urn:c$d::{name}",
        "urn:s::jupyterhub/a",
        "urn:s::jupyterhub/a-duplicate",
    )
    assert [m["metadata"]["name"] for m in scope.manifests] == ["a", "a-duplicate"]


def test_invalid_expired_deleted_or_undeployed_bindings_are_not_targetable() -> None:
    bindings = by_key(
        manifest("ok"),
        manifest("expired", username="old@x.org", expires="2020-01-01"),
        manifest("invalid", username=""),
    )
    index = index_for({"jupyterhub/ok": bindings["jupyterhub/ok"]})
    for key, words in [
        ("jupyterhub/expired", "not provisioned"),
        ("jupyterhub/invalid", "not provisioned"),
        ("jupyterhub/gone", "no longer exists"),
    ]:
        result = plan_scope([key], bindings, index, TODAY)
        assert isinstance(result, NotTargetable) and words in result.reason
    undeployed = plan_scope(["jupyterhub/ok"], bindings, UrnIndex(), TODAY)
    assert isinstance(undeployed, NotTargetable)
    assert "not all in the stack" in undeployed.reason


def test_bindings_by_workspace() -> None:
    bindings = by_key(manifest("a", username="u@x.org"), manifest("b", username="u@x.org"))
    name = naming.deployment_name(WORKSPACE, "u@x.org")
    assert bindings_by_workspace(bindings, TODAY) == {name: ("jupyterhub/a", "jupyterhub/b")}
