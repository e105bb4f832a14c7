"""The idle check's one query, on a real PostgreSQL with Guacamole's schema and history rows
written the way Guacamole writes them (insert on open, end_date on close, a never-closed row)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from components.guacamole.database import Cursor, Database
from components.watch.idle import IdlePolicy, Reason, Session, Verdict, decide
from components.watch.session_history import read_sessions
from tests.guacamole.conftest import GuacDb, Providers
from tests.guacamole.helpers import create_binding
from tests.guacamole.sessions import close_session, db_now, open_session

POLICY = IdlePolicy(
    timeout=timedelta(minutes=30),
    startup_grace=timedelta(minutes=10),
    max_session_age=timedelta(hours=24),
)


class CountingDatabase(Database):
    """A ``Database`` that counts the statements its transactions execute."""

    statements = 0

    def run(self, work: Any, *, read_only: bool = False) -> Any:
        outer = self

        class Counting:
            def __init__(self, cursor: Cursor) -> None:
                self._cursor = cursor

            def execute(self, *args: Any, **kwargs: Any) -> Any:
                outer.statements += 1
                return self._cursor.execute(*args, **kwargs)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._cursor, name)

        return super().run(lambda cursor: work(Counting(cursor)), read_only=read_only)


def test_one_statement_reads_every_managed_browser_and_only_its_sessions(
    guac_db: GuacDb, providers: Providers
) -> None:
    users = ["idle@example.org", "busy@example.org", "crashed@example.org", "never@example.org"]
    for user in users:
        create_binding(providers.group, providers.connection, workspace="ws-a", username=user)
    create_binding(
        providers.group,
        providers.connection,
        workspace="ws-b",
        username="idle@example.org",
    )
    with guac_db.connect() as conn:
        now = db_now(conn)
        hour = timedelta(hours=1)
        minute = timedelta(minutes=1)
        # idle: a session that opened and closed 2 hours ago; one from last week (outside window)
        row = open_session(conn, "ws-a", "idle@example.org", now - 3 * hour)
        close_session(conn, row, now - 2 * hour)
        row = open_session(conn, "ws-a", "idle@example.org", now - 24 * 7 * hour)
        close_session(conn, row, now - 24 * 7 * hour + hour)
        # busy: an old closed session and one still open
        row = open_session(conn, "ws-a", "busy@example.org", now - 5 * hour)
        close_session(conn, row, now - 4 * hour)
        open_session(conn, "ws-a", "busy@example.org", now - hour)
        # crashed: rows Guacamole never closed; the older one cannot matter any more (outside
        # the window), the newer one counts as ended 20 minutes ago (start + max age)
        open_session(conn, "ws-a", "crashed@example.org", now - 25 * hour)
        open_session(conn, "ws-a", "crashed@example.org", now - 24 * hour - 20 * minute)
        # The same username in another workspace is another connection.
        open_session(conn, "ws-b", "idle@example.org", now - hour)

    database = CountingDatabase(guac_db.dsn)
    wanted = [("ws-a", user) for user in users] + [("ws-missing", "idle@example.org")]
    records = read_sessions(database, wanted, POLICY.history_window)
    assert database.statements == 1
    assert abs(records.now - now) < timedelta(minutes=5)
    idle, busy, crashed, never, missing = records.sessions
    assert [(s.end is None) for s in idle] == [False]
    assert sorted(s.end is None for s in busy) == [False, True]
    assert [(s.end is None) for s in crashed] == [True]
    assert never == () and missing == ()

    running_since = records.now - 4 * hour
    verdicts = {
        user: decide(POLICY, records.now, running_since, sessions)
        for user, sessions in zip(users, records.sessions[:4], strict=True)
    }
    assert (verdicts["idle@example.org"].verdict, verdicts["idle@example.org"].reason) == (
        Verdict.STOP,
        Reason.IDLE,
    )
    assert verdicts["busy@example.org"].reason is Reason.ACTIVE
    crashed_decision = verdicts["crashed@example.org"]
    assert (crashed_decision.verdict, crashed_decision.reason) == (Verdict.KEEP, Reason.WAITING)
    later = decide(POLICY, records.now + 11 * minute, running_since, records.sessions[2])
    assert (later.verdict, later.reason) == (Verdict.STOP, Reason.STALE)
    assert verdicts["never@example.org"].reason is Reason.NEVER_CONNECTED


def test_a_session_closing_is_seen_on_the_next_read(guac_db: GuacDb, providers: Providers) -> None:
    create_binding(providers.group, providers.connection, workspace="ws", username="u")
    database = Database(guac_db.dsn)
    with guac_db.connect() as conn:
        row = open_session(conn, "ws", "u", db_now(conn) - timedelta(minutes=40))
    (sessions,) = read_sessions(database, [("ws", "u")], POLICY.history_window).sessions
    assert sessions == (Session(sessions[0].start, None),)
    with guac_db.connect() as conn:
        close_session(conn, row, db_now(conn) - timedelta(minutes=31))
    records = read_sessions(database, [("ws", "u")], POLICY.history_window)
    (closed,) = records.sessions[0]
    assert closed.end is not None
    decision = decide(POLICY, records.now, records.now - timedelta(hours=1), [closed])
    assert decision.verdict is Verdict.STOP
