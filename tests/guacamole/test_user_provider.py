"""GuacamoleUser provider against a real database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.guacamole.errors import RowGoneError
from components.guacamole.hashing import guacamole_password_hash
from components.guacamole.providers import UserProvider

from .conftest import GuacDb, Providers, configure_request
from .helpers import LEGACY_BYTES, checked, legacy_operator_write, race, scalar

NASTY = "o'brien\"; DROP TABLE guacamole_user;--@ünï.example"


def _user(db: GuacDb, name: str):
    return db.rows(
        "SELECT e.entity_id, u.user_id, u.password_hash, u.password_salt, u.password_date,"
        " (SELECT array_agg(p.permission::text ORDER BY p.permission) FROM"
        "   guacamole_user_permission AS p"
        "   WHERE p.entity_id = e.entity_id AND p.affected_user_id = u.user_id)"
        " FROM guacamole_entity AS e LEFT JOIN guacamole_user AS u USING (entity_id)"
        " WHERE e.type = 'USER' AND e.name = %s",
        (name,),
    )


def test_create_without_password_has_no_usable_password(providers: Providers, guac_db: GuacDb):
    p = providers.user
    inputs = checked(p, {"username": "ws@alice"})
    created = p.create(inputs)
    [(entity_id, user_id, digest, salt, date, perms)] = _user(guac_db, "ws@alice")
    assert created.id == str(entity_id)
    assert created.outs["entity_id"] == entity_id and created.outs["user_id"] == user_id
    assert len(bytes(salt)) == 32 and len(bytes(digest)) == 32
    for guess in ("", "null", "ws@alice", "guacadmin"):
        assert guacamole_password_hash(guess, bytes(salt)) != bytes(digest)
    assert date is not None
    assert perms == ["READ"]
    assert "password" not in created.outs


def test_password_is_hashed_like_guacamole(providers: Providers, guac_db: GuacDb):
    p = providers.user
    created = p.create(checked(p, {"username": "ws@bob", "password": "pässword"}))
    [(_, _, digest, salt, _, _)] = _user(guac_db, "ws@bob")
    import hashlib

    expected = hashlib.sha256(("pässword" + bytes(salt).hex().upper()).encode()).digest()
    assert bytes(digest) == expected
    assert created.outs["password"] == "pässword"
    assert p.read(created.id, created.outs).outs["password_current"] is True


def test_read_update_delete(providers: Providers, guac_db: GuacDb):
    p = providers.user
    inputs = checked(p, {"username": "ws@carol", "password": "one"})
    created = p.create(inputs)
    read = p.read(created.id, created.outs)
    assert read.outs["username"] == "ws@carol"
    assert p.diff(created.id, read.outs, inputs).changes is False

    new_inputs = checked(p, {"username": "ws@carol", "password": "two"})
    diff = p.diff(created.id, read.outs, new_inputs)
    assert diff.changes is True and diff.replaces == []
    updated = p.update(created.id, read.outs, new_inputs)
    [(entity_id, _, digest, salt, _, _)] = _user(guac_db, "ws@carol")
    assert entity_id == int(created.id)
    assert bytes(digest) == guacamole_password_hash("two", bytes(salt))

    # Dropping the password makes it unusable again.
    dropped = checked(p, {"username": "ws@carol"})
    assert p.diff(created.id, updated.outs, dropped).changes is True
    p.update(created.id, updated.outs, dropped)
    [(_, _, digest, salt, _, _)] = _user(guac_db, "ws@carol")
    assert bytes(digest) != guacamole_password_hash("two", bytes(salt))

    p.delete(created.id, updated.outs)
    assert _user(guac_db, "ws@carol") == []
    p.delete(created.id, updated.outs)
    assert p.read(created.id, updated.outs).id == ""


def test_delete_cascades_permissions(providers: Providers, guac_db: GuacDb):
    with guac_db.connect() as conn:
        ids = legacy_operator_write(conn, "ws", "dave", "h")
    p = providers.user
    created = p.create(checked(p, {"username": "ws@dave"}))
    assert int(created.id) == ids["entity_id"]
    p.delete(created.id, created.outs)
    with guac_db.connect() as conn:
        for table in (
            "guacamole_user",
            "guacamole_user_permission",
            "guacamole_connection_permission",
            "guacamole_connection_group_permission",
        ):
            count = scalar(
                conn, f"SELECT count(*) FROM {table} WHERE entity_id = %s", (ids["entity_id"],)
            )
            assert count == 0, table


def test_adopts_legacy_user_and_fixes_credentials(providers: Providers, guac_db: GuacDb):
    with guac_db.connect() as conn:
        ids = legacy_operator_write(conn, "test-workspace", "jovyan", "h")
        conn.execute("DELETE FROM guacamole_user_permission")
    [(_, _, digest, _, _, _)] = _user(guac_db, "test-workspace@jovyan")
    assert bytes(digest) == LEGACY_BYTES and len(LEGACY_BYTES) == 48
    p = providers.user
    created = p.create(checked(p, {"username": "test-workspace@jovyan", "password": "pw"}))
    assert created.outs["adopted"] is True
    assert int(created.id) == ids["entity_id"] and created.outs["user_id"] == ids["user_id"]
    [(_, user_id, digest, salt, _, perms)] = _user(guac_db, "test-workspace@jovyan")
    assert user_id == ids["user_id"]
    assert bytes(digest) == guacamole_password_hash("pw", bytes(salt))
    assert perms == ["READ"]


def test_adopts_entity_without_user_row(providers: Providers, guac_db: GuacDb):
    with guac_db.connect() as conn:
        conn.execute("INSERT INTO guacamole_entity (name, type) VALUES ('ws@half', 'USER')")
    created = providers.user.create(checked(providers.user, {"username": "ws@half"}))
    [(_, user_id, _, _, _, perms)] = _user(guac_db, "ws@half")
    assert user_id is not None and perms == ["READ"]
    assert created.outs["adopted"] is True


def test_refresh_detects_removed_self_permission_and_stale_password(
    providers: Providers, guac_db: GuacDb
):
    p = providers.user
    inputs = checked(p, {"username": "ws@erin", "password": "pw"})
    created = p.create(inputs)
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_user_permission")
        conn.execute("UPDATE guacamole_user SET password_hash = '\\x00'")
    refreshed = p.read(created.id, created.outs)
    assert refreshed.outs["self_read"] is False
    assert refreshed.outs["password_current"] is False
    assert p.diff(created.id, refreshed.outs, inputs).changes is True
    repaired = p.update(created.id, refreshed.outs, inputs)
    again = p.read(created.id, repaired.outs)
    assert again.outs["self_read"] is True and again.outs["password_current"] is True
    assert p.diff(created.id, again.outs, inputs).changes is False


def test_refresh_detects_removed_user_row(providers: Providers, guac_db: GuacDb):
    p = providers.user
    inputs = checked(p, {"username": "ws@frank"})
    created = p.create(inputs)
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_user")
    refreshed = p.read(created.id, created.outs)
    assert refreshed.id == created.id and refreshed.outs["has_user_row"] is False
    assert p.diff(created.id, refreshed.outs, inputs).changes is True
    p.update(created.id, refreshed.outs, inputs)
    [(_, user_id, _, _, _, perms)] = _user(guac_db, "ws@frank")
    assert user_id is not None and perms == ["READ"]


def test_refresh_after_out_of_band_delete(providers: Providers, guac_db: GuacDb):
    p = providers.user
    created = p.create(checked(p, {"username": "ws@gone"}))
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_entity WHERE name = 'ws@gone'")
    assert p.read(created.id, created.outs).id == ""
    with pytest.raises(RowGoneError):
        p.update(created.id, created.outs, checked(p, {"username": "ws@gone"}))


def test_sql_metacharacters_and_unicode_round_trip(providers: Providers, guac_db: GuacDb):
    p = providers.user
    created = p.create(checked(p, {"username": NASTY}))
    assert p.read(created.id, created.outs).outs["username"] == NASTY
    assert len(_user(guac_db, NASTY)) == 1
    with guac_db.connect() as conn:  # the table is, of course, still there
        assert scalar(conn, "SELECT count(*) FROM guacamole_user") == 2


def test_concurrent_creates_make_one_user(guac_db: GuacDb):
    workers = 6

    def prepare() -> Callable[[], str]:
        provider = UserProvider()
        provider.configure(configure_request(guac_db.dsn))
        inputs = checked(provider, {"username": "ws@race"})
        return lambda: provider.create(inputs).id

    ids = race(workers, prepare)
    assert len(ids) == workers and len(set(ids)) == 1
    assert len(_user(guac_db, "ws@race")) == 1
