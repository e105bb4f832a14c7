"""The Guacamole schema inside the bootstrapped database: what is installed, and who owns it.

Why ownership matters: whoever owns a table can DROP and ALTER it whatever the grants say. The
schema objects therefore belong to the NOLOGIN owner group, and the login role reaches them only
through the grants. The schema is applied *as* the owner group (``SET LOCAL ROLE``), so new
objects are owned correctly from the start; objects of an adopted database that belong to
someone else (typically a legacy setup where the application role owned everything) are handed
over with ``ALTER … OWNER TO`` by the administrator before the schema is touched.

Only schema ``public`` is considered: it is where Guacamole's SQL scripts create their objects.
Every function takes a cursor inside a transaction owned by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import errors as pg_errors
from psycopg import sql

from ..schema import ENUM_TYPES, TABLES, SchemaError, SchemaOutcome, apply_schema
from .connection import Cursor
from .errors import AdminPrivilegeError, BootstrapError

SCHEMA = "public"

_FOREIGN_OBJECTS = """
SELECT kind, name, owner FROM (
    SELECT 1 AS rank, 'table' AS kind, c.relname AS name,
           pg_catalog.pg_get_userbyid(c.relowner) AS owner
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND c.relname = ANY(%(tables)s)
    UNION ALL
    SELECT 2, 'sequence', c.relname, pg_catalog.pg_get_userbyid(c.relowner)
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind = 'S' AND c.relname LIKE 'guacamole\\_%%'
    UNION ALL
    SELECT 3, 'type', t.typname, pg_catalog.pg_get_userbyid(t.typowner)
    FROM pg_catalog.pg_type AS t JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
    WHERE n.nspname = %(schema)s AND t.typname = ANY(%(types)s)
) AS objects
WHERE owner <> %(owner)s
ORDER BY rank, name
"""


@dataclass(frozen=True)
class SchemaState:
    """The installed schema: its family (None unless all 23 tables exist) and its drift."""

    installed_version: str | None
    missing_tables: tuple[str, ...]
    foreign_owned: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """True when none of Guacamole's tables exist."""
        return len(self.missing_tables) == len(TABLES)


def _use_schema(cur: Cursor) -> None:
    cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(SCHEMA)))


def _foreign(cur: Cursor, owner: str) -> list[tuple[str, str, str]]:
    rows = cur.execute(
        _FOREIGN_OBJECTS,
        {"schema": SCHEMA, "tables": list(TABLES), "types": list(ENUM_TYPES), "owner": owner},
    ).fetchall()
    return [(str(kind), str(name), str(current)) for kind, name, current in rows]


def read_schema(cur: Cursor, owner: str) -> SchemaState:
    """What is installed in schema ``public``, and which Guacamole objects ``owner`` lacks."""
    present = {
        str(row[0])
        for row in cur.execute(
            "SELECT c.relname FROM pg_catalog.pg_class AS c"
            " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
            (SCHEMA, list(TABLES)),
        ).fetchall()
    }
    missing = tuple(table for table in TABLES if table not in present)
    version: str | None = None
    if not missing:
        audit = cur.execute(
            "SELECT 1 FROM pg_catalog.pg_enum AS e"
            " JOIN pg_catalog.pg_type AS t ON t.oid = e.enumtypid"
            " JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace"
            " WHERE n.nspname = %s AND t.typname = 'guacamole_system_permission_type'"
            " AND e.enumlabel = 'AUDIT'",
            (SCHEMA,),
        ).fetchone()
        version = "1.6" if audit else "1.5"
    foreign = tuple(
        f"{kind} {name} (owner {current})" for kind, name, current in _foreign(cur, owner)
    )
    return SchemaState(installed_version=version, missing_tables=missing, foreign_owned=foreign)


def take_ownership(cur: Cursor, owner: str) -> int:
    """Hand every Guacamole table, sequence and enum type to ``owner``; return how many.

    Tables first: their serial sequences follow them (and cannot be moved on their own).
    """
    moved = 0
    for kind in ("table", "sequence", "type"):
        for found_kind, name, _current in _foreign(cur, owner):
            if found_kind != kind:
                continue
            keyword = {"table": "TABLE", "sequence": "SEQUENCE", "type": "TYPE"}[kind]
            cur.execute(
                sql.SQL("ALTER {} {} OWNER TO {}").format(
                    sql.SQL(keyword), sql.Identifier(SCHEMA, name), sql.Identifier(owner)
                )
            )
            moved += 1
    return moved


def install(cur: Cursor, owner: str, version: str, *, seed_admin: bool) -> SchemaOutcome:
    """Take ownership, then apply (create or upgrade) the schema as ``owner``.

    Runs in the caller's transaction: ``apply_schema``'s own transaction becomes a savepoint.
    """
    _use_schema(cur)
    take_ownership(cur, owner)
    try:
        cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(owner)))
    except pg_errors.InsufficientPrivilege:
        raise AdminPrivilegeError(
            f"the administrator cannot SET ROLE {owner!r} to create the Guacamole schema as the "
            f"owner group: use a superuser, or GRANT {owner} TO the administrator role"
        ) from None
    try:
        outcome = apply_schema(cur.connection, version, seed_admin=seed_admin)
    except SchemaError as error:
        raise BootstrapError(f"{error} (schema {SCHEMA!r})") from None
    cur.execute("RESET ROLE")
    return outcome
