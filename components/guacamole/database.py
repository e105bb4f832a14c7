"""Connections and transactions for the providers: the only I/O edge of the SQL layer.

Why a small pool: the dynamic provider host runs up to 4 operations at once and a 1,000-binding
stack performs ~3,000 of them; opening a TLS connection per operation would dominate. Idle
connections are kept (at most ``max_idle``), health-checked by psycopg's ``closed``/``broken``
flags, and discarded after any error.

Why ``run()`` takes a function: each provider operation is exactly ONE transaction, and a
transaction that fails for a transient reason (deadlock, serialization failure, a pooled
connection the server dropped) is simply run again. This is safe because every write in this
package converges rows to a desired state (it is idempotent).

Error messages never contain the DSN's password (see ``settings.redact``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from .errors import DatabaseUnavailableError
from .settings import PROJECT_NAME, describe_dsn, redact

T = TypeVar("T")
Cursor = psycopg.Cursor[Any]

_TRANSIENT: tuple[type[Exception], ...] = (
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)


_SHARED: dict[str, Database] = {}
_SHARED_LOCK = threading.Lock()


def shared_database(dsn: str) -> Database:
    """The process-wide ``Database`` for ``dsn``.

    The three providers run in one provider-host process; sharing one pool keeps the number of
    server connections at the host's concurrency (4) instead of 4 per resource type. The
    registry is module state, so it never ends up in a pickled provider.
    """
    with _SHARED_LOCK:
        database = _SHARED.get(dsn)
        if database is None:
            database = Database(dsn)
            _SHARED[dsn] = database
        return database


class Database:
    """A DSN plus a few idle connections; safe to share between threads."""

    def __init__(
        self,
        dsn: str,
        *,
        max_idle: int = 4,
        connect_timeout: int = 15,
        attempts: int = 3,
    ) -> None:
        self._dsn = dsn
        self._max_idle = max_idle
        self._connect_timeout = connect_timeout
        self._attempts = max(1, attempts)
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Database({describe_dsn(self._dsn)})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("Database objects hold credentials and must not be pickled")

    @property
    def description(self) -> str:
        """Where this database is, without the password."""
        return describe_dsn(self._dsn)

    def run(self, work: Callable[[Cursor], T], *, read_only: bool = False) -> T:
        """Run ``work(cursor)`` inside one transaction and return its result.

        Transient failures (deadlock, serialization failure, lost connection) are retried with a
        fresh transaction; any other exception propagates after a rollback.
        """
        last: Exception | None = None
        for attempt in range(self._attempts):
            conn = self._checkout()
            try:
                conn.read_only = read_only
                with conn.transaction(), conn.cursor() as cur:
                    result = work(cur)
            except _TRANSIENT as exc:
                last = exc
            except psycopg.OperationalError as exc:
                if not conn.broken:
                    self._discard(conn)
                    raise
                last = exc
            except BaseException:
                self._checkin(conn)  # rolled back already; closed unless it is still healthy
                raise
            else:
                self._checkin(conn)
                return result
            self._discard(conn)
            time.sleep(0.05 * (attempt + 1))
        assert last is not None
        raise DatabaseUnavailableError(
            f"giving up after {self._attempts} attempts on the Guacamole database "
            f"({self.description}): {redact(str(last), self._dsn)}"
        ) from None

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- pool internals ---------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                application_name=PROJECT_NAME,
            )
        except psycopg.Error as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to the Guacamole database ({self.description}): "
                f"{redact(str(exc), self._dsn)}"
            ) from None

    def _checkout(self) -> psycopg.Connection[Any]:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect()
            if not conn.closed and not conn.broken:
                return conn
            conn.close()

    def _checkin(self, conn: psycopg.Connection[Any]) -> None:
        healthy = (
            not conn.closed
            and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE
        )
        with self._lock:
            if healthy and len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def _discard(self, conn: psycopg.Connection[Any]) -> None:
        with contextlib.suppress(psycopg.Error):
            conn.close()
