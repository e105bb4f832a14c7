"""SQL for one VNC connection: the row, its parameters, and the READ grants that make it visible.

Natural key: ``(parent_id, connection_name)`` with a non-NULL parent, protected by upstream's
unique constraint, so concurrent creates resolve with ``ON CONFLICT``.

The parameter set is owned exactly: parameters added out of band (say ``enable-sftp``) are removed
when the connection is converged, because the browser container is meant to stay locked down.

Visibility needs READ on the connection AND on its group (Guacamole's tree only descends into
readable groups), both held by the user's entity. On delete, the group READ is withdrawn only if
the entity can read no other connection of that group.

Every function takes a cursor inside a transaction owned by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import errors as pg_errors

from .database import Cursor
from .errors import MissingReferenceError, RowGoneError

VNC = "vnc"


def vnc_parameters(
    *, hostname: str, port: int, password: str, disable_copy: bool, disable_paste: bool
) -> dict[str, str]:
    """The exact ``guacamole_connection_parameter`` rows of a browser connection."""
    return {
        "hostname": hostname,
        "port": str(port),
        "password": password,
        "disable-copy": "true" if disable_copy else "false",
        "disable-paste": "true" if disable_paste else "false",
    }


@dataclass(frozen=True)
class ConnectionSpec:
    """Desired state of one connection."""

    group_id: int
    name: str
    entity_id: int
    parameters: Mapping[str, str]

    def __repr__(self) -> str:  # parameters hold the VNC password
        return (
            f"ConnectionSpec(group_id={self.group_id}, name={self.name!r}, "
            f"entity_id={self.entity_id})"
        )


@dataclass(frozen=True)
class ConnectionRow:
    """What the database says about one connection, from one entity's point of view."""

    connection_id: int
    name: str
    group_id: int | None
    protocol: str
    parameters: Mapping[str, str]
    read_on_connection: bool
    read_on_group: bool

    def __repr__(self) -> str:
        return f"ConnectionRow(connection_id={self.connection_id}, name={self.name!r})"


@dataclass(frozen=True)
class EnsuredConnection:
    """Result of ``ensure_connection``."""

    connection_id: int
    created: bool


def _missing_reference(spec: ConnectionSpec, exc: Exception) -> MissingReferenceError:
    return MissingReferenceError(
        f"cannot attach connection {spec.name!r} to connection group {spec.group_id} and user "
        f"entity {spec.entity_id}: one of them does not exist ({exc.__class__.__name__})"
    )


def _set_parameters(
    cur: Cursor, connection_id: int, parameters: Mapping[str, str], *, prune: bool
) -> None:
    """Upsert the parameters (writing only changed values) and, with ``prune``, drop others."""
    names = list(parameters)
    if prune:
        cur.execute(
            "DELETE FROM guacamole_connection_parameter"
            " WHERE connection_id = %s AND NOT (parameter_name = ANY(%s))",
            (connection_id, names),
        )
    cur.execute(
        "INSERT INTO guacamole_connection_parameter"
        " (connection_id, parameter_name, parameter_value)"
        " SELECT %s, p.name, p.value FROM unnest(%s::text[], %s::text[]) AS p (name, value)"
        " ON CONFLICT (connection_id, parameter_name) DO UPDATE"
        " SET parameter_value = EXCLUDED.parameter_value"
        " WHERE guacamole_connection_parameter.parameter_value"
        " IS DISTINCT FROM EXCLUDED.parameter_value",
        (connection_id, names, [parameters[n] for n in names]),
    )


def _grant_read(cur: Cursor, spec: ConnectionSpec, connection_id: int) -> None:
    """READ on the connection and on its group for the entity, in one statement."""
    try:
        cur.execute(
            "WITH on_connection AS ("
            "  INSERT INTO guacamole_connection_permission (entity_id, connection_id, permission)"
            "  VALUES (%(entity)s, %(connection)s, 'READ') ON CONFLICT DO NOTHING"
            ")"
            " INSERT INTO guacamole_connection_group_permission"
            " (entity_id, connection_group_id, permission)"
            " VALUES (%(entity)s, %(group)s, 'READ') ON CONFLICT DO NOTHING",
            {"entity": spec.entity_id, "connection": connection_id, "group": spec.group_id},
        )
    except pg_errors.ForeignKeyViolation as exc:
        raise _missing_reference(spec, exc) from None


def _revoke_read(cur: Cursor, entity_id: int, connection_id: int | None, group_id: int) -> None:
    """Withdraw the entity's READ on the connection, and on the group unless still needed."""
    if connection_id is not None:
        cur.execute(
            "DELETE FROM guacamole_connection_permission"
            " WHERE entity_id = %s AND connection_id = %s AND permission = 'READ'",
            (entity_id, connection_id),
        )
    cur.execute(
        "DELETE FROM guacamole_connection_group_permission AS gp"
        " WHERE gp.entity_id = %(entity)s AND gp.connection_group_id = %(group)s"
        " AND gp.permission = 'READ'"
        " AND NOT EXISTS (SELECT 1 FROM guacamole_connection AS c"
        "   JOIN guacamole_connection_permission AS cp ON cp.connection_id = c.connection_id"
        "   WHERE c.parent_id = %(group)s AND cp.entity_id = %(entity)s"
        "   AND cp.permission = 'READ')",
        {"entity": entity_id, "group": group_id},
    )


def ensure_connection(cur: Cursor, spec: ConnectionSpec) -> EnsuredConnection:
    """Create the connection, or adopt the one with the same natural key and converge it."""
    try:
        cur.execute(
            "INSERT INTO guacamole_connection (connection_name, parent_id, protocol)"
            " VALUES (%s, %s, %s) ON CONFLICT (connection_name, parent_id) DO NOTHING"
            " RETURNING connection_id",
            (spec.name, spec.group_id, VNC),
        )
    except pg_errors.ForeignKeyViolation as exc:
        raise _missing_reference(spec, exc) from None
    inserted = cur.fetchone()
    if inserted is not None:
        connection_id: int = inserted[0]
        _set_parameters(cur, connection_id, spec.parameters, prune=False)
        _grant_read(cur, spec, connection_id)
        return EnsuredConnection(connection_id=connection_id, created=True)
    cur.execute(
        "SELECT connection_id FROM guacamole_connection"
        " WHERE connection_name = %s AND parent_id = %s FOR UPDATE",
        (spec.name, spec.group_id),
    )
    found = cur.fetchone()
    assert found is not None, "connection vanished between conflict and lookup"
    connection_id = found[0]
    _converge_row(cur, connection_id, spec)
    return EnsuredConnection(connection_id=connection_id, created=False)


def _converge_row(cur: Cursor, connection_id: int, spec: ConnectionSpec) -> None:
    cur.execute(
        "UPDATE guacamole_connection SET protocol = %s"
        " WHERE connection_id = %s AND protocol IS DISTINCT FROM %s",
        (VNC, connection_id, VNC),
    )
    _set_parameters(cur, connection_id, spec.parameters, prune=True)
    _grant_read(cur, spec, connection_id)


def converge_connection(
    cur: Cursor, connection_id: int, spec: ConnectionSpec, *, previous_entity_id: int | None
) -> None:
    """Repair the connection with this id; move the READ grants if the entity changed."""
    cur.execute(
        "SELECT parent_id FROM guacamole_connection WHERE connection_id = %s FOR UPDATE",
        (connection_id,),
    )
    found = cur.fetchone()
    if found is None:
        raise RowGoneError(
            f"Guacamole connection {connection_id} ({spec.name!r}) no longer exists; run "
            "`pulumi refresh` so it is recreated"
        )
    _converge_row(cur, connection_id, spec)
    if previous_entity_id is not None and previous_entity_id != spec.entity_id:
        _revoke_read(cur, previous_entity_id, connection_id, found[0] or spec.group_id)


def read_connection(cur: Cursor, connection_id: int, entity_id: int | None) -> ConnectionRow | None:
    """The connection with this id, its parameters and the entity's READ grants, or None."""
    cur.execute(
        "SELECT c.connection_name, c.parent_id, c.protocol,"
        " COALESCE((SELECT json_object_agg(p.parameter_name, p.parameter_value)"
        "   FROM guacamole_connection_parameter AS p"
        "   WHERE p.connection_id = c.connection_id), '{}'::json),"
        " EXISTS (SELECT 1 FROM guacamole_connection_permission AS cp"
        "   WHERE cp.entity_id = %(entity)s AND cp.connection_id = c.connection_id"
        "   AND cp.permission = 'READ'),"
        " EXISTS (SELECT 1 FROM guacamole_connection_group_permission AS gp"
        "   WHERE gp.entity_id = %(entity)s AND gp.connection_group_id = c.parent_id"
        "   AND gp.permission = 'READ')"
        " FROM guacamole_connection AS c WHERE c.connection_id = %(connection)s",
        {"entity": entity_id, "connection": connection_id},
    )
    values: tuple[Any, ...] | None = cur.fetchone()
    if values is None:
        return None
    return ConnectionRow(
        connection_id=connection_id,
        name=values[0],
        group_id=values[1],
        protocol=values[2],
        parameters=dict(values[3]),
        read_on_connection=bool(values[4]),
        read_on_group=bool(values[5]),
    )


def delete_connection(
    cur: Cursor, connection_id: int, *, entity_id: int | None, group_id: int | None
) -> bool:
    """Delete the connection (cascading parameters and permissions) and the group READ.

    Returns False if it was already gone; the group READ is still withdrawn in that case.
    """
    cur.execute(
        "DELETE FROM guacamole_connection WHERE connection_id = %s RETURNING parent_id",
        (connection_id,),
    )
    deleted = cur.fetchone()
    parent = deleted[0] if deleted is not None and deleted[0] is not None else group_id
    if entity_id is not None and parent is not None:
        _revoke_read(cur, entity_id, None, parent)
    return deleted is not None
