"""Planning: grouping, expiry, duplicates and problem reporting, all pure."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from components import naming
from components.bindings import Binding, InvalidBinding, parse_binding
from components.planning import Plan, ProblemKind, Severity, plan_workspaces
from tests.factories import manifest

TODAY = date(2025, 6, 1)


def _plan(*manifests) -> Plan:
    entries = [parse_binding(m, origin=f"#{i}") for i, m in enumerate(manifests)]
    return plan_workspaces(entries, TODAY)


def test_one_workspace_per_binding():
    plan = _plan(
        manifest("a", workspace="ws-one", username="ann@x.org", replicas=1),
        manifest("b", workspace="ws-two", username="ann@x.org"),
        manifest("c", workspace="ws-one", username="bob@x.org"),
    )
    assert [(p.workspace, p.username, p.replicas) for p in plan.workspaces] == [
        ("ws-one", "ann@x.org", 1),
        ("ws-one", "bob@x.org", 0),
        ("ws-two", "ann@x.org", 0),
    ]
    assert plan.problems == ()
    first = plan.workspaces[0]
    assert first.deployment_name == naming.deployment_name("ws-one", "ann@x.org")
    assert first.guacamole_username == "ws-one@ann@x.org"
    assert plan.summary() == {
        "bindingsRead": 3,
        "provisioned": 3,
        "workspaces": 3,
        "skipped": 0,
        "expired": 0,
    }


def test_malformed_binding_is_skipped_and_others_converge():
    plan = _plan(
        manifest("good"),
        manifest("bad", expires="someday"),
        manifest("other", username="bob@x.org"),
    )
    # Sorted by (workspace, username): bob@ before jane.doe@.
    assert [p.binding_keys for p in plan.workspaces] == [
        ("jupyterhub/other",),
        ("jupyterhub/good",),
    ]
    assert [b.key for b in plan.invalid] == ["jupyterhub/bad"]
    (problem,) = plan.problems
    assert problem.kind is ProblemKind.INVALID
    assert problem.severity is Severity.ERROR
    assert problem.bindings == ("jupyterhub/bad",)
    assert "jupyterhub/bad" in problem.message and "spec.expires" in problem.message
    assert plan.summary()["skipped"] == 1


def test_expired_binding_is_not_provisioned():
    plan = _plan(
        manifest("lapsed", expires="2025-05-31"),
        manifest("last-day", username="bob@x.org", expires="2025-06-01"),
    )
    assert [p.binding_keys for p in plan.workspaces] == [("jupyterhub/last-day",)]
    assert [b.key for b in plan.expired] == ["jupyterhub/lapsed"]
    (problem,) = plan.problems
    assert problem.kind is ProblemKind.EXPIRED
    assert problem.severity is Severity.WARNING
    assert "2025-05-31" in problem.message
    assert plan.summary()["expired"] == 1


def test_duplicates_collapse_into_one_workspace_with_max_replicas():
    plan = _plan(
        manifest("z-second", namespace="team-b", replicas=0),
        manifest("a-first", namespace="team-a", replicas=2),
    )
    (workspace,) = plan.workspaces
    assert workspace.binding_keys == ("team-a/a-first", "team-b/z-second")
    assert workspace.replicas == 2
    (problem,) = plan.problems
    assert problem.kind is ProblemKind.DUPLICATE
    assert problem.bindings == ("team-a/a-first", "team-b/z-second")
    assert "team-a/a-first and team-b/z-second" in problem.message
    assert plan.summary() == {
        "bindingsRead": 2,
        "provisioned": 2,
        "workspaces": 1,
        "skipped": 0,
        "expired": 0,
    }


def test_expired_twin_does_not_count_as_duplicate():
    plan = _plan(manifest("live"), manifest("old", expires="2020-01-01"))
    assert [p.binding_keys for p in plan.workspaces] == [("jupyterhub/live",)]
    assert [p.kind for p in plan.problems] == [ProblemKind.EXPIRED]


def test_same_binding_defined_twice_keeps_the_first():
    plan = _plan(manifest("x", replicas=1), manifest("x", replicas=3))
    (workspace,) = plan.workspaces
    assert workspace.replicas == 1
    (bad,) = plan.invalid
    assert bad.key == "jupyterhub/x"
    assert "defined more than once (first defined in #0)" in bad.message


def test_recorded_deployment_name_that_differs_is_reported():
    computed = naming.deployment_name("default-generic-workspace", "jane.doe@example.org")
    plan = _plan(
        manifest("moved", status={"deploymentName": "0" * 32}),
        manifest(
            "same",
            username="bob@x.org",
            status={
                "deploymentName": naming.deployment_name("default-generic-workspace", "bob@x.org")
            },
        ),
    )
    assert plan.workspaces[1].deployment_name == computed
    (problem,) = plan.problems
    assert problem.kind is ProblemKind.RENAMED
    assert problem.bindings == ("jupyterhub/moved",)
    assert "0" * 32 in problem.message and computed in problem.message


def test_invalid_entries_pass_through_in_key_order():
    entries: list[Binding | InvalidBinding] = [
        InvalidBinding("ns", "b", "spec", "is required"),
        InvalidBinding(None, None, "", "manifest is not a mapping", "file.yaml#3"),
    ]
    plan = plan_workspaces(entries, TODAY)
    assert [b.key for b in plan.invalid] == ["file.yaml#3", "ns/b"]
    assert plan.workspaces == ()
    assert plan.bindings_read == 2


_names = st.sampled_from(["a", "b", "c"])
_bindings = st.builds(
    Binding,
    namespace=st.sampled_from(["ns1", "ns2"]),
    name=_names,
    workspace=st.sampled_from(["ws-one", "ws-two"]),
    username=st.sampled_from(["ann@x.org", "bob@x.org"]),
    expires=st.dates(min_value=date(2025, 5, 25), max_value=date(2025, 6, 7)),
    replicas=st.integers(min_value=0, max_value=3),
)


@given(st.lists(_bindings, max_size=12))
def test_planning_accounts_for_every_binding(bindings: list[Binding]):
    plan = plan_workspaces(bindings, TODAY)
    assert plan.bindings_read == len(bindings)
    planned = [key for workspace in plan.workspaces for key in workspace.binding_keys]
    assert len(planned) == len(set(planned))
    identities = [(p.workspace, p.username) for p in plan.workspaces]
    assert len(identities) == len(set(identities))
    for workspace in plan.workspaces:
        assert all(not b.is_expired(TODAY) for b in workspace.bindings)
        assert workspace.replicas == max(b.replicas for b in workspace.bindings)
    assert all(b.is_expired(TODAY) for b in plan.expired)
