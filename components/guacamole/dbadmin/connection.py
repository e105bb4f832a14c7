"""The administrator's connections: one transaction per operation, or one autocommit statement.

Why not the pooled ``Database`` of the Guacamole providers: the bootstrap performs a handful of
operations per ``pulumi up`` and needs two kinds of session the pool does not offer: one to an
arbitrary database of the cluster (the maintenance database for roles and databases, the
Guacamole database for the schema and the grants), and a bare autocommit statement for
``CREATE/DROP DATABASE``, which PostgreSQL refuses to run inside a transaction. A fresh connection
per operation is cheap at that rate and never leaks a ``SET ROLE`` from one operation into the
next.

Every message goes through ``redact``: the administrator's password never reaches an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ..settings import PROJECT_NAME, describe_dsn, redact
from .errors import AdminConnectionError, AdminPrivilegeError, BlockedError, BootstrapError
from .settings import dsn_for_database

T = TypeVar("T")
Cursor = psycopg.Cursor[Any]

CONNECT_TIMEOUT_SECONDS = 15


class AdminSession:
    """The administrator DSN and the operations run through it; safe to share between threads."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def __repr__(self) -> str:
        return f"AdminSession({describe_dsn(self._dsn)})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("AdminSession objects hold credentials and must not be pickled")

    @property
    def description(self) -> str:
        """Where the administrator connects, without the password."""
        return describe_dsn(self._dsn)

    def run(
        self,
        work: Callable[[Cursor], T],
        *,
        database: str | None = None,
        read_only: bool = False,
        what: str,
    ) -> T:
        """Run ``work(cursor)`` in ONE transaction on ``database`` (default: the DSN's own).

        ``what`` describes the operation for error messages ("create role 'x'").
        """
        with self._connect(database) as conn:
            conn.read_only = read_only
            try:
                with conn.transaction(), conn.cursor() as cur:
                    return work(cur)
            except BootstrapError:
                raise
            except psycopg.Error as exc:
                raise self._explain(exc, what, database) from None

    def autocommit(
        self,
        statement: sql.Composed,
        *,
        what: str,
        tolerate: tuple[type[psycopg.Error], ...] = (),
        blocked: tuple[type[psycopg.Error], ...] = (),
    ) -> bool:
        """Execute one statement outside any transaction (``CREATE/DROP DATABASE``).

        Returns False if the server raised one of ``tolerate`` (e.g. the database appeared
        meanwhile); ``blocked`` errors become ``BlockedError`` (e.g. sessions still connected).
        """
        with self._connect(None) as conn:
            try:
                conn.execute(statement)
            except tolerate:
                return False
            except blocked as exc:
                raise BlockedError(f"cannot {what}: {self._detail(exc)}") from None
            except psycopg.Error as exc:
                raise self._explain(exc, what, None) from None
        return True

    # -- internals ---------------------------------------------------------------------------
    def _connect(self, database: str | None) -> psycopg.Connection[Any]:
        dsn = self._dsn if database is None else dsn_for_database(self._dsn, database)
        try:
            return psycopg.connect(
                dsn,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name=f"{PROJECT_NAME}-bootstrap",
            )
        except psycopg.Error as exc:
            where = describe_dsn(dsn)
            raise AdminConnectionError(
                f"cannot open the administrator connection ({where}): "
                f"{redact(str(exc).strip(), self._dsn)}"
            ) from None

    def _detail(self, exc: psycopg.Error) -> str:
        """The server's message and detail line, without the administrator's password."""
        primary = exc.diag.message_primary or str(exc).strip()
        detail = exc.diag.message_detail
        text = f"{primary} ({detail.strip()})" if detail else primary
        return redact(text, self._dsn)

    def _explain(self, exc: psycopg.Error, what: str, database: str | None) -> BootstrapError:
        """Turn a server error into a message naming the operation and the administrator."""
        detail = self._detail(exc)
        place = f" in database {database!r}" if database else ""
        if isinstance(exc, pg_errors.InsufficientPrivilege):
            return AdminPrivilegeError(
                f"cannot {what}{place}: the administrator ({self.description}) lacks a privilege: "
                f"{detail}. Use a superuser, or a role with CREATEROLE and CREATEDB that is a "
                "member of the owner group role"
            )
        return BootstrapError(f"cannot {what}{place}: {detail}")
