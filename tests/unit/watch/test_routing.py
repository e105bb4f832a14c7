"""Routing watch events to the shard stacks they change (pure)."""

from __future__ import annotations

from typing import Any

from components.sharding import shard_of
from components.watch.routing import (
    ShardRouter,
    binding_shards,
    manifest_shard,
    workspace_name,
    workspace_shards,
)
from tests.factories import manifest

SHARDS = 5


def workspace_in(shard: int, avoid: str = "") -> str:
    """A workspace name the hash puts in ``shard`` (found, not assumed)."""
    for candidate in range(10_000):
        name = f"route-ws-{candidate}"
        if name != avoid and shard_of(name, SHARDS) == shard:
            return name
    raise AssertionError(f"no workspace hashes to shard {shard}")


def workspace_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "xlscsde.nhs.uk/v1",
        "kind": "AnalyticsWorkspace",
        "metadata": {"name": name, "namespace": "jupyterhub"},
        "spec": {"displayName": name},
    }


def test_a_binding_goes_to_the_shard_of_its_workspace() -> None:
    for shard in range(SHARDS):
        body = manifest("b", workspace=workspace_in(shard))
        assert binding_shards(None, body, SHARDS) == {shard}  # added
        assert binding_shards(body, None, SHARDS) == {shard}  # deleted
        changed = {**body, "spec": {**body["spec"], "replicas": 1}}
        assert binding_shards(body, changed, SHARDS) == {shard}


def test_a_repointed_binding_goes_to_the_old_and_the_new_shard() -> None:
    old = manifest("b", workspace=workspace_in(1))
    new = manifest("b", workspace=workspace_in(3))
    assert binding_shards(old, new, SHARDS) == {1, 3}
    same_shard = manifest("b", workspace=workspace_in(1, avoid=old["spec"]["workspace"]))
    assert binding_shards(old, same_shard, SHARDS) == {1}


def test_a_binding_whose_workspace_cannot_be_read_goes_to_shard_zero() -> None:
    for workspace in (None, "", 42, ["ws"]):
        body = manifest("b", workspace=workspace)
        assert manifest_shard(body, SHARDS) == 0
    assert manifest_shard({"spec": "not a mapping"}, SHARDS) == 0
    broken = manifest("b", workspace=None)
    fixed = manifest("b", workspace=workspace_in(4))
    assert binding_shards(broken, fixed, SHARDS) == {0, 4}


def test_a_workspace_event_goes_to_its_shard() -> None:
    for shard in range(SHARDS):
        name = workspace_in(shard)
        body = workspace_object(name)
        assert workspace_shards(f"jupyterhub/{name}", None, body, SHARDS) == {shard}
        assert workspace_shards(f"jupyterhub/{name}", body, None, SHARDS) == {shard}
    assert workspace_shards("jupyterhub/x", None, None, SHARDS) == frozenset()
    assert workspace_name("jupyterhub/from-key", None, {"metadata": {}}) == "from-key"


def test_unsharded_routes_everything_to_shard_zero() -> None:
    body = manifest("b", workspace=workspace_in(3))
    assert binding_shards(body, None, 1) == {0}
    assert workspace_shards("ns/w", workspace_object("w"), None, 1) == {0}
    router = ShardRouter(1, [0])
    bindings = {"ns/a": body, "ns/b": manifest("b", workspace=None)}
    assert router.owned(bindings, 0) == bindings


def test_a_router_for_one_shard_stack_drops_the_other_shards_events() -> None:
    router = ShardRouter(SHARDS, [2])
    mine = manifest("mine", workspace=workspace_in(2))
    other = manifest("other", workspace=workspace_in(4))
    assert router.for_binding(None, mine) == {2}
    assert router.for_binding(None, other) == frozenset()
    assert router.for_binding(other, mine) == {2}
    name = workspace_in(4)
    assert router.for_workspace(f"ns/{name}", None, workspace_object(name)) == frozenset()


def test_each_shard_owns_exactly_its_bindings() -> None:
    router = ShardRouter(SHARDS, range(SHARDS))
    bindings = {
        f"ns/b{i}": manifest(f"b{i}", workspace=workspace_in(i % SHARDS)) for i in range(12)
    }
    bindings["ns/broken"] = manifest("broken", workspace=None)
    owned = {index: router.owned(bindings, index) for index in range(SHARDS)}
    assert sorted(k for part in owned.values() for k in part) == sorted(bindings)
    assert "ns/broken" in owned[0]
    for index, part in owned.items():
        for body in part.values():
            assert manifest_shard(body, SHARDS) == index
