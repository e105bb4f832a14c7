"""Pure parts of the take-over: the managedFields upgrade and the leftover planning."""

from __future__ import annotations

from datetime import date
from typing import Any

from components import naming
from components.bindings import parse_binding
from components.planning import plan_workspaces
from components.takeover.field_owner import upgrade_managed_fields
from components.takeover.inventory import Inventory, LiveConnection, LiveObject
from components.takeover.kube import has_new_work
from components.takeover.leftovers import (
    DELETED,
    EXPIRED,
    ORPHAN,
    manifest_identity,
    plan_leftovers,
)
from tests.factories import legacy_entry, manifest

TODAY = date(2026, 6, 1)
NS = "guacamole"


def test_legacy_update_entry_moves_into_our_apply_entry():
    env: dict[str, Any] = {"f:env": {'k:{"name":"BROWSER_URL"}': {".": {}, "f:name": {}}}}
    ours = {
        "manager": "awms-browser-workspaces",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }
    status = {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "subresource": "status",
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {}},
    }
    upgraded = upgrade_managed_fields(
        [legacy_entry({"f:spec": {"f:template": env}}), ours, status],
        ["OpenAPI-Generator"],
        "awms-browser-workspaces",
    )
    assert upgraded is not None
    assert [e["manager"] for e in upgraded] == [
        "kube-controller-manager",
        "awms-browser-workspaces",
    ]
    merged = upgraded[-1]
    assert merged["operation"] == "Apply"
    assert merged["fieldsV1"] == {"f:spec": {"f:replicas": {}, "f:template": env}}


def test_nothing_to_move_without_a_legacy_update_entry():
    entry = legacy_entry({})
    entry["subresource"] = "status"
    assert upgrade_managed_fields([entry], ["OpenAPI-Generator"], "me") is None


def test_lists_shrinking_is_not_work_but_new_or_returning_items_are():
    assert not has_new_work([], ["a", "b"], [])
    assert not has_new_work(["a"], ["a", "b"], [])
    assert has_new_work(["c"], ["a"], [])
    assert has_new_work(["a"], ["a"], ["a"])


def _plan(*manifests: Any) -> tuple[Any, dict[str, tuple[str, str]]]:
    parsed = [parse_binding(m, "") for m in manifests]
    identities = {}
    for m, entry in zip(manifests, parsed, strict=True):
        identity = manifest_identity(m)
        if identity is not None:
            identities[entry.key] = identity
    return plan_workspaces(parsed, TODAY), identities


def _host(workspace: str, username: str) -> str:
    return naming.connection_hostname(naming.deployment_name(workspace, username), NS)


def _object(kind: str, ws: str, user: str, *, ours: bool = False) -> LiveObject:
    name = naming.deployment_name(ws, user)
    return LiveObject(
        kind,
        name if kind == "Deployment" else naming.service_name(name),
        ws,
        user,
        ours=ours,
        legacy_owned=not ours,
    )


def test_expired_deleted_and_orphaned_identities():
    plan, identities = _plan(
        manifest("live", workspace="ws", username="ann"),
        manifest("old", workspace="ws", username="bob", expires="2026-01-01"),
    )
    inventory = Inventory(
        objects=(
            _object("Deployment", "ws", "ann"),
            _object("Deployment", "ws", "bob"),
            _object("Deployment", "ws", "gone"),
            _object("Service", "ws", "gone"),
            _object("Deployment", "ws", "mine", ours=True),
        ),
        connections=(
            LiveConnection("ws", "ann", 1, _host("ws", "ann"), True),
            LiveConnection("ws", "bob", 2, _host("ws", "bob"), True),
            LiveConnection("ws", "gone", 3, _host("ws", "gone"), True),
            LiveConnection("ws", "admin-rdp", 4, "10.0.0.1", False),
            LiveConnection("ws", "mine", 5, _host("ws", "mine"), False),
        ),
    )
    report = plan_leftovers(plan, identities, inventory, namespace=NS, remove_orphans=False)
    reasons = {r.key: r.reason for r in report.revocations}
    assert reasons == {
        naming.deployment_name("ws", "bob"): EXPIRED,
        naming.deployment_name("ws", "mine"): DELETED,
    }
    bob = next(r for r in report.revocations if r.reason == EXPIRED)
    assert (bob.user, bob.group, bob.connection, bob.drop_group) == ("ws@bob", "ws", "bob", False)
    deleted = next(r for r in report.revocations if r.reason == DELETED)
    assert deleted.deployment is None  # the engine deletes its own objects
    (orphan,) = report.orphans
    assert (orphan.workspace, orphan.username, orphan.connection_ids) == ("ws", "gone", (3,))
    assert len(orphan.objects) == 2
    assert report.retained_groups == ()
    assert report.takeover == (f"Deployment/{naming.deployment_name('ws', 'ann')}",)

    removing = plan_leftovers(plan, identities, inventory, namespace=NS, remove_orphans=True)
    assert {r.reason for r in removing.revocations} == {EXPIRED, DELETED, ORPHAN}


def test_group_without_bindings_but_foreign_connections_is_retained():
    plan, identities = _plan(manifest("old", workspace="ws", username="bob", expires="2026-01-01"))
    inventory = Inventory(
        connections=(
            LiveConnection("ws", "bob", 2, _host("ws", "bob"), True),
            LiveConnection("ws", "admin-rdp", 4, "10.0.0.1", False),
            LiveConnection("unrelated", "x", 5, "10.0.0.2", False),
        ),
    )
    report = plan_leftovers(plan, identities, inventory, namespace=NS, remove_orphans=False)
    assert [(g.name, g.connections) for g in report.retained_groups] == [("ws", ("admin-rdp",))]
    (expired,) = report.revocations
    assert expired.drop_group is True
