"""SQL for the per-workspace connection group at ROOT.

Natural key: ``connection_group_name`` with ``parent_id IS NULL``. Upstream's
``UNIQUE (connection_group_name, parent_id)`` does not protect it (NULLs are distinct), and the
legacy operator raced into duplicates, so:

* creates serialise on a transaction-scoped advisory lock derived from the natural key, then
  look the name up and insert only if it is absent;
* when duplicates already exist, the lowest id is adopted (deterministic) and the others are
  reported, never touched;
* deletion leaves a group that still holds connections or child groups: they are not ours (ours
  are deleted first, as dependents) and a cascade would silently destroy them. Leaving it is
  not a failure: a group nobody can open harms no one, and failing would block every later run
  until someone cleaned Guacamole by hand. The caller logs what was left and why.

Every function takes a cursor inside a transaction owned by the caller.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .database import Cursor
from .errors import RowGoneError

ORGANIZATIONAL = "ORGANIZATIONAL"


@dataclass(frozen=True)
class GroupSettings:
    """The non-identity columns we manage (the legacy operator's values are the defaults)."""

    max_connections: int = 1000
    max_connections_per_user: int = 1000
    enable_session_affinity: bool = True


@dataclass(frozen=True)
class GroupRow:
    """A ``guacamole_connection_group`` row as read back."""

    group_id: int
    name: str
    parent_id: int | None
    type: str
    max_connections: int | None
    max_connections_per_user: int | None
    enable_session_affinity: bool
    duplicate_ids: tuple[int, ...] = ()

    def matches(self, settings: GroupSettings) -> bool:
        """True if the row already has the desired placement and settings."""
        return (
            self.parent_id is None
            and self.type == ORGANIZATIONAL
            and self.max_connections == settings.max_connections
            and self.max_connections_per_user == settings.max_connections_per_user
            and self.enable_session_affinity == settings.enable_session_affinity
        )


@dataclass(frozen=True)
class EnsuredGroup:
    """Result of ``ensure_root_group``."""

    row: GroupRow
    created: bool


def root_group_lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for the root group called ``name``."""
    digest = hashlib.blake2b(
        f"guacamole_connection_group\x00ROOT\x00{name}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


_COLUMNS = (
    "connection_group_id, connection_group_name, parent_id, type::text,"
    " max_connections, max_connections_per_user, enable_session_affinity"
)


def _row(values: tuple[Any, ...], duplicates: tuple[int, ...] = ()) -> GroupRow:
    return GroupRow(
        group_id=values[0],
        name=values[1],
        parent_id=values[2],
        type=values[3],
        max_connections=values[4],
        max_connections_per_user=values[5],
        enable_session_affinity=values[6],
        duplicate_ids=duplicates,
    )


def _apply_settings(cur: Cursor, group_id: int, settings: GroupSettings) -> None:
    cur.execute(
        "UPDATE guacamole_connection_group"
        " SET parent_id = NULL, type = 'ORGANIZATIONAL', max_connections = %s,"
        " max_connections_per_user = %s, enable_session_affinity = %s"
        " WHERE connection_group_id = %s",
        (
            settings.max_connections,
            settings.max_connections_per_user,
            settings.enable_session_affinity,
            group_id,
        ),
    )


def ensure_root_group(cur: Cursor, name: str, settings: GroupSettings) -> EnsuredGroup:
    """Create the root group ``name``, or adopt (lowest id) and converge an existing one."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (root_group_lock_key(name),))
    cur.execute(
        f"SELECT {_COLUMNS} FROM guacamole_connection_group"
        " WHERE parent_id IS NULL AND connection_group_name = %s"
        " ORDER BY connection_group_id",
        (name,),
    )
    existing = cur.fetchall()
    if not existing:
        cur.execute(
            "INSERT INTO guacamole_connection_group"
            " (connection_group_name, parent_id, type, max_connections,"
            " max_connections_per_user, enable_session_affinity)"
            " VALUES (%s, NULL, 'ORGANIZATIONAL', %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (
                name,
                settings.max_connections,
                settings.max_connections_per_user,
                settings.enable_session_affinity,
            ),
        )
        inserted = cur.fetchone()
        assert inserted is not None
        return EnsuredGroup(row=_row(inserted), created=True)
    duplicates = tuple(values[0] for values in existing[1:])
    row = _row(existing[0], duplicates)
    if not row.matches(settings):
        _apply_settings(cur, row.group_id, settings)
        row = GroupRow(
            group_id=row.group_id,
            name=row.name,
            parent_id=None,
            type=ORGANIZATIONAL,
            max_connections=settings.max_connections,
            max_connections_per_user=settings.max_connections_per_user,
            enable_session_affinity=settings.enable_session_affinity,
            duplicate_ids=duplicates,
        )
    return EnsuredGroup(row=row, created=False)


def read_group(cur: Cursor, group_id: int) -> GroupRow | None:
    """The group with this id and the ids of other root groups with its name, or None."""
    cur.execute(
        f"SELECT {_COLUMNS}, ARRAY(SELECT d.connection_group_id"
        "   FROM guacamole_connection_group AS d"
        "   WHERE d.parent_id IS NULL AND d.connection_group_name = g.connection_group_name"
        "   AND d.connection_group_id <> g.connection_group_id"
        "   ORDER BY d.connection_group_id)"
        " FROM guacamole_connection_group AS g WHERE g.connection_group_id = %s",
        (group_id,),
    )
    values = cur.fetchone()
    if values is None:
        return None
    return _row(values[:7], tuple(values[7]))


def converge_group(cur: Cursor, group_id: int, settings: GroupSettings) -> GroupRow:
    """Bring the group with this id back to the desired settings (it must still exist)."""
    cur.execute(
        f"SELECT {_COLUMNS} FROM guacamole_connection_group"
        " WHERE connection_group_id = %s FOR UPDATE",
        (group_id,),
    )
    values = cur.fetchone()
    if values is None:
        raise RowGoneError(
            f"connection group {group_id} no longer exists in the Guacamole database; "
            "run `pulumi refresh` so it is recreated"
        )
    row = _row(values)
    if row.matches(settings):
        return row
    if row.parent_id is not None:
        # Moving back to ROOT must not race a create of the same name.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (root_group_lock_key(row.name),))
    _apply_settings(cur, group_id, settings)
    refreshed = read_group(cur, group_id)
    assert refreshed is not None
    return refreshed


@dataclass(frozen=True)
class GroupDeletion:
    """What ``delete_group`` did: ``deleted`` or not, and why not (``left`` names the content)."""

    deleted: bool
    name: str | None = None
    left: str = ""


def delete_group(cur: Cursor, group_id: int) -> GroupDeletion:
    """Delete the group if it is empty; otherwise leave it and say what it still holds.

    The row is locked first so that no connection can be inserted into it between the check and
    the delete. A group already gone counts as not deleted with nothing left.
    """
    cur.execute(
        "SELECT connection_group_name FROM guacamole_connection_group"
        " WHERE connection_group_id = %s FOR UPDATE",
        (group_id,),
    )
    found = cur.fetchone()
    if found is None:
        return GroupDeletion(False)
    cur.execute(
        "SELECT 'connection' AS kind, connection_name FROM guacamole_connection"
        " WHERE parent_id = %s"
        " UNION ALL SELECT 'group', connection_group_name FROM guacamole_connection_group"
        " WHERE parent_id = %s ORDER BY 1, 2 LIMIT 21",
        (group_id, group_id),
    )
    leftovers = cur.fetchall()
    if leftovers:
        listed = ", ".join(f"{kind} {name!r}" for kind, name in leftovers[:20])
        more = " and more" if len(leftovers) > 20 else ""
        return GroupDeletion(False, found[0], f"{listed}{more}")
    cur.execute(
        "DELETE FROM guacamole_connection_group WHERE connection_group_id = %s", (group_id,)
    )
    return GroupDeletion(True, found[0])
