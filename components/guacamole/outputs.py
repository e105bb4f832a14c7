"""The outputs the row providers record: what the database holds, in terms of the inputs (pure).

Why shared: ``create``/``update`` record converged outputs, ``read`` records observed ones and
the drift check (``drift``) compares the two key by key, so both must be built by the same
functions.
"""

from __future__ import annotations

from typing import Any

from . import connections
from .users import UserRow

MANAGED_PARAMETERS = frozenset({"hostname", "port", "password", "disable-copy", "disable-paste"})


def _parse_port(value: str | None) -> int | str | None:
    """The stored port as int; unparsable text is returned as is so the diff sees it."""
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def _parse_flag(value: str | None) -> bool | str | None:
    """Guacamole booleans are the text "true"/"false"; anything else is reported verbatim."""
    if value == "true":
        return True
    if value == "false":
        return False
    return value


def connection_outputs(
    row: connections.ConnectionRow, *, entity_id: int | None, adopted: bool
) -> dict[str, Any]:
    """Outputs describing ``row`` in terms of the connection's inputs."""
    params = row.parameters
    return {
        "connection_id": row.connection_id,
        "group_id": row.group_id,
        "connection_name": row.name,
        "entity_id": entity_id,
        "hostname": params.get("hostname"),
        "port": _parse_port(params.get("port")),
        "password": params.get("password"),
        "disable_copy": _parse_flag(params.get("disable-copy")),
        "disable_paste": _parse_flag(params.get("disable-paste")),
        "is_vnc": row.protocol == connections.VNC,
        "read_on_connection": row.read_on_connection,
        "read_on_group": row.read_on_group,
        "unmanaged_parameters": sorted(set(params) - MANAGED_PARAMETERS),
        "adopted": adopted,
    }


def owned_user_outputs(row: UserRow) -> dict[str, Any]:
    """Outputs describing the user a connection owns (see ``access``)."""
    return {
        "username": row.name,
        "user_id": row.user_id,
        "has_user_row": row.user_id is not None,
        "self_read": row.self_read,
        "enabled": row.user_id is not None and not row.disabled,
    }


def converged_user_outputs(username: str, user_id: int) -> dict[str, Any]:
    """``owned_user_outputs`` of a user just converged (for ``create``/``update``)."""
    return {
        "username": username,
        "user_id": user_id,
        "has_user_row": True,
        "self_read": True,
        "enabled": True,
    }
