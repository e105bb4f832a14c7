"""SQL that ends a Guacamole user's access, and SQL that checks it is still ended.

Why disable rather than delete the user: Guacamole creates accounts on first single sign-on
(``POSTGRESQL_AUTO_CREATE_ACCOUNTS``), so a deleted ``{workspace}@{username}`` would come back,
enabled, at the next login. A disabled account with no permissions cannot sign in and sees
nothing, and it keeps the audit trail (history rows point at it). Every permission the entity
holds is removed, whatever its kind, not only READ: nothing it was ever granted should survive.

The browser connection (``connection`` in the root group(s) named ``group``) is deleted with its
parameters and grants; with ``drop_group`` the group goes too once it is empty (never a group
still holding anything: those are not ours).

Every function takes a cursor inside a transaction owned by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from .database import Cursor
from .groups import root_group_lock_key
from .schema import PERMISSION_TABLES


@dataclass(frozen=True)
class AccessTarget:
    """The rows one revoked identity must not have: a login, and a connection in a group."""

    user: str | None
    group: str | None
    connection: str | None
    drop_group: bool = False


def revoke(cur: Cursor, target: AccessTarget) -> list[str]:
    """Disable the user, drop every permission it holds, delete the connection; what changed."""
    done: list[str] = []
    if target.user is not None:
        cur.execute(
            "UPDATE guacamole_user AS u SET disabled = true FROM guacamole_entity AS e"
            " WHERE u.entity_id = e.entity_id AND e.type = 'USER' AND e.name = %s"
            " AND NOT u.disabled",
            (target.user,),
        )
        if cur.rowcount:
            done.append(f"disabled Guacamole user {target.user!r}")
        removed = 0
        for table in PERMISSION_TABLES:
            cur.execute(
                f"DELETE FROM {table} WHERE entity_id IN"
                " (SELECT entity_id FROM guacamole_entity WHERE type = 'USER' AND name = %s)",
                (target.user,),
            )
            removed += max(cur.rowcount, 0)
        if removed:
            done.append(f"removed {removed} permission(s) of {target.user!r}")
    if target.group is not None and target.connection is not None:
        cur.execute(
            "DELETE FROM guacamole_connection AS c USING guacamole_connection_group AS g"
            " WHERE c.parent_id = g.connection_group_id AND g.parent_id IS NULL"
            " AND g.connection_group_name = %s AND c.connection_name = %s"
            " RETURNING c.connection_id",
            (target.group, target.connection),
        )
        for (connection_id,) in cur.fetchall():
            done.append(
                f"deleted connection {target.connection!r} (id {connection_id}) "
                f"in group {target.group!r}"
            )
    if target.group is not None and target.drop_group:
        done += _drop_empty_group(cur, target.group)
    return done


def _drop_empty_group(cur: Cursor, name: str) -> list[str]:
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (root_group_lock_key(name),))
    cur.execute(
        "DELETE FROM guacamole_connection_group AS g"
        " WHERE g.parent_id IS NULL AND g.connection_group_name = %s"
        " AND NOT EXISTS (SELECT 1 FROM guacamole_connection AS c"
        "   WHERE c.parent_id = g.connection_group_id)"
        " AND NOT EXISTS (SELECT 1 FROM guacamole_connection_group AS child"
        "   WHERE child.parent_id = g.connection_group_id)"
        " RETURNING g.connection_group_id",
        (name,),
    )
    return [f"deleted empty group {name!r} (id {gid})" for (gid,) in cur.fetchall()]


def still_present(cur: Cursor, target: AccessTarget) -> list[str]:
    """What of ``target`` exists again (an enabled user, a permission, the connection)."""
    found: list[str] = []
    if target.user is not None:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM guacamole_user AS u"
            "   WHERE u.entity_id = e.entity_id AND NOT u.disabled),"
            " EXISTS (SELECT 1 FROM guacamole_connection_permission AS p"
            "   WHERE p.entity_id = e.entity_id)"
            " OR EXISTS (SELECT 1 FROM guacamole_connection_group_permission AS p"
            "   WHERE p.entity_id = e.entity_id)"
            " OR EXISTS (SELECT 1 FROM guacamole_system_permission AS p"
            "   WHERE p.entity_id = e.entity_id)"
            " FROM guacamole_entity AS e WHERE e.type = 'USER' AND e.name = %s",
            (target.user,),
        )
        row = cur.fetchone()
        if row is not None and row[0]:
            found.append(f"enabled Guacamole user {target.user!r}")
        if row is not None and row[1]:
            found.append(f"permissions of {target.user!r}")
    if target.group is not None and target.connection is not None:
        cur.execute(
            "SELECT c.connection_id FROM guacamole_connection AS c"
            " JOIN guacamole_connection_group AS g ON g.connection_group_id = c.parent_id"
            " WHERE g.parent_id IS NULL AND g.connection_group_name = %s"
            " AND c.connection_name = %s",
            (target.group, target.connection),
        )
        found += [
            f"connection {target.connection!r} (id {cid}) in group {target.group!r}"
            for (cid,) in cur.fetchall()
        ]
    return found
