"""SQL for one cluster role: its LOGIN flag, password, group memberships and no privileges.

A managed role is always *plain*: no SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS,
no password expiry. Least privilege starts here: the Guacamole login role must not be able to do
more than its table grants allow, and the owner group is a NOLOGIN role nobody signs in as. An
adopted role that carries such an attribute is stripped of it (a superuser attribute can only be
removed by a superuser administrator; the error says so).

Memberships are exact: ``member_of`` lists every group the role belongs to, extra memberships are
revoked. That is what keeps the login role out of the owner group (which could DROP the tables).

Every function takes a cursor inside a transaction owned by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from .connection import Cursor
from .errors import BlockedError, BootstrapError
from .passwords import encrypt_password, verifier_matches

PRIVILEGED_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("rolsuper", "SUPERUSER"),
    ("rolcreatedb", "CREATEDB"),
    ("rolcreaterole", "CREATEROLE"),
    ("rolreplication", "REPLICATION"),
    ("rolbypassrls", "BYPASSRLS"),
)
"""Catalogue column and keyword of every attribute a managed role must not have."""


@dataclass(frozen=True)
class RoleSpec:
    """The desired role. ``password`` None leaves the stored password alone."""

    name: str
    login: bool
    password: str | None
    member_of: tuple[str, ...]

    def __repr__(self) -> str:  # never print the password by accident
        return f"RoleSpec(name={self.name!r}, login={self.login}, member_of={self.member_of})"


@dataclass(frozen=True)
class RoleRow:
    """What the catalogue says about one role.

    ``password_current`` is None when the administrator may not read ``pg_authid`` (only a
    superuser can) or no password is desired: then nothing is known, and nothing is drift.
    """

    name: str
    login: bool
    privileged: tuple[str, ...]
    expires: bool
    member_of: tuple[str, ...]
    password_current: bool | None


def current_user(cur: Cursor) -> str:
    """The role the administrator connection runs as."""
    row = cur.execute("SELECT current_user").fetchone()
    assert row is not None
    return str(row[0])


def refuse_own_role(cur: Cursor, name: str) -> None:
    """Never strip attributes from, or drop, the role the administrator itself connects as."""
    if current_user(cur) == name:
        raise BootstrapError(
            f"role {name!r} is the administrator's own role (guacamoleAdminDatabaseUrl); "
            "the bootstrap will not manage it: choose other owner and login role names"
        )


def _verifier(cur: Cursor, name: str) -> str | bool | None:
    """The stored password verifier; False when the administrator may not read it."""
    readable = cur.execute(
        "SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')"
    ).fetchone()
    if not readable or not readable[0]:
        return False
    row = cur.execute("SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s", (name,))
    found = row.fetchone()
    return None if found is None or found[0] is None else str(found[0])


def read_role(cur: Cursor, name: str, password: str | None) -> RoleRow | None:
    """The role ``name`` as stored (None if it does not exist); checks ``password`` if given."""
    columns = sql.SQL(", ").join(sql.Identifier("r", col) for col, _ in PRIVILEGED_ATTRIBUTES)
    row = cur.execute(
        sql.SQL(
            "SELECT r.rolcanlogin,"
            " r.rolvaliduntil IS NOT NULL AND r.rolvaliduntil <> 'infinity',"
            " ARRAY(SELECT g.rolname FROM pg_catalog.pg_auth_members AS m"
            "       JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid"
            "       WHERE m.member = r.oid ORDER BY g.rolname), {}"
            " FROM pg_catalog.pg_roles AS r WHERE r.rolname = %s"
        ).format(columns),
        (name,),
    ).fetchone()
    if row is None:
        return None
    login, expires, member_of, *flags = row
    privileged = tuple(
        keyword for (_, keyword), on in zip(PRIVILEGED_ATTRIBUTES, flags, strict=True) if on
    )
    password_current: bool | None = None
    if password is not None:
        stored = _verifier(cur, name)
        if stored is not False:
            password_current = verifier_matches(
                password, name, stored if isinstance(stored, str) else None
            )
    return RoleRow(
        name=name,
        login=bool(login),
        privileged=privileged,
        expires=bool(expires),
        member_of=tuple(sorted(member_of)),
        password_current=password_current,
    )


def _password_clause(cur: Cursor, spec: RoleSpec) -> sql.Composed:
    assert spec.password is not None
    verifier = encrypt_password(cur.connection, spec.name, spec.password)
    return sql.SQL(" PASSWORD {}").format(sql.Literal(verifier))


def create_role(cur: Cursor, spec: RoleSpec) -> None:
    """``CREATE ROLE`` with no privileged attribute, then the memberships."""
    refuse_own_role(cur, spec.name)
    statement = sql.SQL("CREATE ROLE {} WITH {}").format(
        sql.Identifier(spec.name), sql.SQL("LOGIN" if spec.login else "NOLOGIN")
    )
    if spec.password is not None:
        statement = sql.Composed([statement, _password_clause(cur, spec)])
    cur.execute(statement)
    _set_memberships(cur, spec, current=())


def converge_role(cur: Cursor, spec: RoleSpec, row: RoleRow, *, reset_password: bool) -> None:
    """Bring an existing role to ``spec``; only what differs is altered."""
    refuse_own_role(cur, spec.name)
    options: list[sql.SQL] = []
    if row.login != spec.login:
        options.append(sql.SQL("LOGIN" if spec.login else "NOLOGIN"))
    options.extend(sql.SQL("NO" + keyword) for keyword in row.privileged)
    if row.expires:
        options.append(sql.SQL("VALID UNTIL 'infinity'"))
    if options:
        cur.execute(
            sql.SQL("ALTER ROLE {} WITH {}").format(
                sql.Identifier(spec.name), sql.SQL(" ").join(options)
            )
        )
    if spec.password is not None and reset_password:
        cur.execute(
            sql.Composed(
                [
                    sql.SQL("ALTER ROLE {}").format(sql.Identifier(spec.name)),
                    _password_clause(cur, spec),
                ]
            )
        )
    _set_memberships(cur, spec, current=row.member_of)


def _set_memberships(cur: Cursor, spec: RoleSpec, current: tuple[str, ...]) -> None:
    for group in sorted(set(spec.member_of) - set(current)):
        try:
            cur.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(spec.name))
            )
        except pg_errors.UndefinedObject:
            raise BootstrapError(
                f"role {spec.name!r}: group role {group!r} in member_of does not exist"
            ) from None
    for group in sorted(set(current) - set(spec.member_of)):
        cur.execute(
            sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), sql.Identifier(spec.name))
        )


def drop_role(cur: Cursor, name: str) -> None:
    """``DROP ROLE IF EXISTS``; explains what still depends on the role if that fails."""
    refuse_own_role(cur, name)
    try:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    except pg_errors.DependentObjectsStillExist as exc:
        raise BlockedError(
            f"role {name!r} cannot be dropped: {_detail(exc)}. Drop or reassign what it owns "
            "(REASSIGN OWNED / DROP OWNED BY in each database), or leave guacamoleDropOnDelete "
            "off to keep the role"
        ) from None


def _detail(exc: psycopg.Error) -> str:
    detail = exc.diag.message_detail
    primary = exc.diag.message_primary or str(exc)
    return f"{primary} ({detail.strip()})" if detail else primary
