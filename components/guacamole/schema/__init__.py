"""The Guacamole PostgreSQL schema, for the 1.5.x and 1.6.x web applications.

Why one source: the two releases differ only by the ``'AUDIT'`` value of
``guacamole_system_permission_type`` (added before ``'ADMINISTER'`` in 1.6). ``guacamole.sql``
holds the 1.5 layout; ``schema_sql("1.6")`` appends the one ``ALTER TYPE`` that upgrades it, which
is also exactly what an existing 1.5 database needs to become 1.6.

``apply_schema`` is what the sandbox, the tests and a fresh deployment call: it creates the
schema when none of its tables exist, upgrades 1.5 → 1.6 when asked, does nothing when the
schema is already there, and refuses to touch a half-created schema (someone must look at it).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import psycopg

SchemaVersion = Literal["1.5", "1.6"]

_HERE = Path(__file__).resolve().parent

PERMISSION_TABLES: tuple[str, ...] = (
    "guacamole_connection_permission",
    "guacamole_connection_group_permission",
    "guacamole_sharing_profile_permission",
    "guacamole_system_permission",
    "guacamole_user_permission",
    "guacamole_user_group_permission",
)
"""The six tables that grant an entity something: what a revocation empties."""

TABLES: tuple[str, ...] = (
    "guacamole_connection_group",
    "guacamole_connection",
    "guacamole_entity",
    "guacamole_user",
    "guacamole_user_group",
    "guacamole_user_group_member",
    "guacamole_sharing_profile",
    "guacamole_connection_parameter",
    "guacamole_sharing_profile_parameter",
    "guacamole_user_attribute",
    "guacamole_user_group_attribute",
    "guacamole_connection_attribute",
    "guacamole_connection_group_attribute",
    "guacamole_sharing_profile_attribute",
    *PERMISSION_TABLES,
    "guacamole_connection_history",
    "guacamole_user_history",
    "guacamole_user_password_history",
)
"""All 23 tables, in creation order."""

ENUM_TYPES: tuple[str, ...] = (
    "guacamole_connection_group_type",
    "guacamole_entity_type",
    "guacamole_object_permission_type",
    "guacamole_system_permission_type",
    "guacamole_proxy_encryption_method",
)
"""All 5 enum types the extension's SQL casts to."""

AUDIT_UPGRADE_SQL = (
    "ALTER TYPE guacamole_system_permission_type"
    " ADD VALUE IF NOT EXISTS 'AUDIT' BEFORE 'ADMINISTER';\n"
)
"""The single schema difference between 1.5.x and 1.6.x."""

# Constant advisory-lock key (ASCII "GUACSCHP") so concurrent apply_schema calls serialise.
_SCHEMA_LOCK_KEY = 0x4755414353434850


class SchemaError(RuntimeError):
    """The database holds something apply_schema must not guess about."""


class SchemaOutcome(StrEnum):
    """What apply_schema did."""

    CREATED = "created"
    UPGRADED = "upgraded"
    PRESENT = "present"


def normalise_version(version: str) -> SchemaVersion:
    """Map "1.5", "1.5.5", "1.6", "1.6.0", … to the schema family; reject anything else."""
    parts = str(version).strip().split(".")
    family = ".".join(parts[:2])
    if family == "1.5":
        return "1.5"
    if family == "1.6":
        return "1.6"
    raise ValueError(f"unsupported Guacamole schema version {version!r}; expected 1.5.x or 1.6.x")


def schema_sql(version: str = "1.5", *, seed_admin: bool = True) -> str:
    """The complete SQL text creating the schema for ``version`` (pure; no database access).

    With ``seed_admin`` the stock ``guacadmin``/``guacadmin`` administrator is created as well,
    as a stock installation does; production deployments should change or remove it.
    """
    family = normalise_version(version)
    parts = [(_HERE / "guacamole.sql").read_text(encoding="utf-8")]
    if seed_admin:
        parts.append((_HERE / "admin_seed.sql").read_text(encoding="utf-8"))
    if family == "1.6":
        parts.append(AUDIT_UPGRADE_SQL)
    return "\n".join(parts)


def _present_tables(cur: psycopg.Cursor[Any]) -> set[str]:
    cur.execute(
        "SELECT c.relname FROM pg_catalog.pg_class AS c"
        " WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(%s)"
        " AND pg_catalog.pg_table_is_visible(c.oid)",
        (list(TABLES),),
    )
    return {row[0] for row in cur.fetchall()}


def _has_audit(cur: psycopg.Cursor[Any]) -> bool:
    cur.execute(
        "SELECT 1 FROM pg_catalog.pg_enum AS e"
        " JOIN pg_catalog.pg_type AS t ON t.oid = e.enumtypid"
        " WHERE t.typname = 'guacamole_system_permission_type' AND e.enumlabel = 'AUDIT'"
        " AND pg_catalog.pg_type_is_visible(t.oid)"
    )
    return cur.fetchone() is not None


def apply_schema(
    conn: psycopg.Connection[Any],
    version: str = "1.5",
    *,
    seed_admin: bool = True,
) -> SchemaOutcome:
    """Create (or upgrade 1.5 → 1.6) the schema through ``conn``, in one transaction.

    Idempotent: a complete schema is left alone (``PRESENT``), except that asking for 1.6 on a
    1.5 schema adds ``'AUDIT'`` (``UPGRADED``). A 1.6 schema is never downgraded. Raises
    ``SchemaError`` if only some of the 23 tables exist.
    """
    family = normalise_version(version)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        present = _present_tables(cur)
        if not present:
            cur.execute(schema_sql(family, seed_admin=seed_admin).encode("utf-8"))
            return SchemaOutcome.CREATED
        missing = [t for t in TABLES if t not in present]
        if missing:
            raise SchemaError(
                f"Guacamole schema is incomplete: {len(missing)} of {len(TABLES)} tables are "
                f"missing ({', '.join(missing)}); refusing to guess how to repair it"
            )
        if family == "1.6" and not _has_audit(cur):
            cur.execute(AUDIT_UPGRADE_SQL.encode("utf-8"))
            return SchemaOutcome.UPGRADED
        return SchemaOutcome.PRESENT
