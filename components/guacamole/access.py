"""SQL for a browser connection and the user who may open it, written in one transaction.

Why one transaction: the two rows are one grant. Written apart, a run killed or faulted between
them left a user who could sign in and see nothing, or a connection waiting for a user, and a
revocation spanned two provider calls; together, the grant and its revocation each commit at
once. The user (``{workspace}@{username}``) belongs to exactly one connection, so deleting the
connection deletes the user with it.

The user carries a mark naming the connection that owns it (``users.mark_owned``), for two
deletes that must leave it in place: a state written while the two were separate resources
upgrades in place (the connection's ``update`` adopts the user by name and marks it, and the
separate user resource's delete, which the engine runs afterwards, leaves a marked user alone:
``users.delete_unowned_user``), and a connection replaced with the same user (the new one is
created, adopting and marking the user, before the old one is deleted:
``users.delete_owned_user``).

Every function takes a cursor inside a transaction owned by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import connections, users
from .database import Cursor
from .hashing import Credentials


@dataclass(frozen=True)
class AccessSpec:
    """Desired state of one connection and its user."""

    username: str
    group_id: int
    name: str
    parameters: Mapping[str, str]

    def connection(self, entity_id: int) -> connections.ConnectionSpec:
        return connections.ConnectionSpec(self.group_id, self.name, entity_id, self.parameters)

    def __repr__(self) -> str:  # parameters hold the VNC password
        return (
            f"AccessSpec(username={self.username!r}, group_id={self.group_id}, name={self.name!r})"
        )


@dataclass(frozen=True)
class Granted:
    """The rows a grant wrote or adopted."""

    entity_id: int
    user_id: int
    connection_id: int
    adopted: bool


def grant(cur: Cursor, spec: AccessSpec, credentials: Credentials) -> Granted:
    """Create the user and the connection, or adopt and converge the ones with their names."""
    user = users.ensure_user(cur, spec.username, credentials)
    connection = connections.ensure_connection(cur, spec.connection(user.entity_id))
    users.mark_owned(cur, user.user_id, connection.connection_id)
    return Granted(
        entity_id=user.entity_id,
        user_id=user.user_id,
        connection_id=connection.connection_id,
        adopted=not (user.created and connection.created),
    )


def converge(
    cur: Cursor,
    connection_id: int,
    spec: AccessSpec,
    credentials: Credentials,
    *,
    previous_entity_id: int | None,
    previous_owned: bool,
) -> Granted:
    """Repair the connection with this id and its user, found (or recreated) by name.

    ``credentials`` are written only when the user or its user row is missing, so a converge
    keeps the stored ones. When the user changed, READ moves to the new one; the previous user is
    deleted only if this connection owned it (``previous_owned``), else it belongs to a separate
    user resource of an older state, whose own delete decides.
    """
    user = users.ensure_user(cur, spec.username, credentials, keep_credentials=True)
    entity_id, user_id = user.entity_id, user.user_id
    users.mark_owned(cur, user_id, connection_id)
    connections.converge_connection(
        cur, connection_id, spec.connection(entity_id), previous_entity_id=previous_entity_id
    )
    if previous_owned and previous_entity_id is not None and previous_entity_id != entity_id:
        users.delete_owned_user(cur, previous_entity_id, connection_id)
    return Granted(entity_id=entity_id, user_id=user_id, connection_id=connection_id, adopted=False)


def revoke(
    cur: Cursor, connection_id: int, *, entity_id: int | None, group_id: int | None, owned: bool
) -> None:
    """Delete the user (if this connection still owns it) first, then the connection."""
    if owned and entity_id is not None:
        users.delete_owned_user(cur, entity_id, connection_id)
    connections.delete_connection(cur, connection_id, entity_id=entity_id, group_id=group_id)


def observe(
    cur: Cursor, connection_id: int, entity_id: int | None, *, owned: bool
) -> tuple[connections.ConnectionRow, users.UserRow | None] | None:
    """The connection as ``entity_id`` sees it and, if it ``owned`` that user, the user;
    None if the connection is gone."""
    row = connections.read_connection(cur, connection_id, entity_id)
    if row is None:
        return None
    user = users.read_user(cur, entity_id) if owned and entity_id is not None else None
    return row, user
