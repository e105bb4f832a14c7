"""Which binding and workspace changes run nothing, one binding, or the whole program."""

from __future__ import annotations

import copy

import pytest

from components.watch.changes import ChangeKind, classify_binding, classify_workspace, object_key
from tests.factories import manifest

KEY = "jupyterhub/binding-1"


def test_added_and_deleted_bindings_need_a_full_run() -> None:
    assert classify_binding(KEY, None, manifest()).kind is ChangeKind.FULL
    assert classify_binding(KEY, manifest(), None).kind is ChangeKind.FULL
    assert classify_binding(KEY, None, None).kind is ChangeKind.IGNORE


@pytest.mark.parametrize(
    "edit",
    [{"replicas": 1}, {"comments": "asked by the PI"}, {"replicas": 1, "comments": "x"}],
)
def test_replicas_and_comments_stay_with_one_binding(edit: dict[str, object]) -> None:
    old = manifest(replicas=0)
    new = copy.deepcopy(old)
    new["spec"].update(edit)
    change = classify_binding(KEY, old, new)
    assert change.kind is ChangeKind.BINDING
    assert "spec.replicas" in change.reason or "spec.comments" in change.reason


@pytest.mark.parametrize(
    "edit",
    [
        {"workspace": "other-workspace"},
        {"username": "john@example.org"},
        {"expires": "2030-01-01"},
        {"replicas": 1, "username": "john@example.org"},
        {"claims": [{"name": "x", "operator": "EQUALS", "value": "y"}]},
    ],
)
def test_identity_or_expiry_changes_need_a_full_run(edit: dict[str, object]) -> None:
    old = manifest()
    new = copy.deepcopy(old)
    new["spec"].update(edit)
    assert classify_binding(KEY, old, new).kind is ChangeKind.FULL


def test_removing_a_field_counts_as_a_change() -> None:
    old = manifest(replicas=1)
    new = copy.deepcopy(old)
    del new["spec"]["replicas"]
    assert classify_binding(KEY, old, new).kind is ChangeKind.BINDING


def test_status_and_metadata_changes_are_ignored() -> None:
    """Our own status writes come back as watch events; they must not start a run."""
    old = manifest()
    new = copy.deepcopy(old)
    new["status"] = {"statusText": "READY", "replicas": 1}
    new["metadata"]["labels"] = {"xlscsde.nhs.uk/username": "jane.doe___example.org"}
    new["metadata"]["resourceVersion"] = "42"
    assert classify_binding(KEY, old, new).kind is ChangeKind.IGNORE


def test_workspace_spec_changes_run_everything_status_changes_do_not() -> None:
    old = {"metadata": {"name": "w", "namespace": "ns"}, "spec": {"displayName": "W"}}
    status_only = {**old, "status": {"statusText": "Ready"}}
    renamed = {**old, "spec": {"displayName": "W2"}}
    assert classify_workspace("ns/w", old, status_only).kind is ChangeKind.IGNORE
    assert classify_workspace("ns/w", old, renamed).kind is ChangeKind.FULL
    assert classify_workspace("ns/w", None, old).kind is ChangeKind.FULL
    assert classify_workspace("ns/w", old, None).kind is ChangeKind.FULL


def test_object_key() -> None:
    assert object_key(manifest()) == KEY
    assert object_key({"metadata": {"name": "cluster-scoped"}}) == "cluster-scoped"
    assert object_key({"metadata": {}}) is None
    assert object_key({}) is None
