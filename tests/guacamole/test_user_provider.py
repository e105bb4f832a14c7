"""The user SQL (``users``) and what remains of the user provider: read and delete of the user
resources older states still hold."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from components.guacamole import users
from components.guacamole.database import Cursor, Database
from components.guacamole.hashing import guacamole_password_hash, make_credentials
from components.guacamole.providers import UserProvider

from .conftest import GuacDb, Providers
from .helpers import (
    ENTITY_TABLES,
    LEGACY_BYTES,
    entity_rows,
    legacy_operator_write,
    race,
    scalar,
    stored_user,
)

NASTY = "o'brien\"; DROP TABLE guacamole_user;--@ünï.example"

T = TypeVar("T")


def _run(db: GuacDb, work: Callable[[Cursor], T]) -> T:
    database = Database(db.dsn)
    try:
        return database.run(work)
    finally:
        database.close()


def _ensure(db: GuacDb, name: str, password: str | None = None) -> users.EnsuredUser:
    credentials = make_credentials(password)
    return _run(db, lambda cur: users.ensure_user(cur, name, credentials))


def _old_outputs(ensured: users.EnsuredUser, name: str) -> dict[str, object]:
    """What the old user provider recorded (numbers as floats, as the state returns them)."""
    return {
        "username": name,
        "entity_id": float(ensured.entity_id),
        "user_id": float(ensured.user_id),
        "has_user_row": True,
        "self_read": True,
        "password_current": True,
        "enabled": True,
        "adopted": False,
    }


def test_ensure_user_hashes_a_password_like_guacamole(guac_db: GuacDb):
    ensured = _ensure(guac_db, "ws@bob", "pässword")
    with guac_db.connect() as conn:
        user = stored_user(conn, "ws@bob")
    assert user is not None and user.entity_id == ensured.entity_id and ensured.created
    assert user.password_salt is not None and user.password_hash is not None
    import hashlib

    salt_hex = user.password_salt.hex().upper()
    assert user.password_hash == hashlib.sha256(("pässword" + salt_hex).encode()).digest()
    assert user.self_permissions == ["READ"] and user.disabled is False


def test_ensure_user_adopts_legacy_rows_and_resets_credentials(guac_db: GuacDb):
    with guac_db.connect() as conn:
        ids = legacy_operator_write(conn, "test-workspace", "jovyan", "h")
        conn.execute("DELETE FROM guacamole_user_permission")
        conn.execute("UPDATE guacamole_user SET disabled = true")
        legacy = stored_user(conn, "test-workspace@jovyan")
    assert legacy is not None and legacy.password_hash == LEGACY_BYTES and len(LEGACY_BYTES) == 48
    ensured = _ensure(guac_db, "test-workspace@jovyan", "pw")
    assert not ensured.created
    assert (ensured.entity_id, ensured.user_id) == (ids["entity_id"], ids["user_id"])
    with guac_db.connect() as conn:
        user = stored_user(conn, "test-workspace@jovyan")
    assert user is not None and user.password_salt is not None
    assert user.password_hash == guacamole_password_hash("pw", user.password_salt)
    assert user.self_permissions == ["READ"] and user.disabled is False
    assert user.marks == {}  # marking is the connection's business (``access``)


def test_ensure_user_concurrently_makes_one_user(guac_db: GuacDb):
    database = Database(guac_db.dsn)
    try:

        def prepare() -> Callable[[], str]:
            credentials = make_credentials(None)
            return lambda: str(
                database.run(lambda cur: users.ensure_user(cur, "ws@race", credentials)).entity_id
            )

        ids = race(6, prepare)
    finally:
        database.close()
    assert len(ids) == 6 and len(set(ids)) == 1
    assert guac_db.rows("SELECT count(*) FROM guacamole_entity WHERE name = 'ws@race'") == [(1,)]


def test_mark_and_delete_unowned_user(guac_db: GuacDb):
    marked, plain = _ensure(guac_db, "ws@marked"), _ensure(guac_db, "ws@plain")
    _run(guac_db, lambda cur: users.mark_owned(cur, marked.user_id, 41))
    _run(guac_db, lambda cur: users.mark_owned(cur, marked.user_id, 41))  # idempotent
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@marked").marks == {users.OWNER_ATTRIBUTE: "41"}  # type: ignore[union-attr]
        assert stored_user(conn, "ws@plain").marks == {}  # type: ignore[union-attr]
    assert _run(guac_db, lambda cur: users.delete_unowned_user(cur, marked.entity_id)) is True
    assert _run(guac_db, lambda cur: users.delete_unowned_user(cur, plain.entity_id)) is False
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@marked") is not None
        assert stored_user(conn, "ws@plain") is None


def test_an_owned_user_is_deleted_only_for_its_owner(guac_db: GuacDb):
    owned, plain = _ensure(guac_db, "ws@owned"), _ensure(guac_db, "ws@unmarked")
    _run(guac_db, lambda cur: users.mark_owned(cur, owned.user_id, 41))
    _run(guac_db, lambda cur: users.mark_owned(cur, owned.user_id, 42))  # the last owner wins
    assert _run(guac_db, lambda cur: users.delete_owned_user(cur, owned.entity_id, 41)) is True
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@owned") is not None
    assert _run(guac_db, lambda cur: users.delete_owned_user(cur, owned.entity_id, 42)) is False
    assert _run(guac_db, lambda cur: users.delete_owned_user(cur, plain.entity_id, 7)) is False
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@owned") is None
        assert stored_user(conn, "ws@unmarked") is None


def test_read_reports_the_stored_user_and_its_drift(providers: Providers, guac_db: GuacDb):
    ensured = _ensure(guac_db, "ws@erin")
    outs = _old_outputs(ensured, "ws@erin")
    p = providers.user
    read = p.read(str(ensured.entity_id), outs)
    assert read.id == str(ensured.entity_id)
    assert read.outs == {
        "username": "ws@erin",
        "entity_id": ensured.entity_id,
        "user_id": ensured.user_id,
        "has_user_row": True,
        "self_read": True,
        "enabled": True,
        "adopted": False,
    }
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_user_permission")
        conn.execute("UPDATE guacamole_user SET disabled = true")
    drifted = p.read(str(ensured.entity_id), outs).outs
    assert drifted["self_read"] is False and drifted["enabled"] is False
    assert p.diff(str(ensured.entity_id), drifted, {"username": "ws@erin"}).changes is True
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_user")
    no_row = p.read(str(ensured.entity_id), outs).outs
    assert no_row["has_user_row"] is False and no_row["user_id"] is None
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_entity WHERE name = 'ws@erin'")
    assert p.read(str(ensured.entity_id), outs).id == ""


def test_read_round_trips_metacharacters_and_unicode(providers: Providers, guac_db: GuacDb):
    ensured = _ensure(guac_db, NASTY)
    read = providers.user.read(str(ensured.entity_id), _old_outputs(ensured, NASTY))
    assert read.outs["username"] == NASTY
    with guac_db.connect() as conn:  # the table is, of course, still there
        assert scalar(conn, "SELECT count(*) FROM guacamole_user") == 2


def test_delete_cascades_permissions(providers: Providers, guac_db: GuacDb):
    with guac_db.connect() as conn:
        ids = legacy_operator_write(conn, "ws", "dave", "h")
    entity = str(ids["entity_id"])
    providers.user.delete(entity, {"username": "ws@dave", "entity_id": float(ids["entity_id"])})
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@dave") is None
        assert entity_rows(conn, ids["entity_id"]) == dict.fromkeys(ENTITY_TABLES, 0)
    providers.user.delete(entity, {"username": "ws@dave"})  # already gone: fine


def test_delete_keeps_a_user_its_connection_owns(providers: Providers, guac_db: GuacDb):
    ensured = _ensure(guac_db, "ws@kept")
    _run(guac_db, lambda cur: users.mark_owned(cur, ensured.user_id, 7))
    providers.user.delete(str(ensured.entity_id), _old_outputs(ensured, "ws@kept"))
    with guac_db.connect() as conn:
        user = stored_user(conn, "ws@kept")
    assert user is not None and user.user_id == ensured.user_id
    assert user.self_permissions == ["READ"]


def test_the_user_provider_only_reads_and_deletes(guac_db: GuacDb):
    own = [c for c in UserProvider.__mro__ if c.__module__.startswith("components.")]
    for method in ("create", "update"):
        assert not any(method in vars(c) for c in own), method
    with pytest.raises(Exception, match="must implement 'create'"):
        UserProvider().create({"username": "ws@u"})
    with guac_db.connect() as conn:
        assert stored_user(conn, "ws@u") is None
