"""Shards: the consistent hash, stack names, and what one shard stack declares."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from components import naming
from components.manifests import workspace_label_value
from components.placement import Placement
from components.program import Declared, declare
from components.settings import SettingsError, settings_from_values
from components.sharding import (
    BINDINGS_PER_SHARD,
    LARGE_STACK,
    MAX_SHARDS,
    WHOLE,
    ShardingError,
    ShardScope,
    jump_hash,
    scope_for_stack,
    shard_of,
    shard_stack_name,
    size_warning,
    split_stack_name,
    suggested_shards,
)
from components.takeover.inventory import (
    Inventory,
    LiveConnection,
    LiveObject,
    object_selectors,
    scoped,
)
from tests.factories import manifest
from tests.unit.conftest import PulumiHarness
from tests.unit.test_program import ListSource

TODAY = date(2025, 6, 1)
WORKSPACES = [f"workspace-{i:04d}" for i in range(5000)]


def test_jump_hash_stays_in_range_and_one_bucket_takes_everything():
    assert {jump_hash(key, 1) for key in range(1000)} == {0}
    assert {jump_hash(key * 7919, 13) for key in range(5000)} == set(range(13))
    with pytest.raises(ValueError):
        jump_hash(1, 0)


def test_workspaces_spread_evenly_over_the_shards():
    counts = Counter(shard_of(w, 10) for w in WORKSPACES)
    assert set(counts) == set(range(10))
    assert max(counts.values()) < 1.2 * 500 and min(counts.values()) > 0.8 * 500


def test_growing_by_one_shard_moves_about_its_share_and_only_into_the_new_shard():
    before = {w: shard_of(w, 4) for w in WORKSPACES}
    after = {w: shard_of(w, 5) for w in WORKSPACES}
    moved = [w for w in WORKSPACES if before[w] != after[w]]
    assert {after[w] for w in moved} == {4}
    assert 0.15 < len(moved) / len(WORKSPACES) < 0.25


def test_the_shard_of_a_workspace_is_a_pure_function_of_its_name():
    # The same name always gives the same shard, whatever else exists or was asked before.
    first = [shard_of(w, 8) for w in WORKSPACES[:50]]
    assert [shard_of(w, 8) for w in reversed(WORKSPACES[:50])] == first[::-1]
    assert shard_of("default-generic-workspace", 8) == shard_of("default-generic-workspace", 8)


def test_stack_names_round_trip():
    assert shard_stack_name("prod", 3) == "prod.shard-3"
    assert split_stack_name("prod.shard-3") == ("prod", 3)
    assert split_stack_name("prod") == ("prod", None)
    assert split_stack_name("prod.shard-03") == ("prod.shard-03", None)
    assert split_stack_name("a.b.shard-0") == ("a.b", 0)


def test_a_stack_and_its_shards_setting_must_agree():
    assert scope_for_stack("prod", 1) is WHOLE
    assert scope_for_stack("org/awms/prod.shard-2", 4) == ShardScope(2, 4)
    with pytest.raises(ShardingError, match=r"prod\.shard-0 \.\.\. prod\.shard-3"):
        scope_for_stack("prod", 4)
    with pytest.raises(ShardingError, match="has only 4 shards"):
        scope_for_stack("prod.shard-4", 4)
    with pytest.raises(ShardingError, match="has shards: 1"):
        scope_for_stack("prod.shard-0", 1)
    with pytest.raises(ShardingError, match="between 1 and"):
        scope_for_stack("prod", 0)


def test_shards_setting_is_validated_by_name():
    assert settings_from_values({"shards": 8}).shards == 8
    for bad in (0, -1, True, "4", 5000):
        with pytest.raises(SettingsError, match="shards"):
            settings_from_values({"shards": bad})


def test_a_workspace_nobody_can_name_belongs_to_shard_zero():
    assert ShardScope(0, 4).owns(None) and not ShardScope(1, 4).owns(None)
    assert WHOLE.owns(None) and WHOLE.owns("anything")


def _workspace_in(shard: int, count: int, skip: int = 0) -> str:
    return [w for w in WORKSPACES if shard_of(w, count) == shard][skip]


def test_inventory_is_cut_to_the_shards_own_workspaces():
    mine, theirs = _workspace_in(1, 3), _workspace_in(2, 3)
    inventory = Inventory(
        objects=tuple(
            LiveObject("Deployment", naming.deployment_name(w, "u"), w, "u", False, True)
            for w in (mine, theirs)
        ),
        connections=tuple(
            LiveConnection(w, "u", i, None, True) for i, w in enumerate((mine, theirs))
        ),
    )
    cut = scoped(inventory, ShardScope(1, 3).owns)
    assert [o.workspace for o in cut.objects] == [mine]
    assert [c.group for c in cut.connections] == [mine]


def _declare_shard(harness: PulumiHarness, scope: ShardScope, *manifests, inventory=None):
    settings = settings_from_values({"shards": scope.count})
    declared: Declared = harness.run(
        lambda: declare(
            settings,
            ListSource(*manifests),
            today=TODAY,
            inventory=lambda *_: inventory or Inventory(),
            scope=scope,
        )
    )
    return declared


def test_a_shard_declares_only_its_workspaces_and_revokes_only_its_users(harness: PulumiHarness):
    mine, theirs = _workspace_in(1, 3), _workspace_in(2, 3)
    gone_mine = naming.deployment_name(mine, "gone@x.org")
    gone_theirs = naming.deployment_name(theirs, "gone@x.org")
    live = Inventory(
        connections=(
            LiveConnection(
                mine, "gone@x.org", 1, naming.connection_hostname(gone_mine, "guacamole"), False
            ),
            LiveConnection(
                theirs, "gone@x.org", 2, naming.connection_hostname(gone_theirs, "guacamole"), False
            ),
        )
    )
    declared = _declare_shard(
        harness,
        ShardScope(1, 3),
        manifest("a", workspace=mine),
        manifest("b", workspace=theirs),
        manifest("c", workspace=mine, username="old@x.org", expires="2025-05-01"),
        manifest("d", workspace=theirs, username="old@x.org", expires="2025-05-01"),
        manifest("e", workspace=mine, username=...),
        inventory=live,
    )
    assert [p.workspace for p in declared.plan.workspaces] == [mine]
    assert [g.name for g in harness.of_type("guacamole:ConnectionGroup")] == [f"group-{mine}"]
    (revocation,) = harness.of_type("AccessRevocation")
    revoked = {(e["group"], e["connection"], e["reason"]) for e in revocation.inputs["entries"]}
    assert revoked == {(mine, "gone@x.org", "deleted"), (mine, "old@x.org", "expired")}
    statuses = {s.name for s in harness.of_type("awms:BindingStatus")}
    assert statuses == {"jupyterhub/a", "jupyterhub/c", "jupyterhub/e"}
    assert declared.outputs()["shard"] == {"index": 1, "count": 3}
    assert harness.of_type("core/v1:ConfigMap") == []


def test_shard_zero_takes_what_names_no_workspace_and_the_firefox_policy(harness: PulumiHarness):
    declared = _declare_shard(
        harness, ShardScope(0, 3), manifest("nowhere", workspace=...), manifest("x", workspace=7)
    )
    assert {i.key for i in declared.plan.invalid} == {"jupyterhub/nowhere", "jupyterhub/x"}
    assert len(harness.of_type("core/v1:ConfigMap")) == 1


def test_every_binding_lands_in_exactly_one_shard(harness: PulumiHarness):
    manifests = [
        manifest(f"b{i}", workspace=WORKSPACES[i % 40], username=f"u{i}") for i in range(120)
    ]
    seen: Counter[str] = Counter()
    for index in range(4):
        declared = _declare_shard(harness, ShardScope(index, 4), *manifests)
        seen.update(b.key for p in declared.plan.workspaces for b in p.bindings)
    assert seen == Counter({f"jupyterhub/b{i}": 1 for i in range(120)})


def test_the_program_records_the_digest_the_runner_expects(
    harness: PulumiHarness, monkeypatch: pytest.MonkeyPatch, tmp_path
):
    from components.shard_digest import CONTEXT_ENV
    from components.watch.overrides import Project
    from components.watch.shards import Environment, expected_digests

    monkeypatch.setenv(CONTEXT_ENV, "release-1")
    manifests = [
        manifest(f"b{i}", workspace=WORKSPACES[i % 7], username=f"u{i}", expires=expires)
        for i, expires in enumerate(["2099-01-01", "2025-05-01"] * 6)
    ]
    environment = Environment(Project(tmp_path, "awms-browser-workspaces", tmp_path), "prod", 3)
    expected = expected_digests(environment, "release-1", manifests, TODAY)
    for index in range(3):
        declared = _declare_shard(harness, ShardScope(index, 3), *manifests)
        assert declared.input_digest == expected[f"prod.shard-{index}"]
    assert len(set(expected.values())) == 3


@pytest.mark.parametrize("placed", [True, False])
def test_every_shards_digest_in_one_pass_equals_each_computed_alone(placed: bool):
    from components.shard_digest import input_digest, input_digests

    workspaces = [f"ws-{i}" for i in range(9)]
    placement = Placement({w: i % 4 for i, w in enumerate(workspaces[:7])}) if placed else None
    manifests: list[object] = [
        manifest(f"b{i}", workspace=workspaces[i % 9], username=f"u{i}") for i in range(40)
    ]
    manifests += [
        manifest("no-workspace", workspace=...),  # shard 0's
        manifest("b3", workspace="ws-5"),  # the same key again, in another workspace
        "not a mapping",
    ]
    expired = ["jupyterhub/b3", "jupyterhub/b7", "jupyterhub/b7", "jupyterhub/gone"]
    expired += ["jupyterhub/no-workspace"]
    scopes = [ShardScope(i, 4, placement) for i in range(4)]
    together = input_digests("c", scopes, manifests, expired)
    assert together == [input_digest("c", s, manifests, expired) for s in scopes]
    assert len(set(together)) == 4
    assert input_digests("c", [WHOLE], manifests, expired) == [
        input_digest("c", WHOLE, manifests, expired)
    ]
    assert input_digests("c", [], manifests, expired) == []


def test_a_large_single_stack_is_told_which_shard_count_to_set():
    warning = size_warning("prod", 1000, 1000, WHOLE)

    assert warning is not None
    assert "holds 1000 bindings" in warning
    assert f"shards: {suggested_shards(1000)}" in warning
    assert "Pulumi.prod.yaml" in warning
    assert "shard-move --stack prod" in warning
    assert suggested_shards(1000) == -(-1000 // BINDINGS_PER_SHARD)


def test_stacks_at_the_sizing_rule_get_no_warning():
    assert size_warning("prod", LARGE_STACK, LARGE_STACK, WHOLE) is None
    assert size_warning("prod.shard-1", 40, 4000, ShardScope(1, 100)) is None


def test_an_oversized_shard_is_told_to_grow_the_shard_count():
    warning = size_warning(
        "org/awms/prod.shard-1", LARGE_STACK + 1, 2 * LARGE_STACK, ShardScope(1, 2)
    )

    assert warning is not None
    assert "shard 1 of 2" in warning
    # the environment total alone would suggest fewer shards than it already has
    assert f"shards: {max(3, suggested_shards(2 * LARGE_STACK))}" in warning
    assert "Pulumi.prod.yaml" in warning


def test_the_suggested_shard_count_stays_within_bounds():
    assert suggested_shards(0) == 1
    assert suggested_shards(10**9) == MAX_SHARDS


def test_a_placed_shard_lists_only_its_workspaces_objects_and_the_unlabelled():
    placement = Placement({"ws-a": 0, "ws-b": 1, "team c": 1})
    assert ShardScope(1, 2, placement).listed_workspaces() == frozenset({"ws-b", "team c"})
    assert ShardScope(0, 2, placement).listed_workspaces() == frozenset({"ws-a"})
    # One stack, or shards placed by hash alone, cannot name their workspaces: list them all.
    assert ShardScope().listed_workspaces() is None
    assert ShardScope(1, 2).listed_workspaces() is None

    selectors = object_selectors({"ws-b", "team c"})
    assert selectors == [
        "xlscsde.nhs.uk/purpose=workspace-client,awms-browser-workspaces/workspace in "
        f"({workspace_label_value('team c')},ws-b)",
        "xlscsde.nhs.uk/purpose=workspace-client,!awms-browser-workspaces/workspace",
    ]
    assert object_selectors(None) == ["xlscsde.nhs.uk/purpose=workspace-client"]
    assert object_selectors(set()) == [selectors[-1]]


def test_the_field_owner_takeover_looks_only_at_its_shards_objects(harness: PulumiHarness):
    placement = Placement({"ws-a": 0, "ws-b": 1})
    _declare_shard(harness, ShardScope(1, 2, placement), manifest("b", workspace="ws-b"))
    (takeover,) = harness.of_type("FieldOwnerTakeover")
    assert takeover.inputs["selectors"] == object_selectors({"ws-b"})

    _declare_shard(harness, ShardScope(), manifest("b", workspace="ws-b"))
    takeover = harness.of_type("FieldOwnerTakeover")[-1]
    assert takeover.inputs["selectors"] == object_selectors(None)


def test_a_placed_shard_leaves_out_only_what_other_shards_scan():
    placement = Placement({"ws-a": 0, "ws-b": 1, "team c": 1})
    scope = ShardScope(1, 2, placement)
    assert scope.placed_elsewhere() == frozenset({"ws-a"})
    assert ShardScope(0, 2, placement).placed_elsewhere() == frozenset({"ws-b", "team c"})
    assert ShardScope().placed_elsewhere() == frozenset()
    assert ShardScope(1, 2).placed_elsewhere() == frozenset()
    # Whatever a shard leaves out is a workspace it does not scan; a group no map names stays in.
    candidates = ["ws-a", "ws-b", "team c", "legacy-ws", "other", "x"]
    for index in (0, 1):
        shard = ShardScope(index, 2, placement)
        assert not any(shard.scans(w) for w in shard.placed_elsewhere())
        kept = [w for w in candidates if w not in shard.placed_elsewhere()]
        assert [w for w in candidates if shard.scans(w)] == [w for w in kept if shard.scans(w)]


def test_a_shard_of_many_workspaces_lists_them_in_chunks():
    workspaces = {f"ws-{i:04d}" for i in range(250)}
    selectors = object_selectors(workspaces)
    assert len(selectors) == 4  # 100 + 100 + 50, then the unlabelled
    listed = set()
    for selector in selectors[:-1]:
        values = selector.split(" in (", 1)[1].rstrip(")").split(",")
        assert len(values) <= 100 and len(selector) < 4096
        listed.update(values)
    assert listed == workspaces
