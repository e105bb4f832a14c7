"""The leftover scan's read of Guacamole connections, on real PostgreSQL with legacy rows."""

from __future__ import annotations

from components.takeover.inventory import read_connections

from .conftest import GuacDb
from .helpers import legacy_operator_write

HOST = "client-{:032x}.guacamole.svc.cluster.local"


def write_fleet(guac_db: GuacDb) -> None:
    """Legacy rows in three workspaces, one of which (``legacy-ws``) no shard has placed."""
    with guac_db.connect() as conn:
        for number, (workspace, user) in enumerate(
            [("ws-a", "ann"), ("ws-a", "bob"), ("ws-b", "cat"), ("legacy-ws", "dan")]
        ):
            group = conn.execute(
                "SELECT connection_group_id FROM guacamole_connection_group"
                " WHERE connection_group_name = %s",
                (workspace,),
            ).fetchone()
            legacy_operator_write(
                conn, workspace, user, HOST.format(number), group_id=group[0] if group else None
            )


def test_every_root_group_is_read_when_nothing_is_placed_elsewhere(guac_db: GuacDb):
    write_fleet(guac_db)
    found = list(read_connections(guac_db.dsn))
    assert [(c.group, c.name) for c in found] == [
        ("legacy-ws", "dan"),
        ("ws-a", "ann"),
        ("ws-a", "bob"),
        ("ws-b", "cat"),
    ]
    assert all(c.legacy_password for c in found)
    assert found[1].hostname == HOST.format(0)


def test_groups_placed_on_other_shards_are_left_out(guac_db: GuacDb):
    write_fleet(guac_db)
    found = list(read_connections(guac_db.dsn, frozenset({"ws-b", "ws-z"})))
    assert [(c.group, c.name) for c in found] == [
        ("legacy-ws", "dan"),
        ("ws-a", "ann"),
        ("ws-a", "bob"),
    ]
    assert [c.group for c in read_connections(guac_db.dsn, {"ws-a", "legacy-ws"})] == ["ws-b"]
