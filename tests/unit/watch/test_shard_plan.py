"""Planning a shard move from stack states: who goes where, and what never moves."""

from __future__ import annotations

from typing import Any

import pytest

from components.browser_workspace import TYPE as WORKSPACE_TYPE
from components.sharding import shard_of, shard_stack_name
from components.watch.shard_plan import PlanError, batches, logical, plan

PROJECT = "awms-browser-workspaces"
DYNAMIC = "pulumi-python:dynamic"
Resource = dict[str, Any]


def urn(stack: str, kind: str, name: str, parent_kind: str = "") -> str:
    qualified = f"{parent_kind}${kind}" if parent_kind else kind
    return f"urn:pulumi:{stack}::{PROJECT}::{qualified}::{name}"


def res(stack: str, kind: str, name: str, parent: str | None = None, **extra: Any) -> Resource:
    parent_kind = ""
    if parent and not parent.split("::")[2].startswith("pulumi:pulumi:Stack"):
        parent_kind = parent.split("::")[2]
    resource = {"urn": urn(stack, kind, name, parent_kind), "type": kind, **extra}
    if parent:
        resource["parent"] = parent
    return resource


def bookkeeping(stack: str) -> list[Resource]:
    root = res(stack, "pulumi:pulumi:Stack", f"{PROJECT}-{stack}")
    return [
        root,
        res(stack, "pulumi:providers:kubernetes", "kubernetes", root["urn"]),
        res(stack, "pulumi:providers:pulumi-python", "default", root["urn"]),
        res(stack, f"{DYNAMIC}/awms:FieldOwnerTakeover", "field-owner-takeover", root["urn"]),
        res(stack, f"{DYNAMIC}/awms:AccessRevocation", "access-revocations", root["urn"]),
    ]


def workspace(
    stack: str, root: str, ws: str, user: str, *, login: str | None = None, separate: bool = False
) -> tuple[list[Resource], Resource]:
    """One BrowserWorkspace with its children; its connection joins the group of ``ws``.

    ``separate``: the user is a resource of its own, as states written before the connection
    held it record it.
    """
    name = f"{ws}-{user}"
    group_urn = urn(stack, f"{DYNAMIC}/guacamole:ConnectionGroup", f"group-{ws}")
    component = res(stack, WORKSPACE_TYPE, name, root)
    c = component["urn"]
    username = {"username": login or f"x@{user}"}
    children = [
        res(stack, "kubernetes:apps/v1:Deployment", name, c),
        res(stack, "kubernetes:core/v1:Service", f"{name}-service", c),
        res(
            stack,
            f"{DYNAMIC}/guacamole:Connection",
            f"{name}-connection",
            c,
            inputs={} if separate else username,
            propertyDependencies={"group_id": [group_urn]},
        ),
    ]
    if separate:
        children.append(res(stack, f"{DYNAMIC}/guacamole:User", f"{name}-user", c, inputs=username))
    return children, component


def group(stack: str, root: str, ws: str) -> Resource:
    return res(stack, f"{DYNAMIC}/guacamole:ConnectionGroup", f"group-{ws}", root,
               inputs={"group_name": ws})  # fmt: skip


def network_policy(stack: str, root: str, ws: str) -> Resource:
    metadata = {"name": f"browsers-{ws}", "annotations": {"xlscsde.nhs.uk/workspace": ws}}
    return res(stack, "kubernetes:networking.k8s.io/v1:NetworkPolicy", f"network-policy-{ws}",
               root, inputs={"metadata": metadata})  # fmt: skip


def status(stack: str, root: str, key: str, deployment: str | None) -> Resource:
    inputs = {"deployment": {"namespace": "guacamole", "name": deployment} if deployment else None}
    return res(stack, f"{DYNAMIC}/awms:BindingStatus", key, root, inputs=inputs)


def environment_state(
    stack: str, workspaces: list[str], users: tuple[str, ...] = ("ann",)
) -> dict[str, Any]:
    resources = bookkeeping(stack)
    root = resources[0]["urn"]
    for ws in workspaces:
        resources.append(group(stack, root, ws))
        resources.append(network_policy(stack, root, ws))
        for user in users:
            children, component = workspace(stack, root, ws, user)
            resources += [component, *children]
            resources.append(status(stack, root, f"jupyterhub/b-{ws}-{user}", f"{ws}-{user}"))
    resources.append(res(stack, "kubernetes:core/v1:ConfigMap", "firefox-policy", root))
    return {"resources": resources}


WORKSPACES = [f"ws-{i}" for i in range(12)]


def test_one_stack_into_three_shards_sends_each_workspace_to_its_hash():
    result = plan("prod", {"prod": environment_state("prod", WORKSPACES)}, 3)
    moving = result.distribute()
    assert result.gather() == []
    for ws in WORKSPACES:
        expected = shard_stack_name("prod", shard_of(ws, 3))
        units = [u for u in moving if u.what == ws]
        # group, NetworkPolicy, component (with 3 children) and the status of its one binding
        assert len(units) == 4 and {u.target for u in units} == {expected}
        assert any(u.urns[0].endswith(f"::network-policy-{ws}") for u in units)
        component = next(u for u in units if len(u.urns) == 4)
        assert component.urns[0].endswith(f"::{ws}-ann")
    policy = [u for u in moving if u.what == "firefox-policy"]
    assert [u.target for u in policy] == ["prod.shard-0"]


def test_bookkeeping_never_moves_and_is_listed_per_stack():
    result = plan("prod", {"prod": environment_state("prod", WORKSPACES[:2])}, 3)
    moved = {urn for unit in result.units for urn in unit.urns}
    assert not any(":providers:" in u or "pulumi:Stack" in u for u in moved)
    assert not any("FieldOwnerTakeover" in u or "AccessRevocation" in u for u in moved)
    assert [u.rsplit("::", 1)[-1] for u in result.bookkeeping["prod"]] == [
        "field-owner-takeover",
        "access-revocations",
    ]
    assert result.emptied(["prod", "prod.shard-0"]) == ["prod"]


def test_shards_back_to_one_gathers_everything_and_empties_the_shards():
    states = {}
    for index in range(3):
        stack = shard_stack_name("prod", index)
        mine = [ws for ws in WORKSPACES if shard_of(ws, 3) == index]
        states[stack] = environment_state(stack, mine)
    states["prod"] = {"resources": bookkeeping("prod")[:1]}
    result = plan("prod", states, 1)
    assert {u.target for u in result.units} == {"prod"}
    assert len(result.gather()) == len(result.units) and result.distribute() == []
    assert result.emptied(list(states)) == [f"prod.shard-{i}" for i in range(3)]


def test_three_to_five_moves_only_what_the_hash_moves_and_a_settled_plan_is_empty():
    states = {
        shard_stack_name("prod", i): environment_state(
            shard_stack_name("prod", i), [ws for ws in WORKSPACES if shard_of(ws, 3) == i]
        )
        for i in range(3)
    }
    result = plan("prod", states, 5)
    moving = {u.what for u in result.misplaced() if u.what in WORKSPACES}
    assert moving == {ws for ws in WORKSPACES if shard_of(ws, 5) >= 3}
    assert all(u.target in ("prod.shard-3", "prod.shard-4") for u in result.gather())
    assert plan("prod", states, 3).misplaced() == []


def test_statuses_follow_the_bindings_workspace_else_their_deployment_else_shard_zero():
    state = environment_state("prod", ["ws-1"])
    root = state["resources"][0]["urn"]
    state["resources"] += [
        status("prod", root, "jupyterhub/expired", None),
        status("prod", root, "jupyterhub/invalid", None),
    ]
    target = "ws-7" if shard_of("ws-7", 4) != 0 else "ws-8"
    result = plan("prod", {"prod": state}, 4, {"jupyterhub/expired": target})
    where = {u.urns[0].rsplit("::", 1)[-1]: u.target for u in result.units}
    assert where["jupyterhub/expired"] == shard_stack_name("prod", shard_of(target, 4))
    assert where["jupyterhub/invalid"] == "prod.shard-0"
    assert where["jupyterhub/b-ws-1-ann"] == shard_stack_name("prod", shard_of("ws-1", 4))


def test_a_move_killed_between_its_two_writes_keeps_the_copy_in_the_right_stack():
    ws = next(w for w in WORKSPACES if shard_of(w, 2) == 1)
    source = environment_state("prod", [ws])
    dest = environment_state("prod.shard-1", [ws])
    result = plan("prod", {"prod": source, "prod.shard-1": dest}, 2)
    assert [u for u in result.misplaced() if u.what == ws] == []
    dropped = result.duplicates["prod"]
    assert any(u.endswith(f"::{ws}-ann") for u in dropped)
    assert {logical(u) for u in dropped} <= {logical(r["urn"]) for r in dest["resources"]}


def test_a_workspace_without_readable_workspace_or_a_foreign_stack_is_named():
    state = environment_state("prod", ["ws-1"])
    state["resources"] = [r for r in state["resources"] if "guacamole" not in r["type"]]
    with pytest.raises(PlanError, match="browser workspace ws-1-ann"):
        plan("prod", {"prod": state}, 2)
    with pytest.raises(PlanError, match="staging is not a stack of the environment prod"):
        plan("prod", {"staging": {"resources": []}}, 2)


@pytest.mark.parametrize("separate", [False, True], ids=["connection-login", "separate-user"])
def test_without_its_group_a_workspace_follows_its_login(separate: bool):
    """The group moved away or is gone: the login ``{workspace}@{user}`` still places it."""
    resources = bookkeeping("prod")
    root = resources[0]["urn"]
    children, component = workspace(
        "prod", root, "ws-3", "ann", login="ws-7@ann", separate=separate
    )
    state = {"resources": [*resources, component, *children]}
    (unit,) = [u for u in plan("prod", {"prod": state}, 3).units if u.what != ""]
    assert unit.what == "ws-7"
    assert unit.target == shard_stack_name("prod", shard_of("ws-7", 3))
    assert len(unit.urns) == 1 + len(children)


def test_batches_never_split_a_unit_and_respect_the_limit():
    result = plan("prod", {"prod": environment_state("prod", WORKSPACES, ("a", "b"))}, 2)
    units = [u for u in result.distribute() if u.target == "prod.shard-1"]
    groups = batches(units, 12)
    assert sorted(u.urns for g in groups for u in g) == sorted(u.urns for u in units)
    assert all(sum(len(u.urns) for u in g) <= 12 for g in groups)
    assert len(groups) > 1
