"""The status provider's replicas (the Deployment's observed count) and the binding's Events."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from kubernetes.client.exceptions import ApiException
from pulumi.dynamic import Config, ConfigureRequest

from components import binding_status
from components.binding_events import Reason
from components.binding_status import (
    BindingStatusProvider,
    expired_status,
    invalid_status,
    ready_status,
    status_event,
)
from tests.unit.test_providers import FakeCustomObjects, FakeEvents

DEPLOYMENT = {"namespace": "guacamole", "name": "abc"}


class FakeDeployments:
    """Answers ``read_namespaced_deployment`` with a sequence of observed replica counts."""

    def __init__(self, *observed: int | None) -> None:
        self.observed = list(observed)
        self.reads = 0

    def read_namespaced_deployment(self, name: str, namespace: str, **_: Any) -> Any:
        assert (namespace, name) == ("guacamole", "abc")
        if not self.observed:
            raise ApiException(status=404, reason="Not Found")
        value = self.observed[min(self.reads, len(self.observed) - 1)]
        self.reads += 1
        return SimpleNamespace(status=SimpleNamespace(replicas=value))


class UidCustomObjects(FakeCustomObjects):
    def patch_namespaced_custom_object_status(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        super().patch_namespaced_custom_object_status(*args, **kwargs)
        return {"metadata": {"uid": "uid-1"}}


def _provider(
    deployments: FakeDeployments, api: FakeCustomObjects | None = None
) -> tuple[BindingStatusProvider, FakeCustomObjects, FakeEvents]:
    provider = BindingStatusProvider()
    provider.configure(ConfigureRequest(Config({}, "awms-browser-workspaces")))
    custom = api or UidCustomObjects()
    events = FakeEvents()
    provider._api = cast(Any, custom)
    provider._apps = cast(Any, deployments)
    provider._core = cast(Any, events)
    return provider, custom, events


def _props(status: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"bindingNamespace": "ns", "bindingName": "b", "status": status, **extra}


@pytest.fixture(autouse=True)
def fast_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binding_status, "_SETTLE_POLL", 0.0)


def test_replicas_written_are_the_deployments_observed_count_once_it_settles():
    deployments = FakeDeployments(None, 0, 1)
    provider, api, _ = _provider(deployments)
    result = provider.create(_props(ready_status("abc", 1), deployment=DEPLOYMENT, note="w"))
    assert api.patches[-1][2]["status"]["replicas"] == 1
    assert deployments.reads == 3
    assert result.outs is not None
    assert result.outs["observedReplicas"] == 1
    assert result.outs["status"] == ready_status("abc", 1)  # the requested count, for diffs


def test_a_deployment_that_does_not_settle_is_reported_as_observed(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(binding_status, "SETTLE_SECONDS", 0.0)
    provider, api, _ = _provider(FakeDeployments(None))
    provider.create(_props(ready_status("abc", 1), deployment=DEPLOYMENT))
    assert api.patches[-1][2]["status"]["replicas"] == 0


def test_a_missing_deployment_counts_zero():
    provider, api, _ = _provider(FakeDeployments())
    provider.create(_props(ready_status("abc", 0), deployment=DEPLOYMENT))
    assert api.patches[-1][2]["status"]["replicas"] == 0


def test_first_write_posts_created_or_adopted_with_the_binding_uid():
    provider, _, events = _provider(FakeDeployments(0))
    provider.create(_props(ready_status("abc", 0), deployment=DEPLOYMENT, note="workspace abc"))
    provider.create(
        _props(ready_status("abc", 0), deployment=DEPLOYMENT, note="workspace abc", takenOver=True)
    )
    assert [(e["reason"], e["type"]) for e in events.posted] == [
        ("Created", "Normal"),
        ("Adopted", "Normal"),
    ]
    first = events.posted[0]
    assert first["involvedObject"] == {
        "apiVersion": "xlscsde.nhs.uk/v1",
        "kind": "AnalyticsWorkspaceBinding",
        "namespace": "ns",
        "name": "b",
        "uid": "uid-1",
    }
    assert first["message"] == "provisioned workspace abc; replicas 0"
    assert first["source"] == {"component": "awms-browser-workspaces"}


def test_updates_post_scaled_revoked_and_refused_but_not_repairs():
    provider, _, events = _provider(FakeDeployments(1))
    ready0, ready1 = ready_status("abc", 0), ready_status("abc", 1)
    provider.update("ns/b", _props(ready0), _props(ready1, deployment=DEPLOYMENT, note="w"))
    provider.update("ns/b", _props(ready1), _props(ready1, deployment=DEPLOYMENT, note="w"))
    provider.update("ns/b", _props(ready1), _props(expired_status(), note="expired on d"))
    refused = invalid_status("spec.replicas", "too big")
    provider.update("ns/b", _props(expired_status()), _props(refused, note="spec.replicas: big"))
    assert [(e["reason"], e["type"]) for e in events.posted] == [
        ("Scaled", "Normal"),
        ("Revoked", "Normal"),
        ("Refused", "Warning"),
    ]
    assert events.posted[1]["message"] == "access revoked: expired on d"


def test_no_event_for_a_binding_that_is_not_in_the_cluster():
    provider, _, events = _provider(FakeDeployments(0), FakeCustomObjects(fail=404))
    result = provider.create(_props(ready_status("abc", 0), deployment=DEPLOYMENT))
    assert result.outs is not None and result.outs["patched"] is False
    assert events.posted == []


def test_an_event_the_api_refuses_does_not_fail_the_write():
    class Refusing(FakeEvents):
        def create_namespaced_event(self, namespace: str, body: dict[str, Any], **_: Any) -> None:
            raise ApiException(status=403, reason="Forbidden")

    provider, _, _ = _provider(FakeDeployments(0))
    provider._core = cast(Any, Refusing())
    result = provider.create(_props(ready_status("abc", 0), deployment=DEPLOYMENT))
    assert result.outs is not None and result.outs["patched"] is True


def test_refresh_counts_a_binding_mirroring_its_deployment_as_in_sync():
    recorded = {**_props(ready_status("abc", 1), deployment=DEPLOYMENT), "patched": True}
    live = {"statusText": "READY", "deploymentName": "abc", "replicas": 1}
    provider, _, _ = _provider(FakeDeployments(1), FakeCustomObjects(live=live))
    read = provider.read("ns/b", recorded)
    assert read.outs is not None and read.outs["status"] == ready_status("abc", 1)
    assert provider.diff("ns/b", read.outs, recorded).changes is False
    # The binding shows a count the Deployment does not have: drift, rewritten by the next up.
    provider, _, _ = _provider(FakeDeployments(3), FakeCustomObjects(live=live))
    drifted = provider.read("ns/b", recorded)
    assert drifted.outs is not None
    assert provider.diff("ns/b", drifted.outs, recorded).changes is True


def test_the_deployment_input_alone_is_no_change():
    """Stacks written before status.replicas mirrored the Deployment have no ``deployment``."""
    old = {**_props(ready_status("abc", 1)), "patched": True}
    new = _props(ready_status("abc", 1), deployment=DEPLOYMENT, note="n", takenOver=True)
    assert BindingStatusProvider().diff("ns/b", old, new).changes is False


@pytest.mark.parametrize(
    ("old", "new", "taken_over", "reason"),
    [
        (None, ready_status("a", 0), False, Reason.CREATED),
        (None, ready_status("a", 0), True, Reason.ADOPTED),
        (expired_status(), ready_status("a", 0), True, Reason.CREATED),
        (ready_status("a", 0), ready_status("b", 0), False, Reason.CREATED),
        (ready_status("a", 0), ready_status("a", 1), False, Reason.SCALED),
        (ready_status("a", 1), ready_status("a", 1), False, None),
        (ready_status("a", 1), expired_status(), False, Reason.REVOKED),
        (expired_status(), expired_status(), False, None),
        (None, invalid_status("f", "r"), False, Reason.REFUSED),
        (invalid_status("f", "r"), invalid_status("f", "r"), False, None),
        (invalid_status("f", "r"), invalid_status("g", "r"), False, Reason.REFUSED),
    ],
)
def test_status_event_decisions(
    old: dict[str, Any] | None, new: dict[str, Any], taken_over: bool, reason: Reason | None
):
    event = status_event(old, new, note="n", taken_over=taken_over)
    assert (event.reason if event else None) == reason
