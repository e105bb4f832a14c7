"""Read Guacamole's session records for the browsers the stack manages: one SQL statement per check.

A managed connection is the one this program declares for a (workspace, username): connection
``username`` inside the ROOT-level group named ``workspace`` (legacy duplicate groups included).
Its sessions are the ``guacamole_connection_history`` rows with its ``connection_id`` that
started within the policy's history window; older rows cannot change a decision (see
:attr:`components.watch.idle.IdlePolicy.history_window`), and the window keeps the scan on the
``(connection_id, start_date)`` index however long the history grows.

The statement also returns the database's ``now()``, the clock every decision uses, in its first
column of every row (one row with NULLs when there is no session at all), so a check costs
exactly one statement whatever the number of browsers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from components.guacamole.database import Cursor, Database
from components.watch.idle import Session

SESSIONS_SQL = """
SELECT clock.now, found.ord, found.start_date, found.end_date
FROM (SELECT now() AS now) AS clock
LEFT JOIN LATERAL (
    SELECT wanted.ord, history.start_date, history.end_date
    FROM unnest(%(workspaces)s::text[], %(usernames)s::text[])
        WITH ORDINALITY AS wanted(workspace, username, ord)
    JOIN guacamole_connection_group AS grp
        ON grp.parent_id IS NULL AND grp.connection_group_name = wanted.workspace
    JOIN guacamole_connection AS conn
        ON conn.parent_id = grp.connection_group_id AND conn.connection_name = wanted.username
    JOIN guacamole_connection_history AS history
        ON history.connection_id = conn.connection_id
    WHERE history.start_date >= clock.now - %(window)s
) AS found ON true
"""


@dataclass(frozen=True)
class SessionRecords:
    """The database's clock and the sessions of each asked (workspace, username), by position."""

    now: datetime
    sessions: tuple[tuple[Session, ...], ...]


def read_sessions(
    database: Database, wanted: Sequence[tuple[str, str]], window: timedelta
) -> SessionRecords:
    """Sessions of each ``(workspace, username)`` in ``wanted`` (read-only, one statement)."""

    def work(cursor: Cursor) -> SessionRecords:
        cursor.execute(
            SESSIONS_SQL,
            {
                "workspaces": [workspace for workspace, _ in wanted],
                "usernames": [username for _, username in wanted],
                "window": window,
            },
        )
        found: list[list[Session]] = [[] for _ in wanted]
        now: datetime | None = None
        for clock, ordinal, start, end in cursor.fetchall():
            now = clock
            if ordinal is not None:
                found[int(ordinal) - 1].append(Session(start, end))
        assert now is not None  # the clock row always exists
        return SessionRecords(now, tuple(tuple(rows) for rows in found))

    return database.run(work, read_only=True)
