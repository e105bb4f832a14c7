"""Baseline, database half: the program's Guacamole rows written with plain psycopg.

What a hand-written script with no engine would do, and so the floor for the providers:

* read the current rows with three SELECTs (root groups, users, connections) per step;
* create a workspace group with one INSERT;
* create a binding's rows in ONE transaction of 7 statements: entity, user (random unusable
  credentials, like the provider), READ on itself, connection, its 5 parameters (one multi-row
  INSERT), READ on the connection and READ on the group;
* delete a binding with 2 DELETEs (entity and connection; the schema cascades the user row,
  parameters and permissions), and a group with one.

No adoption, drift repair or advisory locks: those are the program's extra guarantees, and what
they cost is exactly what the comparison shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg

from components.guacamole.connections import VNC, vnc_parameters
from components.guacamole.hashing import make_credentials

MAX_CONNECTIONS = 1000
"""The program's connection-group defaults (the legacy operator's values)."""


@dataclass(frozen=True)
class RowSpec:
    """One binding's rows: login ``username`` sees connection ``connection`` in ``group``."""

    group: str
    username: str
    connection: str
    hostname: str
    password: str


@dataclass
class Rows:
    """What the database holds: group ids by name, entity ids, connection ids by (group, name)."""

    groups: dict[str, int]
    users: dict[str, int]
    connections: dict[tuple[str, str], int]


def read_rows(conn: psycopg.Connection[Any]) -> Rows:
    """The current state, in three SELECTs and one transaction."""
    with conn.transaction():
        groups = dict(
            conn.execute(
                "SELECT connection_group_name, connection_group_id"
                " FROM guacamole_connection_group WHERE parent_id IS NULL"
            ).fetchall()
        )
        users = dict(
            conn.execute(
                "SELECT name, entity_id FROM guacamole_entity WHERE type = 'USER'"
            ).fetchall()
        )
        connections = {
            (group, name): connection_id
            for group, name, connection_id in conn.execute(
                "SELECT g.connection_group_name, c.connection_name, c.connection_id"
                " FROM guacamole_connection AS c"
                " JOIN guacamole_connection_group AS g ON g.connection_group_id = c.parent_id"
            ).fetchall()
        }
    return Rows(groups, users, connections)


def create_group(conn: psycopg.Connection[Any], name: str) -> int:
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO guacamole_connection_group (connection_group_name, parent_id, type,"
            " max_connections, max_connections_per_user, enable_session_affinity)"
            " VALUES (%s, NULL, 'ORGANIZATIONAL', %s, %s, true) RETURNING connection_group_id",
            (name, MAX_CONNECTIONS, MAX_CONNECTIONS),
        ).fetchone()
    assert row is not None
    return int(row[0])


def create_binding_rows(conn: psycopg.Connection[Any], spec: RowSpec, group_id: int) -> None:
    """Entity, user, self READ, connection, parameters and both READ grants: one transaction."""
    credentials = make_credentials(None)
    parameters = vnc_parameters(
        hostname=spec.hostname,
        port=5900,
        password=spec.password,
        disable_copy=True,
        disable_paste=True,
    )
    with conn.transaction():
        entity = _one(
            conn,
            "INSERT INTO guacamole_entity (name, type) VALUES (%s, 'USER') RETURNING entity_id",
            (spec.username,),
        )
        user = _one(
            conn,
            "INSERT INTO guacamole_user (entity_id, password_hash, password_salt, password_date)"
            " VALUES (%s, %s, %s, now()) RETURNING user_id",
            (entity, credentials.password_hash, credentials.password_salt),
        )
        conn.execute(
            "INSERT INTO guacamole_user_permission (entity_id, affected_user_id, permission)"
            " VALUES (%s, %s, 'READ')",
            (entity, user),
        )
        connection = _one(
            conn,
            "INSERT INTO guacamole_connection (connection_name, parent_id, protocol)"
            " VALUES (%s, %s, %s) RETURNING connection_id",
            (spec.connection, group_id, VNC),
        )
        conn.execute(
            "INSERT INTO guacamole_connection_parameter"
            " (connection_id, parameter_name, parameter_value)"
            " SELECT %s, p.name, p.value FROM unnest(%s::text[], %s::text[]) AS p (name, value)",
            (connection, list(parameters), list(parameters.values())),
        )
        conn.execute(
            "INSERT INTO guacamole_connection_permission (entity_id, connection_id, permission)"
            " VALUES (%s, %s, 'READ')",
            (entity, connection),
        )
        conn.execute(
            "INSERT INTO guacamole_connection_group_permission"
            " (entity_id, connection_group_id, permission) VALUES (%s, %s, 'READ')"
            " ON CONFLICT DO NOTHING",
            (entity, group_id),
        )


def delete_binding_rows(
    conn: psycopg.Connection[Any], entity_id: int | None, connection_id: int | None
) -> None:
    """Drop the user (cascading its row and grants) and the connection (cascading parameters)."""
    with conn.transaction():
        if entity_id is not None:
            conn.execute("DELETE FROM guacamole_entity WHERE entity_id = %s", (entity_id,))
        if connection_id is not None:
            conn.execute(
                "DELETE FROM guacamole_connection WHERE connection_id = %s", (connection_id,)
            )


def delete_groups(conn: psycopg.Connection[Any], group_ids: Iterable[int]) -> None:
    for group_id in group_ids:
        with conn.transaction():
            conn.execute(
                "DELETE FROM guacamole_connection_group WHERE connection_group_id = %s",
                (group_id,),
            )


def _one(conn: psycopg.Connection[Any], query: LiteralString, params: tuple[Any, ...]) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])
