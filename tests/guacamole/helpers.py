"""Test helpers: the legacy operator's writes, Guacamole's visibility walk, statement counts."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg
from pulumi.dynamic import CheckResult, DiffResult, ResourceProvider

from components.guacamole.providers import ConnectionGroupProvider, ConnectionProvider

# The legacy operator ran a 64-character hex constant through base64.decodebytes: 48 bytes.
LEGACY_HEX = "a" * 16 + "0123456789abcdef" * 3
LEGACY_BYTES = base64.decodebytes(LEGACY_HEX.encode())


def checked(provider: Any, news: dict[str, Any]) -> dict[str, Any]:
    """Run check() like the engine does and insist that it passes."""
    result = provider.check({}, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    inputs: dict[str, Any] = result.inputs
    return inputs


def scalar(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    """The first column of the single row ``query`` returns."""
    return one(conn, query, params)[0]


def first_column(conn: psycopg.Connection[Any], query: str, params: Any = None) -> list[Any]:
    """The first column of every row ``query`` returns, in order."""
    return [row[0] for row in conn.execute(query, params).fetchall()]


def one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> tuple[Any, ...]:
    """The single row ``query`` returns (fails the test if there is none)."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return tuple(row)


def race(workers: int, prepare: Callable[[], Callable[[], str]]) -> list[str]:
    """Run ``workers`` threads that each ``prepare`` a call, then make the calls all at once.

    Concurrency tests want the racing statements, not the set-up, to overlap: every thread
    prepares (configures its own provider, checks inputs), waits at a barrier, then calls.
    Returns what each call returned (resource ids), in completion order.
    """
    barrier = threading.Barrier(workers)
    ids: list[str] = []

    def run() -> None:
        call = prepare()
        barrier.wait()
        ids.append(call())

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


@dataclass
class Result:
    """A provider result with non-optional fields (the SDK's types allow None)."""

    id: str
    outs: dict[str, Any]


P = TypeVar("P", bound=ResourceProvider)


class Driver(Generic[P]):
    """Calls a provider the way the engine does and returns typed results."""

    def __init__(self, provider: P) -> None:
        self.provider = provider

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return self.provider.check(olds, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return self.provider.diff(id_, olds, news)

    def create(self, props: dict[str, Any]) -> Result:
        result = self.provider.create(props)
        return Result(result.id, dict(result.outs or {}))

    def read(self, id_: str, props: dict[str, Any]) -> Result:
        result = self.provider.read(id_, props)
        return Result(result.id or "", dict(result.outs or {}))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> Result:
        return Result(id_, dict(self.provider.update(id_, olds, news).outs or {}))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.provider.delete(id_, props)


@dataclass
class Binding:
    """The create results of one binding: its workspace group and its connection with user."""

    group: Result
    connection: Result
    connection_inputs: dict[str, Any]

    @property
    def entity_id(self) -> int:
        """The user entity the connection recorded."""
        return int(self.connection.outs["entity_id"])

    @property
    def username(self) -> str:
        """The Guacamole user name (``{workspace}@{username}``)."""
        return str(self.connection_inputs["username"])


def connection_news(
    connection_provider: Driver[ConnectionProvider],
    *,
    group_id: int | str,
    workspace: str,
    username: str,
    hostname: str = "client-0123.guacamole.svc.cluster.local",
    vnc_password: str = "vnc-secret",  # noqa: S107 - test value
    **overrides: Any,
) -> dict[str, Any]:
    """Checked connection inputs as a BrowserWorkspace declares them (numbers as floats)."""
    return checked(
        connection_provider,
        {
            # the engine delivers numbers as floats
            "group_id": float(group_id),
            "username": f"{workspace}@{username}",
            "connection_name": username,
            "hostname": hostname,
            "password": vnc_password,
            "port": 5900.0,
            **overrides,
        },
    )


def create_binding(
    group_provider: Driver[ConnectionGroupProvider],
    connection_provider: Driver[ConnectionProvider],
    *,
    workspace: str,
    username: str,
    **connection_overrides: Any,
) -> Binding:
    """Create group + connection (with its user) the way a BrowserWorkspace would."""
    group = group_provider.create(checked(group_provider, {"group_name": workspace}))
    inputs = connection_news(
        connection_provider,
        group_id=group.id,
        workspace=workspace,
        username=username,
        **connection_overrides,
    )
    connection = connection_provider.create(inputs)
    return Binding(group, connection, inputs)


def legacy_operator_write(
    conn: psycopg.Connection[Any],
    workspace: str,
    username: str,
    hostname: str,
    *,
    group_id: int | None = None,
) -> dict[str, int]:
    """Write the rows exactly as the legacy operator's SQL does (select-then-insert, no locks)."""
    with conn.transaction():
        if group_id is None:
            group_id = scalar(
                conn,
                "INSERT INTO public.guacamole_connection_group (connection_group_name, type,"
                " max_connections, max_connections_per_user, enable_session_affinity)"
                " VALUES (%s, 'ORGANIZATIONAL', 1000, 1000, true) RETURNING connection_group_id",
                (workspace,),
            )
        connection_id = scalar(
            conn,
            "INSERT INTO public.guacamole_connection (parent_id, connection_name, protocol,"
            " failover_only) VALUES (%s, %s, 'vnc', false) RETURNING connection_id",
            (group_id, username),
        )
        entity_id = scalar(
            conn,
            "INSERT INTO public.guacamole_entity (name, type) VALUES (%s, 'USER')"
            " RETURNING entity_id",
            (f"{workspace}@{username}",),
        )
        user_id = scalar(
            conn,
            "INSERT INTO public.guacamole_user (entity_id, disabled, expired, password_hash,"
            " password_salt, password_date) VALUES (%s, false, false, %s, %s, now())"
            " RETURNING user_id",
            (entity_id, LEGACY_BYTES, LEGACY_BYTES),
        )
        conn.execute(
            "INSERT INTO public.guacamole_user_permission (affected_user_id, entity_id,"
            " \"permission\") VALUES (%s, %s, 'READ')",
            (user_id, entity_id),
        )
        conn.execute(
            "INSERT INTO public.guacamole_connection_group_permission (connection_group_id,"
            " entity_id, \"permission\") VALUES (%s, %s, 'READ')",
            (group_id, entity_id),
        )
        for name, value in (
            ("disable-copy", "true"),
            ("disable-paste", "true"),
            ("hostname", hostname),
            ("password", "1234"),
            ("port", "5900"),
        ):
            conn.execute(
                "INSERT INTO public.guacamole_connection_parameter (connection_id,"
                " parameter_name, parameter_value) VALUES (%s, %s, %s)",
                (connection_id, name, value),
            )
        conn.execute(
            "INSERT INTO public.guacamole_connection_permission (connection_id, entity_id,"
            " \"permission\") VALUES (%s, %s, 'READ')",
            (connection_id, entity_id),
        )
    return {
        "group_id": group_id,
        "connection_id": connection_id,
        "entity_id": entity_id,
        "user_id": user_id,
    }


@dataclass(frozen=True)
class StoredUser:
    """A user as the tables hold it (read back with plain SQL, not the code under test)."""

    entity_id: int
    user_id: int | None
    password_hash: bytes | None
    password_salt: bytes | None
    disabled: bool | None
    self_permissions: list[str]
    marks: dict[str, str]


def stored_user(conn: psycopg.Connection[Any], name: str) -> StoredUser | None:
    """The USER entity ``name``, its user row, READ on itself and its attributes; None if absent."""
    row = conn.execute(
        "SELECT e.entity_id, u.user_id, u.password_hash, u.password_salt, u.disabled,"
        " COALESCE((SELECT array_agg(p.permission::text ORDER BY p.permission)"
        "   FROM guacamole_user_permission AS p"
        "   WHERE p.entity_id = e.entity_id AND p.affected_user_id = u.user_id), '{}'),"
        " COALESCE((SELECT json_object_agg(a.attribute_name, a.attribute_value)"
        "   FROM guacamole_user_attribute AS a WHERE a.user_id = u.user_id), '{}'::json)"
        " FROM guacamole_entity AS e LEFT JOIN guacamole_user AS u USING (entity_id)"
        " WHERE e.type = 'USER' AND e.name = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    return StoredUser(
        entity_id=int(row[0]),
        user_id=row[1],
        password_hash=None if row[2] is None else bytes(row[2]),
        password_salt=None if row[3] is None else bytes(row[3]),
        disabled=row[4],
        self_permissions=list(row[5]),
        marks=dict(row[6]),
    )


def user_count(conn: psycopg.Connection[Any]) -> int:
    """USER entities in the database."""
    return int(scalar(conn, "SELECT count(*) FROM guacamole_entity WHERE type = 'USER'"))


def read_grants(conn: psycopg.Connection[Any], entity_id: int) -> tuple[set[int], set[int]]:
    """The connections and the connection groups ``entity_id`` holds READ on."""
    connections = set(
        first_column(
            conn,
            "SELECT connection_id FROM guacamole_connection_permission"
            " WHERE entity_id = %s AND permission = 'READ'",
            (entity_id,),
        )
    )
    groups = set(
        first_column(
            conn,
            "SELECT connection_group_id FROM guacamole_connection_group_permission"
            " WHERE entity_id = %s AND permission = 'READ'",
            (entity_id,),
        )
    )
    return connections, groups


def visible_connections(conn: psycopg.Connection[Any], username: str) -> list[tuple[int, str]]:
    """Connections ``username`` sees in Guacamole's tree: walk from ROOT through READ groups.

    Mirrors the extension: look the user up by name, then keep connections with READ whose
    parent is ROOT or a group reachable from ROOT through groups that also have READ.
    """
    rows = conn.execute(
        """
        WITH RECURSIVE me AS (
            SELECT entity_id FROM guacamole_entity WHERE type = 'USER' AND name = %(name)s
        ), readable_groups AS (
            SELECT g.connection_group_id
            FROM guacamole_connection_group AS g
            JOIN guacamole_connection_group_permission AS p
              ON p.connection_group_id = g.connection_group_id AND p.permission = 'READ'
            WHERE g.parent_id IS NULL AND p.entity_id IN (SELECT entity_id FROM me)
            UNION
            SELECT g.connection_group_id
            FROM guacamole_connection_group AS g
            JOIN readable_groups AS r ON g.parent_id = r.connection_group_id
            JOIN guacamole_connection_group_permission AS p
              ON p.connection_group_id = g.connection_group_id AND p.permission = 'READ'
            WHERE p.entity_id IN (SELECT entity_id FROM me)
        )
        SELECT c.connection_id, c.connection_name
        FROM guacamole_connection AS c
        JOIN guacamole_connection_permission AS cp
          ON cp.connection_id = c.connection_id AND cp.permission = 'READ'
        WHERE cp.entity_id IN (SELECT entity_id FROM me)
          AND (c.parent_id IS NULL
               OR c.parent_id IN (SELECT connection_group_id FROM readable_groups))
        ORDER BY c.connection_id
        """,
        {"name": username},
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def reset_statement_stats(admin: psycopg.Connection[Any]) -> None:
    """Zero pg_stat_statements (superuser connection)."""
    admin.execute("SELECT pg_stat_statements_reset()")


def statements_in(admin: psycopg.Connection[Any], dbname: str) -> dict[str, int]:
    """Statement text → calls sent by clients to database ``dbname`` (pg_stat_statements).

    Only top-level statements count: the foreign-key checks PostgreSQL runs internally are not
    round trips.
    """
    rows = admin.execute(
        "SELECT s.query, sum(s.calls)::int FROM pg_stat_statements AS s"
        " JOIN pg_database AS d ON d.oid = s.dbid WHERE d.datname = %s AND s.toplevel"
        " GROUP BY s.query",
        (dbname,),
    ).fetchall()
    return {str(q): int(c) for q, c in rows}


def total_calls(stats: dict[str, int]) -> int:
    """Total statements executed."""
    return sum(stats.values())


def writes(stats: dict[str, int]) -> int:
    """Statements that can modify data (INSERT/UPDATE/DELETE, also inside CTEs)."""
    keywords = ("insert ", "update ", "delete ")
    return sum(c for q, c in stats.items() if any(k in q.lower() for k in keywords))


ENTITY_TABLES = (
    "guacamole_user",
    "guacamole_user_permission",
    "guacamole_connection_permission",
    "guacamole_connection_group_permission",
)
"""The tables whose rows belong to an entity (deleted with it by cascade)."""


def entity_rows(conn: psycopg.Connection[Any], entity_id: int) -> dict[str, int]:
    """Per table of :data:`ENTITY_TABLES`: how many rows still name ``entity_id``."""
    return {
        table: scalar(conn, f"SELECT count(*) FROM {table} WHERE entity_id = %s", (entity_id,))
        for table in ENTITY_TABLES
    }
