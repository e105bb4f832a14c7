"""Cost of one idle check (the watcher's reaper) as the fleet grows.

    .venv/bin/python -m bench.reaper --quick              # N = 10, 100
    .venv/bin/python -m bench.reaper                      # N = 10, 100, 1000

For each N: N managed connections in a real PostgreSQL with Guacamole's schema (10 per
workspace group, like ``bench.workload``), a month of history per connection (``--history``
closed sessions each, plus one open session on every other connection), and N running bindings
in the watcher's cache (the worst case: every browser is up). One check is timed end to end
(planning the cached bindings, the query, every decision) over ``--repeat`` checks, and its SQL
is counted by PostgreSQL itself (``pg_stat_statements``, see ``bench.sqlstats``).

The baseline is the obvious alternative: one query per browser (the same SQL for a single
connection), so the ratio shows what reading the whole fleet in one statement buys. No
Kubernetes call is made: every browser is inside its start-up grace on the first check, so the
figures are the check's own cost (a stop adds one scale and one Event call per stopped binding).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.sqlstats import SqlStats
from bench.workload import Workload, binding_name, username, workspace_name
from components.guacamole import apply_schema
from components.guacamole.database import Database
from components.settings import IdleSettings
from components.watch.idle import IdlePolicy
from components.watch.reaper import Reaper
from components.watch.session_history import read_sessions
from sandbox.postgres import PostgresServer

DATABASE = "guacamole_reaper_bench"
PASSWORD = "bench-password"  # noqa: S105 - a throw-away local server
SETTINGS = IdleSettings(
    timeout=1800, startup_grace=900, max_session_age=86400, check_interval=60, dry_run=False
)
RESULTS = Path(__file__).resolve().parent / "results"


def populate(dsn: str, size: int, history: int) -> None:
    """N connections in groups of 10, their users, and a month of sessions each (set-based)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE guacamole_connection_history, guacamole_connection,"
            " guacamole_connection_group, guacamole_entity CASCADE"
        )
        workspaces = sorted({workspace_name(i) for i in range(size)})
        conn.execute(
            "INSERT INTO guacamole_connection_group (connection_group_name)"
            " SELECT unnest(%s::text[])",
            (workspaces,),
        )
        pairs = [(workspace_name(i), username(i)) for i in range(size)]
        conn.execute(
            "INSERT INTO guacamole_connection (parent_id, connection_name, protocol)"
            " SELECT g.connection_group_id, w.username, 'vnc'"
            " FROM unnest(%s::text[], %s::text[]) AS w(workspace, username)"
            " JOIN guacamole_connection_group g ON g.connection_group_name = w.workspace",
            ([w for w, _ in pairs], [u for _, u in pairs]),
        )
        conn.execute(
            "INSERT INTO guacamole_entity (name, type) SELECT unnest(%s::text[]), 'USER'",
            ([f"{w}@{u}" for w, u in pairs],),
        )
        conn.execute(
            "INSERT INTO guacamole_user (entity_id, password_hash, password_date)"
            " SELECT entity_id, '\\x00', now() FROM guacamole_entity"
        )
        # ``history`` closed sessions per connection over the last 30 days, one hour each.
        conn.execute(
            "INSERT INTO guacamole_connection_history"
            " (connection_id, connection_name, user_id, username, start_date, end_date)"
            " SELECT c.connection_id, c.connection_name, NULL, g.connection_group_name || '@'"
            "   || c.connection_name, now() - (n * interval '30 days' / %s) - interval '1 hour',"
            "   now() - (n * interval '30 days' / %s)"
            " FROM guacamole_connection c"
            " JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id"
            " CROSS JOIN generate_series(1, %s) AS n",
            (history, history, history),
        )
        conn.execute(
            "INSERT INTO guacamole_connection_history"
            " (connection_id, connection_name, username, start_date, end_date)"
            " SELECT connection_id, connection_name, connection_name, now(), NULL"
            " FROM guacamole_connection WHERE connection_id % 2 = 0"
        )


def measure(
    dsn: str, stats: SqlStats, size: int, repeat: int, *, per_browser: bool
) -> dict[str, Any]:
    """Seconds per check (median) and the SQL statements of one check."""
    workload = Workload(size, "bench")
    snapshot = {f"bench/{binding_name(i)}": workload.manifest(i, replicas=1) for i in range(size)}
    seconds: list[float] = []
    stats.reset()
    database = Database(dsn)
    try:
        for _ in range(repeat):
            reaper = Reaper(
                SETTINGS,
                database,
                api_client=_no_kubernetes,
                snapshot=lambda: snapshot,
                today=lambda: date(2026, 11, 30),
            )
            started = time.perf_counter()
            if per_browser:
                window = IdlePolicy.from_settings(SETTINGS).history_window
                for i in range(size):
                    read_sessions(database, [(workspace_name(i), username(i))], window)
            else:
                report = reaper.cycle()
                assert report.running == size and not report.stopped
            seconds.append(time.perf_counter() - started)
    finally:
        database.close()
    counts = stats.collect()
    return {
        "seconds_median": statistics.median(seconds),
        "seconds_all": seconds,
        "statements_per_check": counts.total / repeat,
        "select_per_check": counts.calls["select"] / repeat,
        "transactions_per_check": counts.commits / repeat,
    }


def _no_kubernetes() -> Any:
    raise AssertionError("the benchmark's checks must not reach Kubernetes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reaper", description=__doc__)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--quick", action="store_true", help="N = 10, 100 only")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--history", type=int, default=30, help="closed sessions per connection")
    args = parser.parse_args(argv)
    sizes = [10, 100] if args.quick else [int(s) for s in args.sizes.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="awms-bench-reaper-"))
    server = PostgresServer(workdir)
    server.start()
    results: list[dict[str, Any]] = []
    try:
        dsn = server.create_database(DATABASE, PASSWORD)
        with psycopg.connect(dsn) as conn:
            apply_schema(conn, "1.5")
        stats = SqlStats(server.admin_dsn, DATABASE)
        stats.prepare()
        print(
            f"{'N':>6} {'rows':>8} {'check s':>9} {'SQL/check':>10} "
            f"{'baseline s':>11} {'SQL/check':>10} {'ratio s':>8}"
        )
        for size in sizes:
            populate(dsn, size, args.history)
            program = measure(dsn, stats, size, args.repeat, per_browser=False)
            baseline = measure(dsn, stats, size, args.repeat, per_browser=True)
            rows = size * (args.history + 1) - size // 2
            ratio = program["seconds_median"] / baseline["seconds_median"]
            results.append(
                {"size": size, "history_rows": rows, "program": program, "baseline": baseline}
            )
            print(
                f"{size:>6} {rows:>8} {program['seconds_median']:>9.4f} "
                f"{program['statements_per_check']:>10.1f} {baseline['seconds_median']:>11.4f} "
                f"{baseline['statements_per_check']:>10.1f} {ratio:>8.2f}"
            )
    finally:
        server.stop()
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"reaper-{stamp}.json"
    out.write_text(json.dumps({"repeat": args.repeat, "results": results}, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
