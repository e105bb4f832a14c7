"""SQL for the login role's least-privilege grants inside the Guacamole database.

The desired state, exactly (nothing more, nothing less, for the login role):

* ``CONNECT`` on the database; ``USAGE`` on schema ``public``;
* ``SELECT, INSERT, UPDATE, DELETE`` on every table of the schema (no TRUNCATE, REFERENCES,
  TRIGGER, MAINTAIN), ``USAGE, SELECT`` on every sequence (no UPDATE: ``nextval`` needs USAGE,
  ``setval`` would need UPDATE);
* the same through ``ALTER DEFAULT PRIVILEGES FOR ROLE <owner group>``, so tables and sequences
  the owner creates later (a schema upgrade) are usable at once;
* and for PUBLIC: nothing on the database (no CONNECT, no TEMPORARY) and no CREATE on schema
  ``public`` (PostgreSQL before 15 grants it by default), so the login role's only way to
  create or destroy anything is through ownership, which it never has.

Applying revokes everything first and grants the desired privileges in the same transaction, so
an adopted database with broader grants converges and no reader ever sees a half state.
``read_drift`` describes every difference in words, one string each; an empty list means exact.

Every function takes a cursor inside a transaction (in the Guacamole database) owned by the
caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from psycopg import sql

from .connection import Cursor
from .schema_objects import SCHEMA

TABLE_PRIVILEGES: tuple[str, ...] = ("SELECT", "INSERT", "UPDATE", "DELETE")
SEQUENCE_PRIVILEGES: tuple[str, ...] = ("USAGE", "SELECT")
DATABASE_PRIVILEGES: tuple[str, ...] = ("CONNECT",)
SCHEMA_PRIVILEGES: tuple[str, ...] = ("USAGE",)

_PUBLIC = 0  # aclexplode's grantee for PUBLIC


def _oid(cur: Cursor, role: str) -> int | None:
    row = cur.execute("SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s", (role,)).fetchone()
    return None if row is None else int(row[0])


def _show(privileges: Iterable[str]) -> str:
    ordered = sorted(privileges)
    return ", ".join(ordered) if ordered else "nothing"


def _compare(what: str, have: set[str], want: Iterable[str]) -> list[str]:
    wanted = set(want)
    if have == wanted:
        return []
    return [f"{what}: has {_show(have)}, wants {_show(wanted)}"]


def read_drift(cur: Cursor, database: str, role: str, owner: str) -> list[str]:
    """Every way the grants in ``database`` differ from the desired state (empty: exact)."""
    role_oid = _oid(cur, role)
    owner_oid = _oid(cur, owner)
    drift: list[str] = []
    if role_oid is None:
        drift.append(f"login role {role} does not exist")
    if owner_oid is None:
        drift.append(f"owner role {owner} does not exist")
    if role_oid is None or owner_oid is None:
        return drift

    def acl(query: str, params: tuple[object, ...]) -> dict[int, set[str]]:
        found: dict[int, set[str]] = defaultdict(set)
        for grantee, privilege in cur.execute(query, params).fetchall():
            found[int(grantee)].add(str(privilege))
        return found

    on_database = acl(
        "SELECT a.grantee, a.privilege_type FROM pg_catalog.pg_database AS d,"
        " aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a WHERE d.datname = %s",
        (database,),
    )
    drift += _compare(f"database {database}", on_database[role_oid], DATABASE_PRIVILEGES)
    drift += _compare(f"database {database} for PUBLIC", on_database[_PUBLIC], ())
    on_schema = acl(
        "SELECT a.grantee, a.privilege_type FROM pg_catalog.pg_namespace AS n,"
        " aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS a"
        " WHERE n.nspname = %s",
        (SCHEMA,),
    )
    drift += _compare(f"schema {SCHEMA}", on_schema[role_oid], SCHEMA_PRIVILEGES)
    if "CREATE" in on_schema[_PUBLIC]:
        drift.append(f"schema {SCHEMA} for PUBLIC: has CREATE, wants no CREATE")

    relations: dict[tuple[str, str], set[str]] = {}
    for kind, name, privilege in cur.execute(
        "SELECT c.relkind, c.relname, a.privilege_type"
        " FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
        " LEFT JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault("
        "   CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner))) AS a"
        "   ON a.grantee = %s"
        # 'S' sequences; the rest is what GRANT … ON ALL TABLES IN SCHEMA covers.
        " WHERE n.nspname = %s AND c.relkind IN ('S', 'r', 'p', 'v', 'm', 'f')"
        " ORDER BY c.relname",
        (role_oid, SCHEMA),
    ).fetchall():
        key = ("sequence" if kind == "S" else "table", str(name))
        privileges = relations.setdefault(key, set())
        if privilege is not None:
            privileges.add(str(privilege))
    for (kind, name), have in sorted(relations.items()):
        wanted = SEQUENCE_PRIVILEGES if kind == "sequence" else TABLE_PRIVILEGES
        drift += _compare(f"{kind} {name}", have, wanted)

    defaults: dict[str, set[str]] = {"r": set(), "S": set()}
    for objtype, privilege in cur.execute(
        "SELECT d.defaclobjtype, a.privilege_type"
        " FROM pg_catalog.pg_default_acl AS d"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = d.defaclnamespace,"
        " aclexplode(d.defaclacl) AS a"
        " WHERE d.defaclrole = %s AND n.nspname = %s AND a.grantee = %s",
        (owner_oid, SCHEMA, role_oid),
    ).fetchall():
        defaults.setdefault(str(objtype), set()).add(str(privilege))
    drift += _compare(f"default privileges of {owner} on tables", defaults["r"], TABLE_PRIVILEGES)
    drift += _compare(
        f"default privileges of {owner} on sequences", defaults["S"], SEQUENCE_PRIVILEGES
    )
    return drift


def _privileges(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL(name) for name in names)


def apply_grants(cur: Cursor, database: str, role: str, owner: str) -> None:
    """Revoke everything from ``role`` and grant exactly the desired privileges."""
    db, schema = sql.Identifier(database), sql.Identifier(SCHEMA)
    login, group = sql.Identifier(role), sql.Identifier(owner)
    statements = [
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(schema),
        *_revoke_statements(database, role, owner),
        sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
            _privileges(DATABASE_PRIVILEGES), db, login
        ),
        sql.SQL("GRANT {} ON SCHEMA {} TO {}").format(
            _privileges(SCHEMA_PRIVILEGES), schema, login
        ),
        sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(
            _privileges(TABLE_PRIVILEGES), schema, login
        ),
        sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
            _privileges(SEQUENCE_PRIVILEGES), schema, login
        ),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON TABLES TO {}"
        ).format(group, schema, _privileges(TABLE_PRIVILEGES), login),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON SEQUENCES TO {}"
        ).format(group, schema, _privileges(SEQUENCE_PRIVILEGES), login),
    ]
    for statement in statements:
        cur.execute(statement)


def _revoke_statements(database: str, role: str, owner: str) -> list[sql.Composed]:
    db, schema = sql.Identifier(database), sql.Identifier(SCHEMA)
    login, group = sql.Identifier(role), sql.Identifier(owner)
    return [
        sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(db, login),
        sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(schema, login),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, login),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(schema, login),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} REVOKE ALL ON TABLES FROM {}"
        ).format(group, schema, login),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} REVOKE ALL ON SEQUENCES FROM {}"
        ).format(group, schema, login),
    ]


def revoke_grants(cur: Cursor, database: str, role: str, owner: str) -> bool:
    """Take every privilege of ``role`` back (PUBLIC stays restricted); False if it is gone."""
    if _oid(cur, role) is None:
        return False
    statements = _revoke_statements(database, role, owner)
    if _oid(cur, owner) is None:
        statements = statements[:4]
    for statement in statements:
        cur.execute(statement)
    return True
