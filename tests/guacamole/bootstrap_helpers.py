"""Helpers for the bootstrap tests: run the four providers like the engine, probe privileges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from .conftest import AdminProviders, BootstrapTarget
from .helpers import Result, checked


@dataclass
class Bootstrapped:
    """The create results (outputs = recorded state) of one full bootstrap."""

    owner: Result
    login: Result
    database: Result
    schema: Result
    grants: Result
    inputs: dict[str, dict[str, Any]]


def bootstrap(
    providers: AdminProviders, target: BootstrapTarget, *, version: str = "1.5"
) -> Bootstrapped:
    """check + create for every resource, in the order the program's dependencies impose."""
    inputs = {
        "owner": checked(providers.role, target.role_inputs(owner=True)),
        "login": checked(providers.role, target.role_inputs(owner=False)),
        "database": checked(providers.database, {"name": target.database, "owner": target.owner}),
        "schema": checked(
            providers.schema,
            {"database": target.database, "owner": target.owner, "version": version},
        ),
        "grants": checked(
            providers.grants,
            {"database": target.database, "role": target.login, "owner": target.owner},
        ),
    }
    return Bootstrapped(
        owner=providers.role.create(inputs["owner"]),
        login=providers.role.create(inputs["login"]),
        database=providers.database.create(inputs["database"]),
        schema=providers.schema.create(inputs["schema"]),
        grants=providers.grants.create(inputs["grants"]),
        inputs=inputs,
    )


def denied(conn: psycopg.Connection[Any], statement: str | sql.Composed) -> str | None:
    """The server's refusal of ``statement`` (None if it was allowed; then it is rolled back)."""
    try:
        with conn.transaction():
            conn.execute(statement)
            raise _AllowedError
    except _AllowedError:
        return None
    except psycopg.errors.InsufficientPrivilege as exc:
        return str(exc)


class _AllowedError(Exception):
    """Raised to roll back a statement that succeeded."""


def table_owners(conn: psycopg.Connection[Any]) -> set[str]:
    """Owners of the tables, sequences and enum types in schema public."""
    rows = conn.execute(
        "SELECT pg_get_userbyid(c.relowner) FROM pg_class AS c"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')"
        " UNION SELECT pg_get_userbyid(t.typowner) FROM pg_type AS t"
        " JOIN pg_namespace AS n ON n.oid = t.typnamespace"
        " WHERE n.nspname = 'public' AND t.typtype = 'e'"
    ).fetchall()
    return {str(r[0]) for r in rows}
