"""The pure parts of the sharded benchmark: shard counts, the edits, the log parser, the table.

No timings are asserted: the figures fed to the table are made up to check its arithmetic.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from bench.cpu import _role
from bench.kubestats import KubeCounts
from bench.measure import StepResult
from bench.report import summarise
from bench.shards import fleet
from bench.shards.__main__ import shard_counts
from bench.shards.environment import parse_log
from bench.shards.fleet import cpu_lines as fleet_cpu_lines
from bench.shards.fleet import shard_edits
from bench.shards.fleet import table as fleet_table
from bench.shards.plan import (
    ADDED,
    PlanError,
    bindings_per_shard,
    default_shards,
    edits,
    workload,
)
from bench.shards.report import per_binding_line, rows, table
from bench.sqlstats import SqlCounts
from components.sharding import suggested_shards


def test_default_shards_follow_the_programs_sizing_rule() -> None:
    assert default_shards(1000) == 50 == suggested_shards(1000)
    assert default_shards(5000) == 250
    assert default_shards(20) == 2  # never a single stack: that is `python -m bench`


def test_shard_counts_take_the_flag_then_quick_then_the_default() -> None:
    assert shard_counts([1000], None, quick=False) == {1000: 50}
    assert shard_counts([60], None, quick=True) == {60: 3}
    assert shard_counts([1000, 5000], 20, quick=False) == {1000: 20, 5000: 20}
    with pytest.raises(PlanError, match="--shards 1"):
        shard_counts([1000], 1, quick=False)
    with pytest.raises(PlanError, match="--shards 9"):
        shard_counts([5], 9, quick=False)


def test_workload_is_20_users_per_workspace_spread_over_the_shards() -> None:
    base = workload(1000, "jupyterhub")
    manifests = base.manifests()
    assert len({m["spec"]["workspace"] for m in manifests}) == 50 == base.workspaces
    spread = bindings_per_shard(manifests, 13)
    assert len(spread) == 13 and sum(spread) == 1000
    # A workspace's bindings stay together, so each shard holds whole workspaces, and the
    # placement map spreads them evenly: 50 workspaces in 13 shards are 3 or 4 each.
    assert all(count % 20 == 0 for count in spread)
    assert sorted(set(spread)) == [60, 80]


def test_edits_add_change_and_remove_one_binding_in_order() -> None:
    base = workload(60, "jupyterhub")
    names = set(base.names)
    add, change, remove = edits(base)
    assert (add.step, change.step, remove.step) == ("add-one", "change-one", "remove-one")

    assert {m["metadata"]["name"] for m in add.proposed} == names | {ADDED}
    assert add.manifest["spec"]["workspace"] == base.manifest(0)["spec"]["workspace"]
    assert add.manifest["spec"]["username"] not in {m["spec"]["username"] for m in base.manifests()}

    changed = {m["metadata"]["name"]: m for m in change.proposed}[change.name]
    assert changed["spec"]["replicas"] == 1 and change.action == "replicas"
    assert sum(1 for m in change.proposed if m["spec"]["replicas"]) == 1
    assert len(change.proposed) == 61

    assert remove.action == "delete"
    assert remove.name not in {m["metadata"]["name"] for m in remove.proposed}
    assert len(remove.proposed) == 60 and ADDED in {m["metadata"]["name"] for m in remove.proposed}
    # The base manifests are not modified by planning the edits.
    assert all(m["spec"]["replicas"] == 0 for m in base.manifests())


def test_edits_need_three_bindings() -> None:
    with pytest.raises(PlanError, match="--sizes 2"):
        edits(workload(2, "jupyterhub"))


def _line(time: str, message: str) -> str:
    return json.dumps({"time": time, "level": "info", "logger": "x", "message": message})


def test_parse_log_reads_touched_shards_and_their_seconds() -> None:
    started = 1_000_000.0  # 1970-01-12T13:46:40Z
    text = "\n".join(
        [
            _line("1970-01-12T13:46:41+00:00", "environment e: 13 shard(s), 2 to update (x)"),
            "engine output that is not JSON",
            _line("1970-01-12T13:46:50+00:00", "e.shard-3: updated in 8.5s"),
            _line("1970-01-12T13:46:52+00:00", "e.shard-7: FAILED in 10.0s"),
        ]
    )
    parsed = parse_log(text, started)
    assert parsed.touched == 2
    assert parsed.shard_seconds == {"e.shard-3": 8.5, "e.shard-7": 10.0}
    assert [round(t) for t, _, _ in parsed.messages] == [1, 10, 12]
    preview = parse_log(_line("1970-01-12T13:46:41+00:00", "e: 3 shard(s), 1 touched by f"), 0)
    assert preview.touched == 1


def _result(side: str, step: str, seconds: float, size: int = 1000) -> StepResult:
    return StepResult(side, step, size, 0, seconds, 1, SqlCounts(), KubeCounts())


def test_rows_add_preview_and_up_and_compare_with_target_baseline_and_single_stack() -> None:
    results = [
        _result("program", "preview", 30.0),
        _result("program", "preview-all", 90.0),
        _result("program", "change-one:preview", 6.0),
        _result("program", "change-one:up", 12.0),
        _result("program", "destroy", 100.0),
        _result("baseline", "preview", 0.5),
        _result("baseline", "change-one:preview", 0.5),
        _result("baseline", "change-one:up", 1.5),
    ]
    by_step = {row.step: row for row in rows(summarise(results)[1000], 1000)}
    change = by_step["change-one"]
    assert change.total == 18.0 and change.target == 15.0 and change.met is False
    assert change.baseline == 2.0 and change.single == 107.5
    assert by_step["preview"].met is True and by_step["preview"].baseline == 0.5
    assert by_step["preview-all"].baseline == 0.5 and by_step["preview-all"].target is None
    assert by_step["destroy"].up == 100.0 and by_step["destroy"].preview is None
    assert "up" not in by_step  # not measured, not shown

    state = {
        "shards": 13,
        "bytes": 12_000_000,
        "resources": 9100,
        "largest_stack": "e.shard-11",
        "largest_bytes": 2_500_000,
        "stacks": {f"e.shard-{i}": {} for i in range(13)},
        "bindings_per_shard": [80, 140, 20],
    }
    text = table(summarise(results), {1000: state})
    assert "9.00x" in text  # 18 s against the baseline's 2 s
    assert "0.17x" in text  # 18 s against the single stack's 107.5 s
    assert "12.0 kB/binding (target <= 15: yes" in text
    assert "largest stack 2.50 MB (e.shard-11) (target <= 2 MB: NO)" in text
    assert "max 140" in text
    assert "compressed" not in text
    compressed = table(summarise(results), {1000: {**state, "file_bytes": 1_500_000}})
    assert "12.0 kB/binding (target <= 15: yes" in compressed
    assert "on disk (compressed): 1.50 MB, 1.5 kB/binding" in compressed


def test_per_binding_line_lists_the_types_declared_once_per_binding_largest_first() -> None:
    by_type = {
        "kubernetes:apps/v1:Deployment": {"resources": 1000, "bytes": 9_700_000},
        "kubernetes:core/v1:Secret": {"resources": 1000, "bytes": 4_200_000},
        "pulumi-python:dynamic/guacamole:Connection": {"resources": 1000, "bytes": 3_100_000},
        "pulumi-python:dynamic/guacamole:ConnectionGroup": {"resources": 50, "bytes": 80_000},
        "kubernetes:core/v1:ConfigMap": {"resources": 1, "bytes": 10_000},
    }
    line = per_binding_line(by_type, 1000)
    assert line.endswith(
        "Deployment 9.7, Secret 4.2, Connection 3.1; Kubernetes objects together 13.9"
    )
    assert "ConnectionGroup" not in line and "ConfigMap" not in line
    assert per_binding_line(by_type, 0) == "" and per_binding_line({}, 1000) == ""


def test_targets_and_single_stack_figures_only_at_1000() -> None:
    summary = summarise([_result("program", "preview", 3.0, size=60)])
    (row,) = rows(summary[60], 60)
    assert row.target is None and row.single is None and row.met is None
    assert "for N = 1,000" in table(summary, {})


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        ("/x/python -m components.watch up --stack e --project-dir /p/pulumi ", "pipeline runner"),
        ("/t/pulumi-3.259.0_x/kube-apiserver --etcd-servers=http://127.0.0.1:1", "sandbox kube"),
        ("/t/pulumi-3.259.0_x/etcd --data-dir /s", "sandbox etcd"),
        ("/usr/lib/postgresql/16/bin/postgres -D /s/pg", "sandbox postgres"),
        ("pulumi up --yes --stack e.shard-1", "engine"),
    ],
)
def test_cpu_roles_tell_the_pipeline_runner_and_the_sandbox_apart(cmdline: str, role: str) -> None:
    assert _role(cmdline).startswith(role)


def test_fleet_edits_all_touch_workspace_zero() -> None:
    base = workload(100, "jupyterhub")
    found = shard_edits(base)
    assert [e.step for e in found] == ["add-one", "change-one", "remove-one"]
    workspace = base.manifest(0)["spec"]["workspace"]
    assert all(e.manifest["spec"]["workspace"] == workspace for e in found)
    removed = found[2].manifest["metadata"]["name"]
    names = [m["metadata"]["name"] for m in found[2].proposed]
    assert removed not in names and ADDED in names and len(names) == 100
    assert (
        next(m for m in found[2].proposed if m["metadata"]["name"] == found[1].name)["spec"][
            "replicas"
        ]
        == 1
    )


def test_fleet_table_sums_preview_and_up_and_compares_with_the_first_size() -> None:
    results = [
        _result("program", "add-one:preview", 5.0, size=1000),
        _result("program", "add-one:up", 5.0, size=1000),
        _result("program", "add-one:preview", 6.0, size=5000),
        _result("program", "add-one:up", 9.0, size=5000),
        _result("baseline", "add-one:preview", 1.0, size=1000),
        _result("baseline", "add-one:up", 1.0, size=1000),
        _result("baseline", "add-one:preview", 5.0, size=5000),
        _result("baseline", "add-one:up", 5.0, size=5000),
    ]
    lines = {line[:28].strip(): line[28:] for line in fleet_table(summarise(results)).splitlines()}
    assert lines["add-one, preview + up"].split() == ["10.0", "s", "x1.00", "15.0", "s", "x1.50"]
    assert lines["baseline add-one"].split() == ["2.0", "s", "x1.00", "10.0", "s", "x5.00"]
    assert lines["change-one, preview + up"].split() == ["-", "-"]


def test_fleet_cpu_lines_split_the_programs_processes_from_the_sandboxs() -> None:
    def edit(step: str, size: int, cpu: dict[str, float]) -> StepResult:
        result = _result("program", step, 1.0, size=size)
        result.extra["cpu_seconds"] = cpu
        return result

    results = [
        edit("add-one:up", 1000, {"engine (pulumi CLI)": 2.0, "sandbox kube-apiserver": 1.0}),
        edit("add-one:preview", 1000, {"program (python)": 1.5, "sandbox etcd": 0.5}),
        edit("add-one:up", 5000, {"engine (pulumi CLI)": 2.5, "sandbox kube-apiserver": 4.0}),
        edit("preview", 5000, {"engine (pulumi CLI)": 99.0}),  # not an edit: left out
    ]
    program, sandbox = fleet_cpu_lines(results).splitlines()[1:]
    assert program.split()[-2:] == ["3.5", "2.5"]
    assert sandbox.split()[-2:] == ["1.5", "4.0"]


class _Deployments:
    """A Deployment list whose unsynced count follows a script, one entry per list call."""

    def __init__(self, behind: list[int]) -> None:
        self.behind = behind
        self.calls = 0

    def list_namespaced_deployment(self, _namespace: str) -> Any:
        count = self.behind[min(self.calls, len(self.behind) - 1)]
        self.calls += 1
        synced = SimpleNamespace(
            metadata=SimpleNamespace(generation=1), status=SimpleNamespace(observed_generation=1)
        )
        stale = SimpleNamespace(metadata=SimpleNamespace(generation=1), status=None)
        return SimpleNamespace(items=[stale] * count + [synced])


def _fake_clock(monkeypatch: pytest.MonkeyPatch, deployments: _Deployments) -> list[float]:
    now = [0.0]
    monkeypatch.setattr("bench.shards.fleet.client.AppsV1Api", lambda _api: deployments)
    monkeypatch.setattr("bench.shards.fleet.time.monotonic", lambda: now[0])
    monkeypatch.setattr(
        "bench.shards.fleet.time.sleep", lambda seconds: now.__setitem__(0, now[0] + seconds)
    )
    return now


def test_the_controller_wait_lasts_while_the_backlog_shrinks(monkeypatch: pytest.MonkeyPatch):
    # 2,000 s of steady progress: longer than any fixed limit of half an hour.
    deployments = _Deployments([1000 - i for i in range(1001)])
    now = _fake_clock(monkeypatch, deployments)
    fleet.wait_until_observed(object(), stall=10.0)
    assert deployments.calls == 1001 and now[0] == 2000.0


def test_the_controller_wait_fails_when_the_backlog_stops_shrinking(
    monkeypatch: pytest.MonkeyPatch,
):
    deployments = _Deployments([5, 4, 4])
    _fake_clock(monkeypatch, deployments)
    with pytest.raises(RuntimeError, match=r"4 Deployments still unsynced, none synced for 10\.0s"):
        fleet.wait_until_observed(object(), stall=10.0)
