"""A binding as states written before the user and its connection became one resource hold it.

Then a binding was two resources: a user (``UserProvider``, id = entity id) and a connection
(``ConnectionProvider`` with an ``entity_id`` input and no ``username``), each written in its
own transaction. These helpers write the rows with the same SQL functions the two old providers
called and record the outputs those providers returned, so the current providers can be run
against such a state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.guacamole import connections, users
from components.guacamole.database import Database
from components.guacamole.hashing import make_credentials

from .helpers import Result


@dataclass
class OldBinding:
    """The two resources of one binding in an old state (outputs as the engine returns them)."""

    user: Result
    connection: Result

    @property
    def entity_id(self) -> int:
        return int(self.user.id)

    @property
    def connection_id(self) -> int:
        return int(self.connection.id)


def write_old_binding(
    dsn: str,
    *,
    group_id: int,
    workspace: str,
    username: str,
    hostname: str = "client-0123.guacamole.svc.cluster.local",
    vnc_password: str = "vnc-secret",  # noqa: S107 - test value
) -> OldBinding:
    """Write user, then connection, as the old providers' ``create`` did; record their outputs."""
    name = f"{workspace}@{username}"
    database = Database(dsn)
    try:
        credentials = make_credentials(None)
        user = database.run(lambda cur: users.ensure_user(cur, name, credentials))
        parameters = connections.vnc_parameters(
            hostname=hostname,
            port=5900,
            password=vnc_password,
            disable_copy=True,
            disable_paste=True,
        )
        spec = connections.ConnectionSpec(group_id, username, user.entity_id, parameters)
        connection = database.run(lambda cur: connections.ensure_connection(cur, spec))
    finally:
        database.close()
    # Numbers come back from the state as floats.
    user_outs: dict[str, Any] = {
        "username": name,
        "entity_id": float(user.entity_id),
        "user_id": float(user.user_id),
        "has_user_row": True,
        "self_read": True,
        "password_current": True,
        "enabled": True,
        "adopted": not user.created,
    }
    connection_outs: dict[str, Any] = {
        "group_id": float(group_id),
        "connection_name": username,
        "entity_id": float(user.entity_id),
        "hostname": hostname,
        "port": 5900.0,
        "password": vnc_password,
        "disable_copy": True,
        "disable_paste": True,
        "connection_id": float(connection.connection_id),
        "is_vnc": True,
        "read_on_connection": True,
        "read_on_group": True,
        "unmanaged_parameters": [],
        "adopted": not connection.created,
    }
    return OldBinding(
        user=Result(str(user.entity_id), user_outs),
        connection=Result(str(connection.connection_id), connection_outs),
    )
