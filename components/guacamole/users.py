"""SQL for a Guacamole user: entity row, user row and the user's READ permission on itself.

Natural key: ``guacamole_entity (type 'USER', name)``, protected by upstream's unique constraint,
so concurrent creates resolve with ``ON CONFLICT`` instead of locks. The name
(``{workspace}@{username}``) is built by the caller; nothing here interprets it.

Credentials are always (re)written when a user is created or adopted: adopted legacy rows carry a
48-byte value that is not a SHA-256 hash, and a user without a desired password must not keep any
usable local password. A declared user is always enabled (``disabled = false``): it exists
because a binding is live, so a disabled flag set out of band is drift. The self READ permission
mirrors what Guacamole grants implicitly to the users it creates, and keeps the Preferences page
working.

A user written together with its connection (see ``access``) carries an ownership mark, a
``guacamole_user_attribute`` row (Guacamole keeps it and does not show it) naming the
connection: a delete on behalf of anything but that connection leaves the user in place.

Every function takes a cursor inside a transaction owned by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from .database import Cursor
from .hashing import Credentials


@dataclass(frozen=True)
class UserRow:
    """What the database says about one user."""

    entity_id: int
    name: str
    user_id: int | None
    password_hash: bytes | None
    password_salt: bytes | None
    self_read: bool
    disabled: bool = False

    def __repr__(self) -> str:
        return f"UserRow(entity_id={self.entity_id}, name={self.name!r}, user_id={self.user_id})"


@dataclass(frozen=True)
class EnsuredUser:
    """Result of ``ensure_user``."""

    entity_id: int
    user_id: int
    created: bool


def _write_user_row(
    cur: Cursor, entity_id: int, credentials: Credentials, *, keep_credentials: bool = False
) -> int:
    """Insert the user row, or re-enable it (a revoked identity granted again must be able to
    sign in) and reset its credentials unless ``keep_credentials``; return ``user_id``."""
    on_conflict = (
        "disabled = false"
        if keep_credentials
        else "password_hash = EXCLUDED.password_hash, password_salt = EXCLUDED.password_salt,"
        " password_date = EXCLUDED.password_date, disabled = false"
    )
    cur.execute(
        "INSERT INTO guacamole_user (entity_id, password_hash, password_salt, password_date)"
        " VALUES (%s, %s, %s, now())"
        f" ON CONFLICT (entity_id) DO UPDATE SET {on_conflict}"
        " RETURNING user_id",
        (entity_id, credentials.password_hash, credentials.password_salt),
    )
    row = cur.fetchone()
    assert row is not None
    user_id: int = row[0]
    return user_id


def _grant_self_read(cur: Cursor, entity_id: int, user_id: int) -> None:
    cur.execute(
        "INSERT INTO guacamole_user_permission (entity_id, affected_user_id, permission)"
        " VALUES (%s, %s, 'READ') ON CONFLICT DO NOTHING",
        (entity_id, user_id),
    )


def ensure_user(
    cur: Cursor, name: str, credentials: Credentials, *, keep_credentials: bool = False
) -> EnsuredUser:
    """Create user ``name`` or adopt the existing one, converging credentials and self READ.

    ``keep_credentials``: an existing user row keeps its stored ones (a converge of a user this
    program already wrote); ``credentials`` are written only where the row is new.
    """
    cur.execute(
        "INSERT INTO guacamole_entity (name, type) VALUES (%s, 'USER')"
        " ON CONFLICT (type, name) DO NOTHING RETURNING entity_id",
        (name,),
    )
    inserted = cur.fetchone()
    created = inserted is not None
    if inserted is None:
        cur.execute(
            "SELECT entity_id FROM guacamole_entity WHERE type = 'USER' AND name = %s",
            (name,),
        )
        inserted = cur.fetchone()
        assert inserted is not None, "entity vanished between conflict and lookup"
    entity_id: int = inserted[0]
    user_id = _write_user_row(cur, entity_id, credentials, keep_credentials=keep_credentials)
    _grant_self_read(cur, entity_id, user_id)
    return EnsuredUser(entity_id=entity_id, user_id=user_id, created=created)


def read_user(cur: Cursor, entity_id: int) -> UserRow | None:
    """The user whose entity has this id, or None if the entity is gone."""
    cur.execute(
        "SELECT e.name, u.user_id, u.password_hash, u.password_salt,"
        " EXISTS (SELECT 1 FROM guacamole_user_permission AS p"
        "   WHERE p.entity_id = e.entity_id AND p.affected_user_id = u.user_id"
        "   AND p.permission = 'READ'),"
        " COALESCE(u.disabled, false)"
        " FROM guacamole_entity AS e LEFT JOIN guacamole_user AS u ON u.entity_id = e.entity_id"
        " WHERE e.entity_id = %s AND e.type = 'USER'",
        (entity_id,),
    )
    values = cur.fetchone()
    if values is None:
        return None
    return UserRow(
        entity_id=entity_id,
        name=values[0],
        user_id=values[1],
        password_hash=bytes(values[2]) if values[2] is not None else None,
        password_salt=bytes(values[3]) if values[3] is not None else None,
        self_read=bool(values[4]),
        disabled=bool(values[5]),
    )


def delete_user(cur: Cursor, entity_id: int) -> bool:
    """Delete the entity (cascading to the user row and all its permissions)."""
    cur.execute("DELETE FROM guacamole_entity WHERE entity_id = %s AND type = 'USER'", (entity_id,))
    return cur.rowcount > 0


OWNER_ATTRIBUTE = "awms-browser-workspaces"
"""``guacamole_user_attribute.attribute_name`` of the ownership mark; its value is the id of the
connection that owns the user."""

_MARKED_BY_ANOTHER = (
    "EXISTS (SELECT 1 FROM guacamole_user AS u"
    " JOIN guacamole_user_attribute AS a ON a.user_id = u.user_id"
    " WHERE u.entity_id = e.entity_id AND a.attribute_name = %(mark)s"
    " AND a.attribute_value IS DISTINCT FROM %(owner)s)"
)
"""The user ``e`` carries a mark naming an owner other than ``%(owner)s`` (NULL: any owner)."""


def mark_owned(cur: Cursor, user_id: int, connection_id: int) -> None:
    """Mark the user as owned by this connection (idempotent; the last owner wins)."""
    cur.execute(
        "INSERT INTO guacamole_user_attribute (user_id, attribute_name, attribute_value)"
        " VALUES (%s, %s, %s) ON CONFLICT (user_id, attribute_name)"
        " DO UPDATE SET attribute_value = EXCLUDED.attribute_value",
        (user_id, OWNER_ATTRIBUTE, str(connection_id)),
    )


def _delete_unless_marked(cur: Cursor, entity_id: int, owner: str | None) -> bool:
    """Delete the user unless a mark names an owner other than ``owner``; True if kept so.

    One statement: the delete, and the mark as it was before it (the statement's snapshot).
    """
    cur.execute(
        "WITH gone AS (DELETE FROM guacamole_entity AS e"
        "   WHERE e.entity_id = %(entity)s AND e.type = 'USER'"
        f"  AND NOT {_MARKED_BY_ANOTHER} RETURNING e.entity_id)"
        " SELECT NOT EXISTS (SELECT 1 FROM gone) AND EXISTS (SELECT 1 FROM guacamole_user AS u"
        "   JOIN guacamole_user_attribute AS a ON a.user_id = u.user_id"
        "   WHERE u.entity_id = %(entity)s AND a.attribute_name = %(mark)s"
        "   AND a.attribute_value IS DISTINCT FROM %(owner)s)",
        {"entity": entity_id, "mark": OWNER_ATTRIBUTE, "owner": owner},
    )
    row = cur.fetchone()
    return bool(row and row[0])


def delete_unowned_user(cur: Cursor, entity_id: int) -> bool:
    """Delete the user unless a connection owns it; True if it was kept for that reason."""
    return _delete_unless_marked(cur, entity_id, None)


def delete_owned_user(cur: Cursor, entity_id: int, connection_id: int) -> bool:
    """Delete the user this connection owns; keep it (True) if another connection now does.

    Why: a connection replaced without a new user (its group recreated, ``--replace``) is
    created before the old one is deleted, and the new one adopts the user and marks it its own.
    """
    return _delete_unless_marked(cur, entity_id, str(connection_id))
