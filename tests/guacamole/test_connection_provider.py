"""GuacamoleConnection provider against a real database, and what Guacamole then shows."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.guacamole.errors import MissingReferenceError, RowGoneError
from components.guacamole.providers import ConnectionProvider

from .conftest import GuacDb, Providers, configure_request
from .helpers import (
    checked,
    create_binding,
    first_column,
    legacy_operator_write,
    one,
    race,
    scalar,
    visible_connections,
)

HOST = "client-897058694bb051b186d83b514ad204a5.guacamole.svc.cluster.local"


def _parameters(db: GuacDb, connection_id: int) -> dict[str, str]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT parameter_name, parameter_value FROM guacamole_connection_parameter"
            " WHERE connection_id = %s",
            (connection_id,),
        ).fetchall()
    return dict(rows)


def _grants(db: GuacDb, entity_id: int) -> tuple[set[int], set[int]]:
    with db.connect() as conn:
        connections = set(
            first_column(
                conn,
                "SELECT connection_id FROM guacamole_connection_permission"
                " WHERE entity_id = %s AND permission = 'READ'",
                (entity_id,),
            )
        )
        groups = set(
            first_column(
                conn,
                "SELECT connection_group_id FROM guacamole_connection_group_permission"
                " WHERE entity_id = %s AND permission = 'READ'",
                (entity_id,),
            )
        )
    return connections, groups


def _binding(providers: Providers, **kwargs):
    return create_binding(providers.group, providers.user, providers.connection, **kwargs)


def test_create_writes_exact_rows(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="default-generic-workspace", username="jovyan", hostname=HOST)
    cid, gid, eid = int(b.connection.id), int(b.group.id), int(b.user.id)
    assert _parameters(guac_db, cid) == {
        "hostname": HOST,
        "port": "5900",
        "password": "vnc-secret",
        "disable-copy": "true",
        "disable-paste": "true",
    }
    assert _grants(guac_db, eid) == ({cid}, {gid})
    with guac_db.connect() as conn:
        row = one(conn, "SELECT connection_name, parent_id, protocol FROM guacamole_connection")
    assert row == ("jovyan", gid, "vnc")
    assert b.connection.outs["connection_id"] == cid


def test_guacamole_shows_exactly_the_users_connection(providers: Providers, guac_db: GuacDb):
    alice = _binding(providers, workspace="ws", username="alice")
    _binding(providers, workspace="ws", username="bob")
    _binding(providers, workspace="other-ws", username="alice")
    with guac_db.connect() as conn:
        assert visible_connections(conn, "ws@alice") == [(int(alice.connection.id), "alice")]
        # Without READ on the group, the tree hides the connection.
        conn.execute(
            "DELETE FROM guacamole_connection_group_permission WHERE entity_id = %s",
            (int(alice.user.id),),
        )
        assert visible_connections(conn, "ws@alice") == []


def test_update_in_place_and_entity_move(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="ws", username="u1")
    p = providers.connection
    cid, gid = int(b.connection.id), int(b.group.id)
    other_user = providers.user.create(checked(providers.user, {"username": "ws@u2"}))
    news = checked(
        p,
        {
            **b.connection_inputs,
            "hostname": "new-host",
            "port": 5901.0,
            "password": "rotated",
            "disable_copy": False,
            "entity_id": float(other_user.id),
        },
    )
    diff = p.diff(b.connection.id, b.connection.outs, news)
    assert diff.changes is True and diff.replaces == []
    updated = p.update(b.connection.id, b.connection.outs, news)
    assert updated.outs["entity_id"] == int(other_user.id)
    assert _parameters(guac_db, cid) == {
        "hostname": "new-host",
        "port": "5901",
        "password": "rotated",
        "disable-copy": "false",
        "disable-paste": "true",
    }
    assert _grants(guac_db, int(other_user.id)) == ({cid}, {gid})
    assert _grants(guac_db, int(b.user.id)) == (set(), set())
    refreshed = p.read(b.connection.id, updated.outs)
    assert p.diff(b.connection.id, refreshed.outs, news).changes is False


def test_refresh_after_out_of_band_edits_then_repair(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="ws", username="u")
    p = providers.connection
    cid, eid = int(b.connection.id), int(b.user.id)
    with guac_db.connect() as conn:
        conn.execute(
            "UPDATE guacamole_connection_parameter SET parameter_value = 'false'"
            " WHERE parameter_name = 'disable-paste'"
        )
        conn.execute(
            "UPDATE guacamole_connection_parameter SET parameter_value = 'evil-host'"
            " WHERE parameter_name = 'hostname'"
        )
        conn.execute(
            "INSERT INTO guacamole_connection_parameter VALUES (%s, 'enable-sftp', 'true')",
            (cid,),
        )
        conn.execute("DELETE FROM guacamole_connection_permission WHERE entity_id = %s", (eid,))
    refreshed = p.read(b.connection.id, b.connection.outs)
    assert refreshed.id == b.connection.id
    outs = refreshed.outs
    assert outs["disable_paste"] is False and outs["hostname"] == "evil-host"
    assert outs["unmanaged_parameters"] == ["enable-sftp"]
    assert outs["read_on_connection"] is False and outs["read_on_group"] is True
    diff = p.diff(b.connection.id, outs, b.connection_inputs)
    assert diff.changes is True and diff.replaces == []
    p.update(b.connection.id, outs, b.connection_inputs)
    assert _parameters(guac_db, cid)["disable-paste"] == "true"
    assert "enable-sftp" not in _parameters(guac_db, cid)
    assert _grants(guac_db, eid)[0] == {cid}
    again = p.read(b.connection.id, b.connection.outs)
    assert p.diff(b.connection.id, again.outs, b.connection_inputs).changes is False


def test_refresh_sees_missing_group_permission(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="ws", username="u")
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_connection_group_permission")
    outs = providers.connection.read(b.connection.id, b.connection.outs).outs
    assert outs["read_on_group"] is False
    assert providers.connection.diff(b.connection.id, outs, b.connection_inputs).changes


def test_refresh_after_out_of_band_delete(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="ws", username="u")
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_connection")
    p = providers.connection
    assert p.read(b.connection.id, b.connection.outs).id == ""
    with pytest.raises(RowGoneError, match="pulumi refresh"):
        p.update(b.connection.id, b.connection.outs, b.connection_inputs)
    p.delete(b.connection.id, b.connection.outs)  # already gone: fine, group READ withdrawn
    assert _grants(guac_db, int(b.user.id)) == (set(), set())


def test_delete_removes_connection_and_group_read(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="ws", username="u")
    providers.connection.delete(b.connection.id, b.connection.outs)
    assert _parameters(guac_db, int(b.connection.id)) == {}
    assert _grants(guac_db, int(b.user.id)) == (set(), set())
    providers.group.delete(b.group.id, b.group.outs)  # now empty → succeeds


def test_delete_keeps_group_read_needed_by_another_connection(
    providers: Providers, guac_db: GuacDb
):
    b = _binding(providers, workspace="ws", username="u")
    p = providers.connection
    second = p.create(checked(p, {**b.connection_inputs, "connection_name": "u-second"}))
    p.delete(b.connection.id, b.connection.outs)
    assert _grants(guac_db, int(b.user.id)) == ({int(second.id)}, {int(b.group.id)})


def test_adopts_legacy_connection_and_converges(providers: Providers, guac_db: GuacDb):
    with guac_db.connect() as conn:
        legacy = legacy_operator_write(conn, "test-workspace", "jovyan", "old-host")
        conn.execute("DELETE FROM guacamole_connection_permission")
        conn.execute(
            "INSERT INTO guacamole_connection_parameter VALUES (%s, 'color-depth', '8')",
            (legacy["connection_id"],),
        )
    b = _binding(providers, workspace="test-workspace", username="jovyan", hostname=HOST)
    assert int(b.group.id) == legacy["group_id"] and b.group.outs["adopted"] is True
    assert int(b.user.id) == legacy["entity_id"] and b.user.outs["adopted"] is True
    assert int(b.connection.id) == legacy["connection_id"]
    assert b.connection.outs["adopted"] is True
    assert _parameters(guac_db, legacy["connection_id"]) == {
        "hostname": HOST,
        "port": "5900",
        "password": "vnc-secret",
        "disable-copy": "true",
        "disable-paste": "true",
    }
    with guac_db.connect() as conn:
        assert visible_connections(conn, "test-workspace@jovyan") == [
            (legacy["connection_id"], "jovyan")
        ]
        assert scalar(conn, "SELECT count(*) FROM guacamole_connection") == 1


def test_adopts_non_vnc_connection_and_fixes_protocol(providers: Providers, guac_db: GuacDb):
    group = providers.group.create(checked(providers.group, {"group_name": "ws"}))
    with guac_db.connect() as conn:
        conn.execute(
            "INSERT INTO guacamole_connection (connection_name, parent_id, protocol)"
            " VALUES ('u', %s, 'rdp')",
            (int(group.id),),
        )
    b = _binding(providers, workspace="ws", username="u")
    assert b.connection.outs["adopted"] is True
    assert providers.connection.read(b.connection.id, b.connection.outs).outs["is_vnc"] is True


def test_missing_group_gives_clear_error(providers: Providers, guac_db: GuacDb):
    user = providers.user.create(checked(providers.user, {"username": "ws@u"}))
    p = providers.connection
    inputs = checked(
        p,
        {
            "group_id": 999.0,
            "entity_id": float(user.id),
            "connection_name": "u",
            "hostname": "h",
            "password": "pw",
        },
    )
    with pytest.raises(MissingReferenceError, match="connection group 999"):
        p.create(inputs)
    with guac_db.connect() as conn:
        assert scalar(conn, "SELECT count(*) FROM guacamole_connection") == 0


def test_unicode_and_metacharacters_round_trip(providers: Providers, guac_db: GuacDb):
    name = "o'brien\"; DROP TABLE guacamole_connection;--@ünï.example"
    b = _binding(providers, workspace="ws ü'\"", username=name, vnc_password="p'\"%s;--ü")
    outs = providers.connection.read(b.connection.id, b.connection.outs).outs
    assert outs["connection_name"] == name
    assert outs["password"] == "p'\"%s;--ü"
    with guac_db.connect() as conn:
        assert visible_connections(conn, f"ws ü'\"@{name}") == [(int(b.connection.id), name)]


def test_concurrent_creates_of_same_connection(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="ws", username="u")
    workers = 6
    inputs = {**b.connection_inputs, "connection_name": "raced"}

    def prepare() -> Callable[[], str]:
        provider = ConnectionProvider()
        provider.configure(configure_request(guac_db.dsn))
        return lambda: provider.create(inputs).id

    ids = race(workers, prepare)
    assert len(ids) == workers and len(set(ids)) == 1
    with guac_db.connect() as conn:
        assert (
            scalar(
                conn, "SELECT count(*) FROM guacamole_connection WHERE connection_name = 'raced'"
            )
            == 1
        )
