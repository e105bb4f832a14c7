"""The update's pre-flight permission check, and the shape of deploy/rbac.yaml.

The check itself runs against the real API server in tests/integration/test_least_privilege.py;
here the pure parts: which writes an update needs, and the message a refusal prints.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import NewConnectionError

from components import access_check
from components.access_check import Permission, missing, refusal, required_writes
from components.settings import settings_from_values

ROOT = Path(__file__).resolve().parents[2]
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}


def test_an_update_needs_every_write_on_the_browser_kinds_and_binding_status() -> None:
    settings = settings_from_values(
        {"namespace": "browsers", "bindingsNamespace": "hub", "declareFirefoxPolicy": False}
    )
    needed = required_writes(settings)
    kinds = {(p.group, p.resource) for p in needed if p.namespace == "browsers"}
    assert kinds == {
        ("apps", "deployments"),
        ("", "services"),
        ("", "secrets"),
        ("networking.k8s.io", "networkpolicies"),
    }
    assert {p.verb for p in needed if p.namespace == "browsers"} == {"create", "patch", "delete"}
    status = [p for p in needed if p.subresource]
    assert status == [
        Permission("patch", "xlscsde.nhs.uk", "analyticsworkspacebindings", "hub", "status")
    ]


def test_the_firefox_policy_config_map_is_needed_only_when_declared() -> None:
    def kinds(declared: bool) -> set[str]:
        values = {"namespace": "browsers", "declareFirefoxPolicy": declared}
        return {p.resource for p in required_writes(settings_from_values(values))}

    assert "configmaps" in kinds(True)
    assert "configmaps" not in kinds(False)


def test_no_status_write_is_needed_when_statuses_are_off_or_bindings_come_from_files() -> None:
    for values in ({"writeBindingStatus": False}, {"bindingsSource": "file", "bindingsFile": "b"}):
        assert not [p for p in required_writes(settings_from_values(values)) if p.subresource]


def test_refusal_names_the_identity_and_every_missing_permission() -> None:
    needed = required_writes(settings_from_values({}))
    absent = missing(needed, lambda p: p.resource == "services")
    assert len(absent) == len(needed) - 3
    text = refusal("system:serviceaccount:guacamole:awms-preview", absent)
    assert text.startswith("system:serviceaccount:guacamole:awms-preview may not")
    assert "stopped before writing anything" in text
    assert "  - create apps/deployments in namespace guacamole" in text
    assert "  - delete secrets in namespace guacamole" in text
    assert "  - patch xlscsde.nhs.uk/analyticsworkspacebindings/status in every namespace" in text
    assert "services in" not in text


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()) if d]


def _rules_of(account: str) -> list[dict[str, Any]]:
    roles = {(d["kind"], d["metadata"]["name"]): d for d in _documents() if "rules" in d}
    rules: list[dict[str, Any]] = []
    for binding in (d for d in _documents() if d["kind"].endswith("Binding")):
        if any(s["name"] == account for s in binding["subjects"]):
            ref = binding["roleRef"]
            rules += roles[(ref["kind"], ref["name"])]["rules"]
    return rules


def test_the_preview_identity_holds_no_write_verb_and_no_secret() -> None:
    rules = _rules_of("awms-preview")
    assert rules
    for rule in rules:
        assert not WRITE_VERBS & set(rule["verbs"]), rule
        assert "secrets" not in rule["resources"], rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule


def test_no_identity_may_write_binding_specs_or_use_wildcards() -> None:
    for account in ("awms-watch", "awms-pipeline", "awms-preview"):
        for rule in _rules_of(account):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
            if "analyticsworkspacebindings" in rule["resources"]:
                assert not WRITE_VERBS & set(rule["verbs"]), rule


def test_an_unreachable_api_server_does_not_stop_the_update(monkeypatch: Any) -> None:
    """Revocations in Guacamole must still run when the API server is down."""
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", warnings.append)

    def down(_: Permission) -> bool:
        raise NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]

    settings = settings_from_values({"namespace": "browsers"})
    access_check.require_write_access(settings, client.ApiClient(), reviewer=down)
    assert len(warnings) == 1 and "did not answer" in warnings[0]


def test_a_server_error_gives_way_but_a_forbidden_review_does_not(monkeypatch: Any) -> None:
    monkeypatch.setattr(pulumi.log, "warn", lambda _: None)
    settings = settings_from_values({"namespace": "browsers"})

    def failing(status: int) -> Callable[[Permission], bool]:
        def review(_: Permission) -> bool:
            raise ApiException(status=status)

        return review

    access_check.require_write_access(settings, client.ApiClient(), reviewer=failing(503))
    with pytest.raises(ApiException):
        access_check.require_write_access(settings, client.ApiClient(), reviewer=failing(403))


def test_a_denied_permission_refuses_the_update(monkeypatch: Any) -> None:
    monkeypatch.setattr(access_check, "identity", lambda _: "system:serviceaccount:x:review")
    settings = settings_from_values({"namespace": "browsers"})
    with pytest.raises(access_check.AccessDeniedError, match="x:review may not"):
        access_check.require_write_access(
            settings, client.ApiClient(), reviewer=lambda p: p.verb != "delete"
        )
