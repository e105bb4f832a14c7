"""SQL issued against the Guacamole database, from PostgreSQL's own statistics.

Why the server's view: the dynamic providers run in a separate process the engine starts, so
nothing client-side can count their statements; ``pg_stat_statements`` (preloaded by the sandbox
server) and ``pg_stat_database`` see every statement and commit, whoever sent it.

Per step: ``reset()`` empties ``pg_stat_statements`` and records ``xact_commit``; ``collect()``
waits until no session is left on the database (a backend flushes its database counters when it
goes idle or exits, not at commit), then reads both. Statements are classified by their main
verb, so ``WITH x AS (INSERT ...) INSERT ...`` is one INSERT and ``SELECT ... FOR UPDATE`` is a
SELECT; ``rows`` is what the writes actually changed (an ``UPDATE ... WHERE IS DISTINCT FROM``
that matched nothing still counts as one issued UPDATE with 0 rows). The sandbox tracks nested
statements too, so the foreign-key checks and cascades PostgreSQL runs inside a statement are
counted apart (``nested``): they follow from the rows, not from the client.

Autovacuum is switched off for the benchmark server and the database is vacuumed and analysed
between steps instead (outside the measured window): otherwise an autovacuum worker's
transactions land in ``xact_commit`` at random. ``xact_commit`` also counts the one transaction a
new backend runs at connection start-up, so opening connections shows up there.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

VERBS = ("select", "insert", "update", "delete")
WRITES = ("insert", "update", "delete")
_WORD = re.compile(r"[A-Za-z_]+")


def main_verb(query: str) -> str:
    """The statement's top-level verb in lower case (``other`` for BEGIN/COMMIT/SET/...)."""
    text = query.strip()
    match = _WORD.match(text)
    if match is None:
        return "other"
    word = match.group(0).lower()
    if word != "with":
        return word if word in VERBS else "other"
    return _verb_after_ctes(text)


def _verb_after_ctes(text: str) -> str:
    """Skip every parenthesised CTE body at depth 0 and return the word that follows."""
    depth = 0
    position = 0
    while position < len(text):
        char = text[position]
        if char == "'":
            position = text.find("'", position + 1)
            if position < 0:
                break
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                rest = text[position + 1 :].lstrip()
                if not rest.startswith(","):
                    match = _WORD.match(rest)
                    word = match.group(0).lower() if match else ""
                    if word in VERBS:
                        return word
        position += 1
    return "other"


@dataclass(frozen=True)
class Statement:
    """One normalised statement as pg_stat_statements reports it."""

    verb: str
    calls: int
    rows: int
    query: str


@dataclass
class SqlCounts:
    """SQL of one step: calls per verb, rows written, commits, and the write statements."""

    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERBS, 0))
    other: int = 0
    nested: int = 0
    rows_written: int = 0
    commits: int = 0
    rollbacks: int = 0
    writes: list[Statement] = field(default_factory=list)

    @property
    def write_calls(self) -> int:
        return sum(self.calls[verb] for verb in WRITES)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def as_json(self) -> dict[str, Any]:
        return {
            **self.calls,
            "other": self.other,
            "nested": self.nested,
            "statements": self.total,
            "write_statements": self.write_calls,
            "rows_written": self.rows_written,
            "xact_commit": self.commits,
            "xact_rollback": self.rollbacks,
            "writes": [
                {"verb": s.verb, "calls": s.calls, "rows": s.rows, "query": s.query}
                for s in self.writes
            ],
        }


class SqlStats:
    """Reads and resets the statistics of one database through a superuser connection."""

    def __init__(self, admin_dsn: str, database: str, *, settle_timeout: float = 30.0) -> None:
        self._admin_dsn = admin_dsn
        self._database = database
        self._settle_timeout = settle_timeout
        self._commits = 0
        self._rollbacks = 0

    def prepare(self) -> None:
        """Once per server: no autovacuum, so only clients move the counters."""
        with psycopg.connect(self._admin_dsn, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET autovacuum = off")
            conn.execute("SELECT pg_reload_conf()")

    def reset(self) -> None:
        """Start a step: vacuum, empty pg_stat_statements and remember the commit counters."""
        self._settle()
        database_dsn = make_conninfo(self._admin_dsn, dbname=self._database)
        with psycopg.connect(database_dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        self._settle()
        with psycopg.connect(self._admin_dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
            self._commits, self._rollbacks = self._xacts(conn)

    def collect(self) -> SqlCounts:
        """End a step: what the database executed since ``reset()``."""
        self._settle()
        counts = SqlCounts()
        with psycopg.connect(self._admin_dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT s.query, s.calls, s.rows, s.toplevel FROM pg_stat_statements AS s"
                " JOIN pg_database AS d ON d.oid = s.dbid WHERE d.datname = %s",
                (self._database,),
            ).fetchall()
            commits, rollbacks = self._xacts(conn)
        for query, calls, affected, toplevel in rows:
            if not toplevel:
                counts.nested += int(calls)
                continue
            verb = main_verb(query)
            if verb == "other":
                counts.other += int(calls)
                continue
            counts.calls[verb] += int(calls)
            if verb in WRITES:
                counts.rows_written += int(affected)
                counts.writes.append(Statement(verb, int(calls), int(affected), query))
        counts.writes.sort(key=lambda s: (-s.calls, s.query))
        counts.commits = commits - self._commits
        counts.rollbacks = rollbacks - self._rollbacks
        return counts

    def _xacts(self, conn: psycopg.Connection[Any]) -> tuple[int, int]:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s",
            (self._database,),
        ).fetchone()
        assert row is not None, f"database {self._database} not found"
        return int(row[0]), int(row[1])

    def _settle(self) -> None:
        """Wait until no client is connected to the database, so its counters are flushed."""
        deadline = time.monotonic() + self._settle_timeout
        with psycopg.connect(self._admin_dsn, autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self._database,),
                ).fetchone()
                if row is None or row[0] == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        # Exited backends flush on exit; give the stats collector a moment to apply it.
        time.sleep(0.2)
