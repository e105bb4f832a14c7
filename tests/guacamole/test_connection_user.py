"""The user a connection owns: deleted with it, watched by its ``read`` and by the drift check,
moved by an update of ``username``."""

from __future__ import annotations

from components.guacamole.database import Database
from components.guacamole.drift import GONE, Drift, RecordedRow, compare, find_drift
from components.guacamole.users import OWNER_ATTRIBUTE

from .conftest import GuacDb, Providers
from .helpers import (
    ENTITY_TABLES,
    Binding,
    checked,
    create_binding,
    entity_rows,
    read_grants,
    scalar,
    stored_user,
    user_count,
    visible_connections,
)


def _binding(providers: Providers, workspace: str = "ws", username: str = "u") -> Binding:
    return create_binding(
        providers.group, providers.connection, workspace=workspace, username=username
    )


def _drift(db: GuacDb, binding: Binding, outs: dict[str, object] | None = None) -> list[Drift]:
    recorded = outs if outs is not None else binding.connection.outs
    rows = [RecordedRow("urn:connection", "Connection", binding.connection.id, recorded)]
    database = Database(db.dsn)
    try:
        return database.run(lambda cur: find_drift(cur, rows), read_only=True)
    finally:
        database.close()


def test_delete_removes_user_connection_and_group_read(providers: Providers, guac_db: GuacDb):
    b = _binding(providers)
    other = _binding(providers, username="other")
    providers.connection.delete(b.connection.id, b.connection.outs)
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@u") is None
        assert entity_rows(conn, b.entity_id) == dict.fromkeys(ENTITY_TABLES, 0)
        assert (
            scalar(
                conn,
                "SELECT count(*) FROM guacamole_connection WHERE connection_id = %s",
                (int(b.connection.id),),
            )
            == 0
        )
        # The other binding of the workspace is untouched.
        assert visible_connections(conn, "ws@other") == [(int(other.connection.id), "other")]
        assert user_count(conn) == 2  # guacadmin and ws@other
    providers.connection.delete(other.connection.id, other.connection.outs)
    providers.group.delete(b.group.id, b.group.outs)  # now empty: the group goes
    assert guac_db.rows("SELECT count(*) FROM guacamole_connection_group") == [(0,)]


def test_read_reports_the_grant_gone_when_the_user_was_deleted(
    providers: Providers, guac_db: GuacDb
):
    b = _binding(providers)
    p = providers.connection
    assert p.read(b.connection.id, b.connection.outs).id == b.connection.id
    assert _drift(guac_db, b) == []
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_entity WHERE entity_id = %s", (b.entity_id,))
    assert p.read(b.connection.id, b.connection.outs).id == ""
    assert _drift(guac_db, b) == [Drift("urn:connection", (GONE,))]
    # The engine forgets the resource; the next `up` creates it, adopting the connection.
    again = p.create(b.connection_inputs)
    assert again.id == b.connection.id and again.outs["adopted"] is True
    with guac_db.connect() as conn:
        assert visible_connections(conn, "ws@u") == [(int(b.connection.id), "u")]


def test_a_disabled_user_is_drift_and_enabled_again(providers: Providers, guac_db: GuacDb):
    b = _binding(providers)
    p = providers.connection
    with guac_db.connect() as conn:
        conn.execute(
            "UPDATE guacamole_user SET disabled = true WHERE entity_id = %s", (b.entity_id,)
        )
    refreshed = p.read(b.connection.id, b.connection.outs)
    assert refreshed.id == b.connection.id and refreshed.outs["enabled"] is False
    assert compare("Connection", b.connection.outs, refreshed.outs) == ("enabled",)
    assert _drift(guac_db, b) == [Drift("urn:connection", ("enabled",))]
    diff = p.diff(b.connection.id, refreshed.outs, b.connection_inputs)
    assert diff.changes is True and diff.replaces == []
    repaired = p.update(b.connection.id, refreshed.outs, b.connection_inputs)
    assert repaired.outs["enabled"] is True
    assert guac_db.rows(
        "SELECT disabled FROM guacamole_user WHERE entity_id = %s", (b.entity_id,)
    ) == [(False,)]
    assert _drift(guac_db, b, repaired.outs) == []
    again = p.read(b.connection.id, repaired.outs)
    assert p.diff(b.connection.id, again.outs, b.connection_inputs).changes is False


def test_missing_self_read_and_user_row_are_repaired(providers: Providers, guac_db: GuacDb):
    b = _binding(providers)
    p = providers.connection
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_user_permission")
    refreshed = p.read(b.connection.id, b.connection.outs)
    assert refreshed.outs["self_read"] is False and refreshed.outs["has_user_row"] is True
    assert _drift(guac_db, b) == [Drift("urn:connection", ("self_read",))]
    p.update(b.connection.id, refreshed.outs, b.connection_inputs)
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@u").self_permissions == ["READ"]  # type: ignore[union-attr]
        conn.execute("DELETE FROM guacamole_user WHERE entity_id = %s", (b.entity_id,))
    refreshed = p.read(b.connection.id, b.connection.outs)
    assert refreshed.outs["has_user_row"] is False and refreshed.outs["user_id"] is None
    assert refreshed.outs["enabled"] is False
    assert p.diff(b.connection.id, refreshed.outs, b.connection_inputs).changes is True
    repaired = p.update(b.connection.id, refreshed.outs, b.connection_inputs)
    with guac_db.connect() as conn:
        user = stored_user(conn, "ws@u")
    assert user is not None and user.entity_id == b.entity_id
    assert user.user_id == repaired.outs["user_id"] and user.user_id is not None
    assert user.self_permissions == ["READ"] and user.disabled is False
    assert user.marks == {OWNER_ATTRIBUTE: b.connection.id}  # the new user row is marked again
    assert _drift(guac_db, b, repaired.outs) == []


def test_update_of_username_moves_read_and_deletes_the_previous_user(
    providers: Providers, guac_db: GuacDb
):
    b = _binding(providers, username="alice")
    neighbour = _binding(providers, username="bob")
    p = providers.connection
    cid, gid = int(b.connection.id), int(b.group.id)
    news = checked(p, {**b.connection_inputs, "username": "ws@alice-renamed"})
    diff = p.diff(b.connection.id, b.connection.outs, news)
    assert diff.changes is True and diff.replaces == []
    updated = p.update(b.connection.id, b.connection.outs, news)
    assert updated.id == b.connection.id and updated.outs["username"] == "ws@alice-renamed"
    with guac_db.connect() as conn:
        renamed = stored_user(conn, "ws@alice-renamed")
        assert renamed is not None and renamed.entity_id != b.entity_id
        assert updated.outs["entity_id"] == renamed.entity_id
        assert renamed.marks == {OWNER_ATTRIBUTE: b.connection.id}
        assert read_grants(conn, renamed.entity_id) == ({cid}, {gid})
        assert visible_connections(conn, "ws@alice-renamed") == [(cid, "alice")]
        assert stored_user(conn, "ws@alice") is None  # the previous owned user is deleted
        assert read_grants(conn, b.entity_id) == (set(), set())
        assert visible_connections(conn, "ws@bob") == [(int(neighbour.connection.id), "bob")]
        assert user_count(conn) == 3  # guacadmin, ws@alice-renamed, ws@bob
    refreshed = p.read(b.connection.id, updated.outs)
    assert p.diff(b.connection.id, refreshed.outs, news).changes is False


def test_update_of_username_to_an_existing_user_adopts_it(providers: Providers, guac_db: GuacDb):
    b = _binding(providers, username="alice")
    with guac_db.connect() as conn:
        conn.execute("INSERT INTO guacamole_entity (name, type) VALUES ('ws@carol', 'USER')")
    p = providers.connection
    news = checked(p, {**b.connection_inputs, "username": "ws@carol"})
    updated = p.update(b.connection.id, b.connection.outs, news)
    with guac_db.connect() as conn:
        carol = stored_user(conn, "ws@carol")
        assert carol is not None and carol.user_id is not None
        assert updated.outs["entity_id"] == carol.entity_id
        assert carol.self_permissions == ["READ"] and carol.marks == {
            OWNER_ATTRIBUTE: b.connection.id
        }
        assert visible_connections(conn, "ws@carol") == [(int(b.connection.id), "alice")]
        assert stored_user(conn, "ws@alice") is None


def test_a_replacement_with_the_same_user_keeps_it(providers: Providers, guac_db: GuacDb):
    """The group was recreated (new id) or ``--replace``: the engine creates the new connection,
    which adopts the user, before it deletes the old one; the user must outlive that delete."""
    b = _binding(providers, username="alice")
    p = providers.connection
    moved = providers.group.create(checked(providers.group, {"group_name": "ws-moved"}))
    news = checked(p, {**b.connection_inputs, "group_id": int(moved.id)})
    assert p.diff(b.connection.id, b.connection.outs, news).replaces == ["group_id"]
    created = p.create(news)
    p.delete(b.connection.id, b.connection.outs)
    with guac_db.connect() as conn:
        user = stored_user(conn, "ws@alice")
        assert user is not None and user.entity_id == b.entity_id
        assert user.marks == {OWNER_ATTRIBUTE: created.id}
        assert visible_connections(conn, "ws@alice") == [(int(created.id), "alice")]
        assert not scalar(
            conn,
            "SELECT count(*) FROM guacamole_connection WHERE connection_id = %s",
            (int(b.connection.id),),
        )
    p.delete(created.id, created.outs)
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@alice") is None  # its owner's delete still removes it
