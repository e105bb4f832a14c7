"""The take-over's patch guarded by ``resourceVersion``: a write made since the list is re-read
(as the API's JSON) and the upgrade recomputed from it, never forced over it."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from components.takeover import field_owner, inventory
from components.takeover.field_owner import FieldOwnerTakeoverProvider
from tests.factories import legacy_entry

LEGACY = legacy_entry({"f:spec": {"f:replicas": {}}})


def _deployment(version: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "d1",
            "resourceVersion": version,
            "labels": {"xlscsde.nhs.uk/purpose": "workspace-client"},
            "managedFields": list(entries),
        }
    }


class FakeApps:
    def __init__(self, listed: dict[str, Any], reread: dict[str, Any], conflicts: int) -> None:
        self.listed, self.reread, self.conflicts = listed, reread, conflicts
        self.patches: list[list[dict[str, Any]]] = []
        self.selectors: list[str] = []

    def list_namespaced_deployment(self, namespace: str, **kw: Any) -> Any:
        self.selectors.append(kw["label_selector"])
        return SimpleNamespace(data=json.dumps({"items": [self.listed]}).encode())

    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any, **kw: Any):
        self.patches.append(body)
        if len(self.patches) <= self.conflicts:
            raise ApiException(status=409, reason="Conflict")

    def read_namespaced_deployment(self, name: str, namespace: str, **kw: Any) -> Any:
        assert kw.get("_preload_content") is False
        return SimpleNamespace(data=json.dumps(self.reread).encode())


class FakeCore:
    def list_namespaced_service(self, namespace: str, **kw: Any) -> Any:
        return SimpleNamespace(data=b'{"items": []}')


def _run(monkeypatch: pytest.MonkeyPatch, apps: FakeApps) -> dict[str, Any]:
    fake = SimpleNamespace(
        AppsV1Api=lambda _api: apps, CoreV1Api=lambda _api: FakeCore(), ApiException=ApiException
    )
    monkeypatch.setattr(field_owner, "client", fake)
    monkeypatch.setattr(inventory, "client", fake)
    provider = FieldOwnerTakeoverProvider()
    provider.__dict__["_api_client"] = object()
    outs = provider.create(
        {
            "namespace": "ns",
            "fieldManager": "awms-browser-workspaces",
            "legacyManagers": ["OpenAPI-Generator"],
            "pending": ["Deployment/d1"],
            "selectors": ["a=b"],
        }
    ).outs
    return outs or {}


def test_a_conflict_is_reread_and_the_upgrade_recomputed(monkeypatch: pytest.MonkeyPatch):
    someone = {**LEGACY, "manager": "kubectl-edit", "fieldsV1": {"f:spec": {"f:paused": {}}}}
    apps = FakeApps(_deployment("1", LEGACY), _deployment("2", LEGACY, someone), conflicts=1)
    outs = _run(monkeypatch, apps)
    assert outs["takenOver"] == ["Deployment/d1"]
    assert apps.selectors == ["a=b"]
    first, second = apps.patches
    assert first[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "1"}
    assert second[0]["value"] == "2"
    managers = [e["manager"] for e in second[1]["value"]]
    assert managers == ["kubectl-edit", "awms-browser-workspaces"]


def test_an_object_that_keeps_changing_stops_the_take_over(monkeypatch: pytest.MonkeyPatch):
    apps = FakeApps(_deployment("1", LEGACY), _deployment("2", LEGACY), conflicts=99)
    with pytest.raises(RuntimeError, match="Deployment ns/d1 kept changing"):
        _run(monkeypatch, apps)


def test_nothing_left_to_move_after_a_reread_is_no_patch(monkeypatch: pytest.MonkeyPatch):
    apps = FakeApps(_deployment("1", LEGACY), _deployment("2"), conflicts=1)
    assert _run(monkeypatch, apps)["takenOver"] == []
    assert len(apps.patches) == 1
