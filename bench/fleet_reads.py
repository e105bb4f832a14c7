"""``python -m bench.fleet_reads``: what one shard's run reads of the rest of the fleet.

    .venv/bin/python -m bench.fleet_reads                      # N = 1,000 and 10,000
    .venv/bin/python -m bench.fleet_reads --sizes 1000,5000,10000 --samples 7

Two costs of every run that the fleet, not the change, decides, each beside the way it was
computed before (the "before" column is that code path, kept in this file as the reference):

* **digests**: the runner computes every shard's input digest to find the touched ones (the
  suggested shard count, so shards grow with N). Before: one pass over all N bindings per
  shard (N x shards); now: one pass in all (:func:`components.shard_digest.input_digests`).
* **connections**: the leftover scan of one shard reads Guacamole connections. Before: every
  connection of every root group; now: all but the groups placed on other shards
  (:func:`components.takeover.inventory.read_connections`). Rows are written as the legacy
  operator writes them, one workspace group per 20 users, on a private PostgreSQL.

Each figure is the median of ``--samples`` runs, printed with its ratio to the first N (1.0
is flat) and the before/now ratio. Nothing else should be running.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from components.guacamole import apply_schema
from components.placement import Placement
from components.shard_digest import input_digest, input_digests
from components.sharding import ShardScope, suggested_shards
from components.takeover.inventory import read_connections
from sandbox.postgres import PostgresServer

USERS_PER_WORKSPACE = 20
DEFAULT_SIZES = (1000, 10000)


def manifests(size: int) -> list[dict[str, Any]]:
    """``size`` bindings, 20 users per workspace (as ``bench.shards``)."""
    return [
        {
            "apiVersion": "xlscsde.nhs.uk/v1",
            "kind": "AnalyticsWorkspaceBinding",
            "metadata": {"name": f"b-{i}", "namespace": "bindings"},
            "spec": {
                "workspace": f"ws-{i // USERS_PER_WORKSPACE}",
                "username": f"user-{i}@example.org",
                "expires": "2099-12-31",
            },
        }
        for i in range(size)
    ]


def placed_scopes(size: int) -> list[ShardScope]:
    """Every shard of an environment of ``size`` bindings, workspaces placed round-robin."""
    count = max(2, suggested_shards(size))
    workspaces = -(-size // USERS_PER_WORKSPACE)
    placement = Placement({f"ws-{w}": w % count for w in range(workspaces)})
    return [ShardScope(i, count, placement) for i in range(count)]


def digests_before(scopes: Sequence[ShardScope], listed: list[Any]) -> list[str]:
    """The reference: one pass over every binding per shard."""
    return [input_digest("context", scope, listed, []) for scope in scopes]


def digests_now(scopes: Sequence[ShardScope], listed: list[Any]) -> list[str]:
    return input_digests("context", scopes, listed, [])


def write_connections(dsn: str, size: int) -> None:
    """``size`` connections in the legacy operator's shape, one group per 20 users."""
    workspaces = -(-size // USERS_PER_WORKSPACE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO guacamole_connection_group (connection_group_name, type)"
            " SELECT 'ws-' || w, 'ORGANIZATIONAL' FROM generate_series(0, %s) AS w",
            (workspaces - 1,),
        )
        conn.execute(
            "INSERT INTO guacamole_connection (connection_name, parent_id, protocol)"
            " SELECT 'user-' || i || '@example.org', g.connection_group_id, 'vnc'"
            " FROM generate_series(0, %s) AS i"
            " JOIN guacamole_connection_group AS g ON g.connection_group_name = 'ws-' || i / %s",
            (size - 1, USERS_PER_WORKSPACE),
        )
        conn.execute(
            "INSERT INTO guacamole_connection_parameter"
            " (connection_id, parameter_name, parameter_value)"
            " SELECT c.connection_id, p.name, CASE p.name"
            "   WHEN 'hostname' THEN 'client-' || md5(c.connection_name) || '.guacamole.svc.'"
            "   WHEN 'password' THEN '1234' ELSE p.value END"
            " FROM guacamole_connection AS c CROSS JOIN (VALUES ('hostname', ''),"
            "   ('port', '5900'), ('password', ''), ('disable-copy', 'true'),"
            "   ('disable-paste', 'true')) AS p (name, value)"
        )
        conn.execute("ANALYZE")


def median_seconds(work: Callable[[], object], samples: int) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(size: int, server: PostgresServer, samples: int) -> dict[str, float]:
    listed = manifests(size)
    scopes = placed_scopes(size)
    if digests_before(scopes, listed) != digests_now(scopes, listed):
        raise SystemExit(f"N = {size}: the one-pass digests differ from the reference")
    dsn = server.create_database(f"fleet_{size}", "bench-password")
    with psycopg.connect(dsn) as conn:
        apply_schema(conn, "1.5")
    write_connections(dsn, size)
    elsewhere = scopes[0].placed_elsewhere()
    every = list(read_connections(dsn))
    mine = list(read_connections(dsn, elsewhere))
    if {c.group for c in every} - elsewhere != {c.group for c in mine} or len(every) != size:
        raise SystemExit(f"N = {size}: the scoped read misses connections of its own groups")
    return {
        "shards": float(len(scopes)),
        "digests before": median_seconds(lambda: digests_before(scopes, listed), samples),
        "digests now": median_seconds(lambda: digests_now(scopes, listed), samples),
        "connections before": median_seconds(lambda: list(read_connections(dsn)), samples),
        "connections now": median_seconds(lambda: list(read_connections(dsn, elsewhere)), samples),
        "rows now": float(len(mine)),
    }


def report(results: dict[int, dict[str, float]]) -> list[str]:
    """One line per measure and N: seconds, ratio to the first N, and before / now."""
    sizes = sorted(results)
    first = results[sizes[0]]
    lines = [f"{'':24}" + "".join(f"{f'N = {n:,}':>26}" for n in sizes)]
    for measure_name in ("digests", "connections"):
        for when in ("before", "now"):
            key = f"{measure_name} {when}"
            cells = []
            for n in sizes:
                value = results[n][key]
                cells.append(f"{value * 1e3:9.1f} ms ({value / first[key]:5.1f}x N0)")
            lines.append(f"{key:24}" + "".join(f"{cell:>26}" for cell in cells))
        ratios = "".join(
            f"{results[n][f'{measure_name} before'] / results[n][f'{measure_name} now']:>25.1f}x"
            for n in sizes
        )
        lines.append(f"{f'{measure_name} before/now':24}{ratios}")
    read = [f"{results[n]['shards']:.0f} / {results[n]['rows now']:.0f}" for n in sizes]
    lines.append(f"{'shards / rows read now':24}" + "".join(f"{cell:>26}" for cell in read))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_reads", description=__doc__)
    parser.add_argument(
        "--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), help="comma-separated N"
    )
    parser.add_argument("--samples", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="awms-fleet-reads-"))
    server = PostgresServer(workdir).start()
    try:
        results = {size: measure(size, server, args.samples) for size in sizes}
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"one shard's reads of the fleet, median of {args.samples}")
    print("\n".join(report(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
