"""Connection history written exactly the way Guacamole's JDBC extension writes it.

``ConnectionRecordMapper.insert`` when a tunnel opens: the connection's id and name, the remote
host, no sharing profile, the user looked up by entity name, ``start_date`` from the web
application's clock and ``end_date`` NULL; ``updateEndDate`` when it closes. A Guacamole killed
mid-session never runs the update, which leaves the row open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

INSERT_RECORD = """
INSERT INTO guacamole_connection_history (
    connection_id, connection_name, remote_host, sharing_profile_id, sharing_profile_name,
    user_id, username, start_date, end_date
)
VALUES (
    %(connection_id)s::integer, %(connection_name)s, %(remote_host)s, NULL::integer, NULL,
    (SELECT user_id FROM guacamole_user
     JOIN guacamole_entity ON guacamole_user.entity_id = guacamole_entity.entity_id
     WHERE guacamole_entity.name = %(username)s
       AND guacamole_entity.type = 'USER'::guacamole_entity_type),
    %(username)s, %(start_date)s, NULL
)
RETURNING history_id
"""

UPDATE_END_DATE = """
UPDATE guacamole_connection_history
SET end_date = %(end_date)s
WHERE history_id = %(history_id)s::integer
"""


def open_session(
    conn: psycopg.Connection[Any], workspace: str, username: str, start: datetime
) -> int:
    """A tunnel to ``username``'s connection in group ``workspace`` opens; returns the row id."""
    row = conn.execute(
        "SELECT c.connection_id FROM guacamole_connection c"
        " JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id"
        " WHERE g.parent_id IS NULL AND g.connection_group_name = %s AND c.connection_name = %s",
        (workspace, username),
    ).fetchone()
    assert row is not None, f"no connection {workspace}/{username}"
    history = conn.execute(
        INSERT_RECORD,
        {
            "connection_id": row[0],
            "connection_name": username,
            "remote_host": "10.1.2.3",
            "username": f"{workspace}@{username}",
            "start_date": start,
        },
    ).fetchone()
    assert history is not None
    return int(history[0])


def close_session(conn: psycopg.Connection[Any], history_id: int, end: datetime) -> None:
    """The tunnel closes: Guacamole sets ``end_date``."""
    conn.execute(UPDATE_END_DATE, {"history_id": history_id, "end_date": end})


def db_now(conn: psycopg.Connection[Any]) -> datetime:
    """The database's ``now()``: the clock the idle check decides on."""
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value
