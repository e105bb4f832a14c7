"""The two dynamic providers, driven directly (no engine): exact diffs, writes, pickling."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import dill
import kubernetes.client
import pytest
from kubernetes.client.exceptions import ApiException
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import UNKNOWN
from pulumi.runtime import rpc

from components import binding_status
from components.binding_status import (
    BindingStatusProvider,
    expired_status,
    invalid_status,
    ready_status,
)
from components.generated_secret import GeneratedPasswordProvider

ROOT = Path(__file__).resolve().parents[2]


class FakeCustomObjects:
    """Records status patches; answers like the API server would."""

    def __init__(self, live: dict[str, Any] | None = None, fail: int | None = None) -> None:
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.live = live
        self.fail = fail

    def patch_namespaced_custom_object_status(
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any, **_: Any
    ) -> dict[str, Any]:
        assert (group, version, plural) == ("xlscsde.nhs.uk", "v1", "analyticsworkspacebindings")
        if self.fail:
            raise ApiException(status=self.fail, reason="nope")
        self.patches.append((namespace, name, body))
        return {}

    def get_namespaced_custom_object_status(
        self, group: str, version: str, namespace: str, plural: str, name: str, **_: Any
    ) -> dict[str, Any]:
        if self.live is None:
            raise ApiException(status=404, reason="Not Found")
        return {"status": self.live}


class FakeEvents:
    """Records the Events a provider posts."""

    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    def create_namespaced_event(self, namespace: str, body: dict[str, Any], **_: Any) -> None:
        assert body["metadata"]["namespace"] == namespace
        self.posted.append(body)


def _provider(api: FakeCustomObjects, events: FakeEvents | None = None) -> BindingStatusProvider:
    provider = BindingStatusProvider()
    provider.configure(ConfigureRequest(Config({}, "awms-browser-workspaces")))
    provider._api = cast(Any, api)
    provider._core = cast(Any, events or FakeEvents())
    return provider


def _props(status: dict[str, Any], namespace: str = "ns", name: str = "b") -> dict[str, Any]:
    return {"bindingNamespace": namespace, "bindingName": name, "status": status}


READY = ready_status("abc", 1)


def test_diff_is_exact():
    provider = BindingStatusProvider()
    recorded = {**_props({**READY, "replicas": 1.0}), "patched": True}
    assert provider.diff("ns/b", recorded, _props(READY)).changes is False
    changed = provider.diff("ns/b", recorded, _props(ready_status("abc", 0)))
    assert changed.changes is True and changed.replaces == []
    moved = provider.diff("ns/b", recorded, _props(READY, name="c"))
    assert moved.changes is True and moved.replaces == ["bindingName"]
    assert provider.diff("ns/b", recorded, _props(expired_status())).changes is True


def test_create_merge_patches_the_status_with_integer_replicas():
    api = FakeCustomObjects()
    result = _provider(api).create(_props({**READY, "replicas": 1.0}))
    assert result.id == "ns/b"
    assert api.patches == [
        ("ns", "b", {"status": {"statusText": "READY", "deploymentName": "abc", "replicas": 1}})
    ]
    assert isinstance(api.patches[0][2]["status"]["replicas"], int)
    assert result.outs is not None and result.outs["patched"] is True


def test_update_patches_only_the_new_status():
    api = FakeCustomObjects()
    outs = _provider(api).update("ns/b", _props(READY), _props(expired_status())).outs
    assert api.patches == [
        ("ns", "b", {"status": {"statusText": "EXPIRED", "replicas": 0, "deploymentName": None}})
    ]
    assert outs is not None and outs["status"] == expired_status()


def test_missing_binding_is_not_an_error():
    api = FakeCustomObjects(fail=404)
    result = _provider(api).create(_props(READY))
    assert result.outs is not None and result.outs["patched"] is False


def test_other_api_errors_fail_the_resource():
    with pytest.raises(ApiException):
        _provider(FakeCustomObjects(fail=403)).create(_props(READY))


def test_delete_leaves_the_binding_alone():
    api = FakeCustomObjects()
    _provider(api).delete("ns/b", _props(READY))
    assert api.patches == []


def test_read_reports_the_live_status_so_refresh_sees_drift():
    api = FakeCustomObjects(live={"statusText": "Waiting", "deploymentName": "abc", "other": 1})
    result = _provider(api).read("ns/b", {**_props(READY), "patched": True})
    assert result.outs is not None
    assert result.outs["status"] == {
        "statusText": "Waiting",
        "deploymentName": "abc",
        "replicas": None,
    }
    assert BindingStatusProvider().diff("ns/b", result.outs, _props(READY)).changes is True
    gone = _provider(FakeCustomObjects(live=None)).read("ns/b", _props(READY))
    assert gone.outs is not None and gone.outs["patched"] is False


def test_check_rejects_incomplete_inputs():
    failures = BindingStatusProvider().check({}, {"bindingNamespace": "", "status": {}}).failures
    assert sorted(f.property for f in failures) == ["bindingName", "bindingNamespace", "status"]


@pytest.mark.parametrize("unknown", [UNKNOWN, rpc.UNKNOWN], ids=["Unknown", "sentinel"])
def test_unknown_inputs_are_a_change_not_a_crash(unknown: Any):
    """The engine may diff a status whose inputs are not known yet (a preview, or a targeted
    destroy re-diffing dependents): that is a pending change, never an exception."""
    provider = BindingStatusProvider()
    recorded = {**_props(READY), "patched": True}
    whole = provider.diff("ns/b", recorded, _props(cast(Any, unknown)))
    assert whole.changes is True and whole.replaces == []
    nested = provider.diff("ns/b", recorded, _props({**READY, "replicas": unknown}))
    assert nested.changes is True and nested.replaces == []
    renamed = provider.diff("ns/b", recorded, {**_props(READY), "bindingName": unknown})
    assert renamed.changes is True and renamed.replaces == ["bindingName"]
    pending = {"bindingNamespace": unknown, "bindingName": "b", "status": unknown}
    assert provider.check({}, pending).failures == []
    assert provider.check({}, _props({"statusText": unknown})).failures == []


def test_configure_reads_the_kubeconfig_setting(monkeypatch: pytest.MonkeyPatch):
    seen: list[str | None] = []

    def fake_client(path: str | None) -> object:
        seen.append(path)
        return object()

    monkeypatch.setattr(binding_status, "new_api_client", fake_client)
    monkeypatch.setattr(kubernetes.client, "CustomObjectsApi", lambda _: FakeCustomObjects())
    monkeypatch.setattr(kubernetes.client, "CoreV1Api", lambda _: FakeEvents())
    provider = BindingStatusProvider()
    config = Config({"awms-browser-workspaces:kubeconfig": "/k/config"}, "awms-browser-workspaces")
    provider.configure(ConfigureRequest(config))
    provider.create(_props(READY))
    provider.create(_props(READY, name="other"))
    assert seen == ["/k/config"]  # one client, built lazily, reused


def test_invalid_status_text_is_bounded():
    assert invalid_status("spec.expires", "bad")["statusText"] == "INVALID: spec.expires: bad"
    long = invalid_status("spec.username", "x" * 500)["statusText"]
    assert len(long) == 256 and long.endswith("...")
    forged = invalid_status("spec.username", "'\n\x1b[2Kerror: FORGED\u202e'")["statusText"]
    assert forged == "INVALID: spec.username: '\\n\\x1b[2Kerror: FORGED\\u202e'"


def test_generated_password_is_random_once_and_never_changes():
    provider = GeneratedPasswordProvider()
    checked = provider.check({}, {"bytes": 24.0, "password": None})
    assert checked.failures == [] and checked.inputs["bytes"] == 24
    first = provider.create(checked.inputs)
    second = provider.create(checked.inputs)
    assert first.outs is not None and second.outs is not None
    assert len(first.outs["password"]) == 32
    assert first.outs["password"] != second.outs["password"]
    assert first.id != second.id
    diff = provider.diff(first.id, first.outs, {"bytes": 48, "password": None})
    assert diff.changes is False and not diff.replaces


@pytest.mark.parametrize("size", [4, 1000, "24", True])
def test_generated_password_size_is_checked(size: Any):
    assert GeneratedPasswordProvider().check({}, {"bytes": size}).failures


@pytest.mark.parametrize(
    ("provider", "qualified"),
    [
        (BindingStatusProvider(), "components.binding_status"),
        (GeneratedPasswordProvider(), "components.generated_secret"),
    ],
)
def test_providers_pickle_by_reference_without_state(provider: Any, qualified: str):
    if isinstance(provider, BindingStatusProvider):
        provider.configure(
            ConfigureRequest(Config({"awms-browser-workspaces:kubeconfig": "/secret/path"}, "p"))
        )
    payload = base64.b64decode(serialize_provider(provider))
    assert qualified.encode() in payload
    assert b"/secret/path" not in payload
    assert len(payload) < 300, "the class was pickled by value"
    # A fresh interpreter started in the project directory (as the provider host is) loads it.
    code = (
        "import base64, sys, dill; "
        "p = dill.loads(base64.b64decode(sys.argv[1])); print(type(p).__module__)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code, base64.b64encode(payload).decode()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == qualified
    assert dill.loads(payload).__class__ is type(provider)  # noqa: S301 - our own bytes
