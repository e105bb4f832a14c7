"""Desired statuses (what the program writes) and failure reports."""

from __future__ import annotations

from datetime import date

from components import naming
from components.watch.statuses import (
    ERROR_PREFIX,
    desired_statuses,
    error_status,
    has_error_status,
)
from tests.factories import manifest

TODAY = date(2025, 6, 1)


def test_desired_statuses_follow_the_program() -> None:
    bindings = {
        "jupyterhub/a": manifest("a", replicas=1),
        "jupyterhub/b": manifest("b", replicas=0),
        "jupyterhub/old": manifest("old", username="o@x.org", expires="2020-01-01"),
        "jupyterhub/bad": manifest("bad", workspace="Not_A_Name"),
    }
    name = naming.deployment_name("default-generic-workspace", "jane.doe@example.org")
    out = desired_statuses(bindings, bindings.keys(), TODAY)
    # replicas stay as the program wrote them: the Deployment's observed count.
    shared = {"statusText": "READY", "deploymentName": name}
    assert out["jupyterhub/a"] == shared and out["jupyterhub/b"] == shared
    assert out["jupyterhub/old"] == {"statusText": "EXPIRED", "replicas": 0, "deploymentName": ""}
    assert out["jupyterhub/bad"]["statusText"].startswith("INVALID: spec.workspace")
    assert set(desired_statuses(bindings, ["jupyterhub/a", "ns/absent"], TODAY)) == {"jupyterhub/a"}


def test_error_status_is_one_bounded_line() -> None:
    status = error_status("\n  boom: database unreachable\nmore", attempt=3, retry_in=8.0)
    assert status == {
        "statusText": f"{ERROR_PREFIX}boom: database unreachable (attempt 3, retry in 8s)"
    }
    bounded = error_status("x" * 1000, attempt=1, retry_in=None)["statusText"]
    assert len(bounded) == 256 and bounded.endswith("... (attempt 1, not retried)")
    assert has_error_status({"status": status})
    assert not has_error_status({"status": {"statusText": "READY"}})
    assert not has_error_status({})


def test_error_status_neutralises_relayed_text_without_escaping_it_twice() -> None:
    relayed = "binding a/b refused: found \\x1b\x1b[2K\u202e"
    text = error_status(relayed, attempt=1, retry_in=None)["statusText"]
    shown = "binding a/b refused: found \\x1b\\x1b[2K\\u202e"
    assert text == f"{ERROR_PREFIX}{shown} (attempt 1, not retried)"
    assert text.isprintable()
