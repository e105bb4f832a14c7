"""The fleet-reads benchmark's workload and report (no database)."""

from __future__ import annotations

import re

from bench.fleet_reads import digests_before, digests_now, manifests, placed_scopes, report


def test_the_workload_places_every_workspace_and_both_digest_paths_agree() -> None:
    listed = manifests(250)
    scopes = placed_scopes(250)
    assert len(scopes) == 13 and len({s.placement is scopes[0].placement for s in scopes}) == 1
    workspaces = {m["spec"]["workspace"] for m in listed}
    assert len(workspaces) == 13
    placement = scopes[0].placement
    assert placement is not None and all(placement.shard_of(w) is not None for w in workspaces)
    assert digests_before(scopes, listed) == digests_now(scopes, listed)
    assert len(set(digests_now(scopes, listed))) == 13


def test_the_report_shows_growth_against_the_first_size_and_before_against_now() -> None:
    def figures(scale: float) -> dict[str, float]:
        return {
            "shards": 40 * scale,
            "digests before": 0.010 * scale * scale,
            "digests now": 0.001 * scale,
            "connections before": 0.020 * scale,
            "connections now": 0.002,
            "rows now": 25,
        }

    lines = report({10000: figures(10), 1000: figures(1)})
    assert lines[0].index("N = 1,000") < lines[0].index("N = 10,000")
    by_name = {line[:24].strip(): line[24:] for line in lines[1:]}

    def cells(name: str) -> list[tuple[float, float]]:
        found = re.findall(r"([\d.]+) ms \(\s*([\d.]+)x N0\)", by_name[name])
        return [(float(ms), float(ratio)) for ms, ratio in found]

    assert cells("digests before") == [(10.0, 1.0), (1000.0, 100.0)]
    assert cells("digests now") == [(1.0, 1.0), (10.0, 10.0)]
    assert cells("connections now") == [(2.0, 1.0), (2.0, 1.0)]
    assert by_name["digests before/now"].split() == ["10.0x", "100.0x"]
    assert by_name["connections before/now"].split() == ["10.0x", "100.0x"]
    assert by_name["shards / rows read now"].split() == ["40", "/", "25", "400", "/", "25"]
