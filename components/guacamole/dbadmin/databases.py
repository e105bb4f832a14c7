"""SQL for the Guacamole database itself: existence, owner, creation and (opt-in) removal.

``CREATE DATABASE`` and ``DROP DATABASE`` cannot run inside a transaction block, so they are
built here and executed by the caller as single autocommit statements; everything else (reading
the catalogue, ``ALTER DATABASE … OWNER TO``) runs in the caller's transaction.

New databases are created from ``template0`` with UTF8 encoding, like a stock Guacamole
installation expects, so nothing a site added to ``template1`` leaks into them.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ..settings import PROJECT_NAME
from .connection import Cursor


@dataclass(frozen=True)
class DatabaseRow:
    """What the catalogue says about one database."""

    name: str
    owner: str
    encoding: str


def read_database(cur: Cursor, name: str) -> DatabaseRow | None:
    """The database ``name`` as stored, or None."""
    row = cur.execute(
        "SELECT pg_catalog.pg_get_userbyid(d.datdba), pg_catalog.pg_encoding_to_char(d.encoding)"
        " FROM pg_catalog.pg_database AS d WHERE d.datname = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    return DatabaseRow(name=name, owner=str(row[0]), encoding=str(row[1]))


def role_exists(cur: Cursor, name: str) -> bool:
    """True if role ``name`` exists in the cluster."""
    found = cur.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (name,))
    return found.fetchone() is not None


def create_statement(name: str, owner: str) -> sql.Composed:
    """``CREATE DATABASE`` owned by ``owner`` (autocommit only)."""
    return sql.SQL("CREATE DATABASE {} WITH OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
        sql.Identifier(name), sql.Identifier(owner)
    )


def drop_statement(name: str) -> sql.Composed:
    """``DROP DATABASE IF EXISTS`` (autocommit only; fails while sessions are connected)."""
    return sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))


def end_own_sessions(cur: Cursor, name: str) -> int:
    """Terminate this program's idle pooled sessions on database ``name``; return how many.

    Why: the Guacamole row providers run in the same provider host and keep a few idle
    connections (application_name ``awms-browser-workspaces``) to the database they just emptied;
    they would make an opted-in ``DROP DATABASE`` fail with "being accessed by other users".
    Everybody else's sessions (Guacamole itself, a psql) are left alone, so the drop still
    refuses while they are connected.
    """
    rows = cur.execute(
        "SELECT pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity AS a"
        " WHERE a.datname = %s AND a.application_name = %s"
        " AND a.pid <> pg_catalog.pg_backend_pid()",
        (name, PROJECT_NAME),
    ).fetchall()
    return sum(1 for (ended,) in rows if ended)


def set_owner(cur: Cursor, name: str, owner: str) -> None:
    """``ALTER DATABASE … OWNER TO`` (on 15+ schema ``public`` follows: pg_database_owner)."""
    cur.execute(
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(owner))
    )
