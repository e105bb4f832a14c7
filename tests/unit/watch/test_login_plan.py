"""What a login scales: the program's own planning applied to the watcher's cache."""

from __future__ import annotations

from datetime import date
from typing import Any

from components import naming
from components.watch.login_plan import LoginTarget, Skip, plan_login, replicas_changed
from tests.factories import manifest

TODAY = date(2025, 6, 1)
WORKSPACE = "default-generic-workspace"


def cache(*manifests: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m['metadata']['namespace']}/{m['metadata']['name']}": m for m in manifests}


def test_a_login_scales_the_deployment_of_its_workspace_and_user() -> None:
    jane = manifest("b-jane", username="jane@example.org", replicas=1)
    john = manifest("b-john", username="john@example.org", replicas=0)
    target = plan_login("jupyterhub/b-jane", cache(jane, john), TODAY)
    assert target == LoginTarget(
        naming.deployment_name(WORKSPACE, "jane@example.org"), 1, ("jupyterhub/b-jane",)
    )


def test_bindings_sharing_a_deployment_keep_the_largest_request() -> None:
    first = manifest("b-1", username="jane@example.org", replicas=1)
    second = manifest("b-2", username="jane@example.org", replicas=0)
    target = plan_login("jupyterhub/b-2", cache(first, second), TODAY)
    assert isinstance(target, LoginTarget)
    assert target.replicas == 1
    assert target.binding_keys == ("jupyterhub/b-1", "jupyterhub/b-2")


def test_invalid_expired_and_vanished_bindings_scale_nothing() -> None:
    bad = manifest("b-bad", username="jane\x1b[31m@example.org", replicas=1)
    old = manifest("b-old", username="old@example.org", expires="2025-01-01", replicas=1)
    bindings = cache(bad, old)

    invalid = plan_login("jupyterhub/b-bad", bindings, TODAY)
    assert isinstance(invalid, Skip) and "spec.username" in invalid.reason
    assert "\x1b" not in invalid.reason
    expired = plan_login("jupyterhub/b-old", bindings, TODAY)
    assert isinstance(expired, Skip) and "expired" in expired.reason
    gone = plan_login("jupyterhub/b-gone", bindings, TODAY)
    assert isinstance(gone, Skip) and "no longer exists" in gone.reason


def test_only_an_existing_binding_whose_replicas_changed_counts() -> None:
    zero = manifest("b", replicas=0)
    one = manifest("b", replicas=1)
    commented = manifest("b", replicas=0, comments="hello")
    assert replicas_changed(zero, one)
    assert replicas_changed(one, zero)
    assert not replicas_changed(zero, commented)
    assert not replicas_changed(None, one)  # new: its Deployment does not exist yet
    assert not replicas_changed(one, None)
