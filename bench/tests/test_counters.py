"""The pure parts of the benchmark: statement classification, metrics parsing, reporting.

Run with ``.venv/bin/python -m pytest bench/tests``. No timings are asserted anywhere: the
benchmark reports figures, it does not judge them.
"""

from __future__ import annotations

from datetime import date

import pytest

from bench.kubestats import KubeCounts, difference, parse_requests
from bench.measure import StepResult
from bench.raw_objects import camel, deployment, network_policy, service, to_api
from bench.report import summarise, table
from bench.sqlstats import SqlCounts, main_verb
from bench.workload import Workload
from components.bindings import parse_binding
from components.planning import WorkspacePlan, plan_workspaces
from components.settings import Settings, settings_from_values


@pytest.mark.parametrize(
    ("query", "verb"),
    [
        ("SELECT 1", "select"),
        ("  insert into t values ($1)", "insert"),
        ("SELECT x FROM t WHERE id = $1 FOR UPDATE", "select"),
        ("UPDATE t SET a = $1 WHERE a IS DISTINCT FROM $1", "update"),
        ("WITH a AS (INSERT INTO x VALUES ('(')) INSERT INTO y VALUES ($1)", "insert"),
        ("WITH a AS (SELECT 1), b AS (SELECT (2)) DELETE FROM t", "delete"),
        ("BEGIN", "other"),
        ("COMMIT", "other"),
        ("SET application_name = $1", "other"),
    ],
)
def test_main_verb(query: str, verb: str) -> None:
    assert main_verb(query) == verb


METRICS_BEFORE = """
# HELP apiserver_request_total [STABLE] Counter of apiserver requests
apiserver_request_total{code="201",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="POST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="status",verb="PUT",version="v1"} 7
"""  # noqa: E501
METRICS_AFTER = """
apiserver_request_total{code="201",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="POST",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="status",verb="PUT",version="v1"} 9
apiserver_request_total{code="200",component="apiserver",dry_run="All",group="",resource="secrets",scope="resource",subresource="",verb="APPLY",version="v1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="services",scope="namespace",subresource="",verb="LIST",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="replicasets",scope="resource",subresource="",verb="POST",version="v1"} 2
"""  # noqa: E501


def test_difference_counts_only_watched_resources() -> None:
    counts = difference(parse_requests(METRICS_BEFORE), parse_requests(METRICS_AFTER))
    # deployments/status and replicasets are the controller-manager's, not the program's.
    assert counts.writes == 2
    assert counts.dry_run_writes == 4
    assert counts.reads == 1
    assert counts.by_request["POST deployments"] == 2


def test_camel_case_keys() -> None:
    assert camel("match_labels") == "matchLabels"
    assert camel("from_") == "from"
    assert camel("cluster_ip") == "clusterIP"
    assert to_api({"labels": {"a_b": "c"}, "string_data": {"x_y": "1"}}) == {
        "labels": {"a_b": "c"},
        "stringData": {"x_y": "1"},
    }


def _plan() -> tuple[WorkspacePlan, Settings]:
    workload = Workload(1, "jupyterhub")
    plan = plan_workspaces((parse_binding(m) for m in workload.manifests()), date(2030, 1, 1))
    return plan.workspaces[0], settings_from_values({"namespace": "guacamole"})


def test_raw_objects_use_api_field_names() -> None:
    plan, settings = _plan()
    body = deployment(plan, settings)
    assert body["spec"]["selector"] == {
        "matchLabels": {"xlscsde.nhs.uk/deployment-name": plan.deployment_name}
    }
    container = body["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    svc = service(plan, settings)
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"] == {"xlscsde.nhs.uk/deployment-name": plan.deployment_name}
    policy = network_policy(plan.workspace, settings)
    assert "from" in policy["spec"]["ingress"][0]


def test_workload_spreads_bindings_over_workspaces() -> None:
    workload = Workload(25, "jupyterhub")
    assert workload.workspaces == 3
    assert len({m["spec"]["workspace"] for m in workload.manifests()}) == 3


def _result(side: str, seconds: float, repetition: int) -> StepResult:
    sql = SqlCounts()
    sql.calls["insert"] = 7
    return StepResult(side, "up", 10, repetition, seconds, 9, sql, KubeCounts(writes=5))


def test_table_reports_medians_and_ratio() -> None:
    results = [
        _result("program", 10.0, 0),
        _result("program", 30.0, 1),
        _result("program", 20.0, 2),
        _result("baseline", 2.0, 0),
    ]
    summary = summarise(results)
    assert summary[10]["up"]["program"].seconds == 20.0
    text = table(summary, {10: {"bytes": 100_000, "resources": 95}})
    assert "10.0x" in text
    assert "10.0 kB/binding" in text
