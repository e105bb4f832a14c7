"""GuacamoleConnection provider against a real database: the connection, its user, and what
Guacamole then shows."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.guacamole.errors import MissingReferenceError, RowGoneError
from components.guacamole.hashing import guacamole_password_hash
from components.guacamole.providers import ConnectionProvider
from components.guacamole.users import OWNER_ATTRIBUTE

from .conftest import GuacDb, Providers, configure_request
from .helpers import (
    LEGACY_BYTES,
    Binding,
    checked,
    create_binding,
    legacy_operator_write,
    one,
    race,
    read_grants,
    scalar,
    stored_user,
    user_count,
    visible_connections,
)

HOST = "client-897058694bb051b186d83b514ad204a5.guacamole.svc.cluster.local"


def owned_by(connection_id: int | str) -> dict[str, str]:
    """The ownership mark of a user that connection ``connection_id`` owns."""
    return {OWNER_ATTRIBUTE: str(int(connection_id))}


def _parameters(db: GuacDb, connection_id: int) -> dict[str, str]:
    rows = db.rows(
        "SELECT parameter_name, parameter_value FROM guacamole_connection_parameter"
        " WHERE connection_id = %s",
        (connection_id,),
    )
    return {str(name): str(value) for name, value in rows}


def _grants(db: GuacDb, entity_id: int) -> tuple[set[int], set[int]]:
    with db.connect() as conn:
        return read_grants(conn, entity_id)


def _binding(providers: Providers, **kwargs) -> Binding:
    return create_binding(providers.group, providers.connection, **kwargs)


def test_create_writes_user_and_connection(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="default-generic-workspace", username="jovyan", hostname=HOST)
    cid, gid = int(b.connection.id), int(b.group.id)
    assert _parameters(guac_db, cid) == {
        "hostname": HOST,
        "port": "5900",
        "password": "vnc-secret",
        "disable-copy": "true",
        "disable-paste": "true",
    }
    with guac_db.connect() as conn:
        row = one(conn, "SELECT connection_name, parent_id, protocol FROM guacamole_connection")
        user = stored_user(conn, "default-generic-workspace@jovyan")
    assert row == ("jovyan", gid, "vnc")
    assert user is not None and user.user_id is not None
    assert user.disabled is False and user.self_permissions == ["READ"]
    assert user.marks == owned_by(cid)
    assert _grants(guac_db, user.entity_id) == ({cid}, {gid})
    # Sign-in is through single sign-on: the random pair accepts no password.
    assert user.password_hash is not None and user.password_salt is not None
    assert len(user.password_hash) == 32 and len(user.password_salt) == 32
    for guess in ("", "null", "default-generic-workspace@jovyan", "guacadmin", "vnc-secret"):
        assert guacamole_password_hash(guess, user.password_salt) != user.password_hash
    outs = b.connection.outs
    assert (outs["connection_id"], outs["entity_id"]) == (cid, user.entity_id)
    assert (outs["username"], outs["user_id"]) == ("default-generic-workspace@jovyan", user.user_id)
    assert outs["enabled"] is outs["self_read"] is outs["has_user_row"] is True
    assert outs["adopted"] is False


def test_create_is_one_transaction(providers: Providers, guac_db: GuacDb):
    """The connection cannot be written (no such group): the user is not left behind either."""
    p = providers.connection
    inputs = checked(
        p,
        {
            "group_id": 999.0,
            "username": "ws@u",
            "connection_name": "u",
            "hostname": "h",
            "password": "pw",
        },
    )
    with pytest.raises(MissingReferenceError, match="connection group 999"):
        p.create(inputs)
    with guac_db.connect() as conn:
        assert scalar(conn, "SELECT count(*) FROM guacamole_connection") == 0
        assert user_count(conn) == 1  # guacadmin only
        assert stored_user(conn, "ws@u") is None
        assert scalar(conn, "SELECT count(*) FROM guacamole_user_attribute") == 0


def test_guacamole_shows_exactly_the_users_connection(providers: Providers, guac_db: GuacDb):
    alice = _binding(providers, workspace="ws", username="alice")
    _binding(providers, workspace="ws", username="bob")
    _binding(providers, workspace="other-ws", username="alice")
    with guac_db.connect() as conn:
        assert visible_connections(conn, "ws@alice") == [(int(alice.connection.id), "alice")]
        # Without READ on the group, the tree hides the connection.
        conn.execute(
            "DELETE FROM guacamole_connection_group_permission WHERE entity_id = %s",
            (alice.entity_id,),
        )
        assert visible_connections(conn, "ws@alice") == []


def test_update_in_place(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="ws", username="u1")
    p = providers.connection
    cid, gid = int(b.connection.id), int(b.group.id)
    with guac_db.connect() as conn:
        before = stored_user(conn, "ws@u1")
    news = checked(
        p,
        {
            **b.connection_inputs,
            "hostname": "new-host",
            "port": 5901.0,
            "password": "rotated",
            "disable_copy": False,
        },
    )
    diff = p.diff(b.connection.id, b.connection.outs, news)
    assert diff.changes is True and diff.replaces == []
    updated = p.update(b.connection.id, b.connection.outs, news)
    assert updated.outs["entity_id"] == b.entity_id
    assert _parameters(guac_db, cid) == {
        "hostname": "new-host",
        "port": "5901",
        "password": "rotated",
        "disable-copy": "false",
        "disable-paste": "true",
    }
    assert _grants(guac_db, b.entity_id) == ({cid}, {gid})
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@u1") == before  # the user is kept as it was
    refreshed = p.read(b.connection.id, updated.outs)
    assert p.diff(b.connection.id, refreshed.outs, news).changes is False


def test_refresh_after_out_of_band_edits_then_repair(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="ws", username="u")
    p = providers.connection
    cid, eid = int(b.connection.id), b.entity_id
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
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@u") is not None  # the failed update rolled back
    p.delete(b.connection.id, b.connection.outs)  # already gone: fine, the user goes too
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@u") is None
    assert _grants(guac_db, b.entity_id) == (set(), set())


def test_adopts_legacy_rows_and_marks_the_user(providers: Providers, guac_db: GuacDb):
    with guac_db.connect() as conn:
        legacy = legacy_operator_write(conn, "test-workspace", "jovyan", "old-host")
        conn.execute("DELETE FROM guacamole_connection_permission")
        conn.execute("DELETE FROM guacamole_user_permission")
        conn.execute("UPDATE guacamole_user SET disabled = true")
        conn.execute(
            "INSERT INTO guacamole_connection_parameter VALUES (%s, 'color-depth', '8')",
            (legacy["connection_id"],),
        )
        assert stored_user(conn, "test-workspace@jovyan").marks == {}  # type: ignore[union-attr]
    b = _binding(providers, workspace="test-workspace", username="jovyan", hostname=HOST)
    assert int(b.group.id) == legacy["group_id"] and b.group.outs["adopted"] is True
    assert int(b.connection.id) == legacy["connection_id"]
    assert b.entity_id == legacy["entity_id"]
    assert b.connection.outs["user_id"] == legacy["user_id"]
    assert b.connection.outs["adopted"] is True
    assert _parameters(guac_db, legacy["connection_id"]) == {
        "hostname": HOST,
        "port": "5900",
        "password": "vnc-secret",
        "disable-copy": "true",
        "disable-paste": "true",
    }
    with guac_db.connect() as conn:
        user = stored_user(conn, "test-workspace@jovyan")
        assert visible_connections(conn, "test-workspace@jovyan") == [
            (legacy["connection_id"], "jovyan")
        ]
        assert scalar(conn, "SELECT count(*) FROM guacamole_connection") == 1
        assert user_count(conn) == 2  # guacadmin and the adopted user
    assert user is not None and user.user_id == legacy["user_id"]
    assert user.marks == owned_by(legacy["connection_id"]) and user.self_permissions == ["READ"]
    assert user.disabled is False
    assert user.password_hash is not None and len(user.password_hash) == 32
    assert user.password_hash != LEGACY_BYTES and user.password_salt != LEGACY_BYTES
    refreshed = providers.connection.read(b.connection.id, b.connection.outs)
    assert refreshed.outs == b.connection.outs  # nothing left to repair
    diff = providers.connection.diff(b.connection.id, refreshed.outs, b.connection_inputs)
    assert diff.changes is False


def test_adopts_entity_without_user_row(providers: Providers, guac_db: GuacDb):
    with guac_db.connect() as conn:
        conn.execute("INSERT INTO guacamole_entity (name, type) VALUES ('ws@half', 'USER')")
    b = _binding(providers, workspace="ws", username="half")
    with guac_db.connect() as conn:
        user = stored_user(conn, "ws@half")
    assert user is not None and user.user_id is not None
    assert user.self_permissions == ["READ"] and user.marks == owned_by(b.connection.id)
    assert b.connection.outs["adopted"] is True


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


def test_unicode_and_metacharacters_round_trip(providers: Providers, guac_db: GuacDb):
    name = "o'brien\"; DROP TABLE guacamole_connection;--@ünï.example"
    b = _binding(providers, workspace="ws ü'\"", username=name, vnc_password="p'\"%s;--ü")
    outs = providers.connection.read(b.connection.id, b.connection.outs).outs
    assert outs["connection_name"] == name
    assert outs["username"] == f"ws ü'\"@{name}"
    assert outs["password"] == "p'\"%s;--ü"
    with guac_db.connect() as conn:
        assert visible_connections(conn, f"ws ü'\"@{name}") == [(int(b.connection.id), name)]


def test_concurrent_creates_make_one_connection_and_one_user(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, workspace="ws", username="u")
    workers = 6
    inputs = {**b.connection_inputs, "username": "ws@raced", "connection_name": "raced"}

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
        assert user_count(conn) == 3  # guacadmin, ws@u, ws@raced
        raced = stored_user(conn, "ws@raced")
        assert raced is not None and raced.marks == owned_by(ids[0])
        assert read_grants(conn, raced.entity_id) == ({int(ids[0])}, {int(b.group.id)})
