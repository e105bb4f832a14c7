"""States written while a binding's user was a resource of its own, run by the current providers.

What the engine does on the first ``up`` after the upgrade: the connection resource (same URN, same
type) is updated from its old outputs (``entity_id``, no ``username``) to the new inputs, then the
user resource, no longer declared, is deleted. The user must survive that delete, and keep
seeing its connection throughout.
"""

from __future__ import annotations

from components.guacamole.database import Database
from components.guacamole.drift import GONE, RecordedRow, find_drift
from components.guacamole.users import OWNER_ATTRIBUTE

from .conftest import GuacDb, Providers
from .helpers import (
    Result,
    checked,
    connection_news,
    read_grants,
    scalar,
    stored_user,
    visible_connections,
)
from .old_state import OldBinding, write_old_binding


def owned_by(connection_id: int | str) -> dict[str, str]:
    """The ownership mark of a user that connection ``connection_id`` owns."""
    return {OWNER_ATTRIBUTE: str(int(connection_id))}


def _group(providers: Providers, name: str = "ws") -> Result:
    return providers.group.create(checked(providers.group, {"group_name": name}))


def _old(guac_db: GuacDb, group: Result, username: str, workspace: str = "ws") -> OldBinding:
    return write_old_binding(
        guac_db.dsn, group_id=int(group.id), workspace=workspace, username=username
    )


def test_update_adopts_the_user_and_keeps_every_id(providers: Providers, guac_db: GuacDb):
    group = _group(providers)
    old = _old(guac_db, group, "alice")
    with guac_db.connect() as conn:
        before = stored_user(conn, "ws@alice")
    assert before is not None and before.marks == {}
    p = providers.connection
    news = connection_news(p, group_id=group.id, workspace="ws", username="alice")
    diff = p.diff(old.connection.id, old.connection.outs, news)
    assert diff.changes is True and diff.replaces == []  # an update, never a replacement
    updated = p.update(old.connection.id, old.connection.outs, news)
    assert updated.outs["connection_id"] == old.connection_id
    assert updated.outs["entity_id"] == old.entity_id
    assert updated.outs["user_id"] == before.user_id
    assert updated.outs["username"] == "ws@alice"
    with guac_db.connect() as conn:
        after = stored_user(conn, "ws@alice")
        assert visible_connections(conn, "ws@alice") == [(old.connection_id, "alice")]
    assert after is not None and after.entity_id == old.entity_id
    assert after.marks == owned_by(old.connection_id)
    # The stored credentials are kept (they are the random pair the old provider wrote).
    assert (after.password_hash, after.password_salt) == (
        before.password_hash,
        before.password_salt,
    )

    # Then the engine deletes the user resource the program no longer declares.
    providers.user.delete(old.user.id, old.user.outs)
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@alice") == after
        assert visible_connections(conn, "ws@alice") == [(old.connection_id, "alice")]
        assert read_grants(conn, old.entity_id) == ({old.connection_id}, {int(group.id)})

    # The upgraded state is consistent: nothing to refresh, nothing to change.
    refreshed = p.read(old.connection.id, updated.outs)
    assert refreshed.outs == updated.outs
    assert p.diff(old.connection.id, refreshed.outs, news).changes is False
    # From now on the connection owns its user: deleting it deletes the user.
    p.delete(old.connection.id, updated.outs)
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@alice") is None


def test_delete_of_an_unmarked_user_still_deletes_it(providers: Providers, guac_db: GuacDb):
    group = _group(providers)
    alice, bob = _old(guac_db, group, "alice"), _old(guac_db, group, "bob")
    p = providers.connection
    news = connection_news(p, group_id=group.id, workspace="ws", username="alice")
    p.update(alice.connection.id, alice.connection.outs, news)
    providers.user.delete(alice.user.id, alice.user.outs)  # marked: kept
    providers.user.delete(bob.user.id, bob.user.outs)  # not upgraded: deleted
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@alice") is not None
        assert stored_user(conn, "ws@bob") is None
        assert read_grants(conn, bob.entity_id) == (set(), set())
        assert visible_connections(conn, "ws@alice") == [(alice.connection_id, "alice")]
    providers.user.delete(bob.user.id, bob.user.outs)  # already gone: fine


def test_delete_of_an_old_connection_leaves_the_user_to_its_own_resource(
    providers: Providers, guac_db: GuacDb
):
    group = _group(providers)
    old = _old(guac_db, group, "alice")
    providers.connection.delete(old.connection.id, old.connection.outs)
    with guac_db.connect() as conn:
        assert (
            scalar(
                conn,
                "SELECT count(*) FROM guacamole_connection WHERE connection_id = %s",
                (old.connection_id,),
            )
            == 0
        )
        user = stored_user(conn, "ws@alice")
        assert user is not None and user.self_permissions == ["READ"] and user.marks == {}
        assert read_grants(conn, old.entity_id) == (set(), set())  # group READ withdrawn
    providers.user.delete(old.user.id, old.user.outs)
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@alice") is None


def test_update_to_another_username_leaves_the_old_user_to_its_resource(
    providers: Providers, guac_db: GuacDb
):
    group = _group(providers)
    old = _old(guac_db, group, "alice")
    p = providers.connection
    news = checked(
        p,
        {
            **connection_news(p, group_id=group.id, workspace="ws", username="alice"),
            "username": "ws@alice-sso",
        },
    )
    updated = p.update(old.connection.id, old.connection.outs, news)
    with guac_db.connect() as conn:
        sso = stored_user(conn, "ws@alice-sso")
        assert sso is not None and sso.marks == owned_by(old.connection_id)
        assert updated.outs["entity_id"] == sso.entity_id != old.entity_id
        assert visible_connections(conn, "ws@alice-sso") == [(old.connection_id, "alice")]
        assert visible_connections(conn, "ws@alice") == []
        assert stored_user(conn, "ws@alice") is not None  # not this update's to delete
    providers.user.delete(old.user.id, old.user.outs)
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@alice") is None
        assert visible_connections(conn, "ws@alice-sso") == [(old.connection_id, "alice")]


def test_replacement_during_the_upgrade_keeps_the_user(providers: Providers, guac_db: GuacDb):
    """The group changes in the same run: create the new connection, delete the old one (old
    outputs), then delete the old user resource."""
    first, second = _group(providers, "ws"), _group(providers, "ws-moved")
    old = _old(guac_db, first, "alice")
    p = providers.connection
    news = connection_news(p, group_id=second.id, workspace="ws", username="alice")
    assert p.diff(old.connection.id, old.connection.outs, news).replaces == ["group_id"]
    created = p.create(news)
    p.delete(old.connection.id, old.connection.outs)
    providers.user.delete(old.user.id, old.user.outs)
    with guac_db.connect() as conn:
        user = stored_user(conn, "ws@alice")
        assert user is not None and user.entity_id == old.entity_id
        assert user.marks == owned_by(created.id)
        assert read_grants(conn, old.entity_id) == ({int(created.id)}, {int(second.id)})


def test_refresh_of_an_old_state_is_not_drift(providers: Providers, guac_db: GuacDb):
    group = _group(providers)
    old = _old(guac_db, group, "alice")
    refreshed = providers.connection.read(old.connection.id, old.connection.outs)
    assert refreshed.id == old.connection.id
    assert refreshed.outs == old.connection.outs  # no user keys are added to an old state
    assert providers.user.read(old.user.id, old.user.outs).outs["enabled"] is True
    rows = [
        RecordedRow("urn:user", "User", old.user.id, old.user.outs),
        RecordedRow("urn:connection", "Connection", old.connection.id, old.connection.outs),
    ]
    database = Database(guac_db.dsn)
    try:
        assert database.run(lambda cur: find_drift(cur, rows), read_only=True) == []
        with guac_db.connect() as conn:
            conn.execute("DELETE FROM guacamole_entity WHERE entity_id = %s", (old.entity_id,))
        # An old connection state does not own its user: its loss shows as lost READ.
        found = database.run(lambda cur: find_drift(cur, rows), read_only=True)
    finally:
        database.close()
    assert [(d.urn, d.fields) for d in found] == [
        ("urn:user", (GONE,)),
        ("urn:connection", ("read_on_connection", "read_on_group")),
    ]
