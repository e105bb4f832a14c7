"""GuacamoleConnectionGroup provider against a real database."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from components.guacamole import groups
from components.guacamole.errors import RowGoneError
from components.guacamole.providers import ConnectionGroupProvider

from .conftest import GuacDb, Providers, configure_request
from .helpers import checked, legacy_operator_write, scalar


def _root_groups(db: GuacDb, name: str) -> list[tuple[Any, ...]]:
    return db.rows(
        "SELECT connection_group_id, type::text, max_connections, max_connections_per_user,"
        " enable_session_affinity FROM guacamole_connection_group"
        " WHERE parent_id IS NULL AND connection_group_name = %s ORDER BY 1",
        (name,),
    )


def test_create_read_update_delete(providers: Providers, guac_db: GuacDb):
    p = providers.group
    inputs = checked(p, {"group_name": "default-generic-workspace"})
    created = p.create(inputs)
    assert created.outs["group_id"] == int(created.id)
    assert created.outs["adopted"] is False
    assert _root_groups(guac_db, "default-generic-workspace") == [
        (int(created.id), "ORGANIZATIONAL", 1000, 1000, True)
    ]

    read = p.read(created.id, created.outs)
    assert read.id == created.id
    assert p.diff(created.id, read.outs, inputs).changes is False

    new_inputs = checked(p, {"group_name": "default-generic-workspace", "max_connections": 5.0})
    assert p.diff(created.id, read.outs, new_inputs).replaces == []
    updated = p.update(created.id, read.outs, new_inputs)
    assert updated.outs["max_connections"] == 5
    assert _root_groups(guac_db, "default-generic-workspace")[0][2] == 5

    p.delete(created.id, updated.outs)
    assert _root_groups(guac_db, "default-generic-workspace") == []
    p.delete(created.id, updated.outs)  # already gone: still succeeds
    assert p.read(created.id, updated.outs).id == ""


def test_refresh_after_out_of_band_edit_and_repair(providers: Providers, guac_db: GuacDb):
    p = providers.group
    inputs = checked(p, {"group_name": "ws"})
    created = p.create(inputs)
    with guac_db.connect() as conn:
        other = scalar(
            conn,
            "INSERT INTO guacamole_connection_group (connection_group_name) VALUES ('other')"
            " RETURNING connection_group_id",
        )
        conn.execute(
            "UPDATE guacamole_connection_group SET enable_session_affinity = false,"
            " type = 'BALANCING', parent_id = %s WHERE connection_group_id = %s",
            (other, int(created.id)),
        )
    refreshed = p.read(created.id, created.outs)
    assert refreshed.outs["enable_session_affinity"] is False
    assert refreshed.outs["organizational"] is False and refreshed.outs["at_root"] is False
    diff = p.diff(created.id, refreshed.outs, inputs)
    assert diff.changes is True and diff.replaces == []
    repaired = p.update(created.id, refreshed.outs, inputs)
    assert repaired.outs["at_root"] and repaired.outs["organizational"]
    assert _root_groups(guac_db, "ws") == [(int(created.id), "ORGANIZATIONAL", 1000, 1000, True)]
    assert p.diff(created.id, p.read(created.id, repaired.outs).outs, inputs).changes is False


def test_refresh_after_out_of_band_delete(providers: Providers, guac_db: GuacDb):
    p = providers.group
    created = p.create(checked(p, {"group_name": "ws"}))
    with guac_db.connect() as conn:
        conn.execute("DELETE FROM guacamole_connection_group")
    assert p.read(created.id, created.outs).id == ""
    with pytest.raises(RowGoneError, match="pulumi refresh"):
        p.update(created.id, created.outs, checked(p, {"group_name": "ws"}))


def test_adopts_lowest_of_legacy_duplicates(providers: Providers, guac_db: GuacDb):
    with guac_db.connect() as conn:
        first = legacy_operator_write(conn, "omop-workspace", "jovyan", "h1")
        second = legacy_operator_write(conn, "omop-workspace", "other", "h2")
        conn.execute(
            "UPDATE guacamole_connection_group SET max_connections = NULL"
            " WHERE connection_group_id = %s",
            (first["group_id"],),
        )
    assert first["group_id"] < second["group_id"]
    p = providers.group
    created = p.create(checked(p, {"group_name": "omop-workspace"}))
    assert int(created.id) == first["group_id"]
    assert created.outs["adopted"] is True
    assert created.outs["duplicate_group_ids"] == [second["group_id"]]
    rows = _root_groups(guac_db, "omop-workspace")
    assert len(rows) == 2  # the duplicate is reported, not touched
    assert rows[0] == (first["group_id"], "ORGANIZATIONAL", 1000, 1000, True)
    assert p.read(created.id, created.outs).outs["duplicate_group_ids"] == [second["group_id"]]


def test_adoption_ignores_same_name_below_root(providers: Providers, guac_db: GuacDb):
    with guac_db.connect() as conn:
        parent = scalar(
            conn,
            "INSERT INTO guacamole_connection_group (connection_group_name) VALUES ('p')"
            " RETURNING connection_group_id",
        )
        conn.execute(
            "INSERT INTO guacamole_connection_group (connection_group_name, parent_id)"
            " VALUES ('ws', %s)",
            (parent,),
        )
    created = providers.group.create(checked(providers.group, {"group_name": "ws"}))
    assert created.outs["adopted"] is False
    assert len(_root_groups(guac_db, "ws")) == 1


@pytest.mark.parametrize("workers", [8])
def test_concurrent_creates_make_exactly_one_row(guac_db: GuacDb, workers: int):
    barrier = threading.Barrier(workers)
    ids: list[str] = []
    errors: list[BaseException] = []

    def create() -> None:
        provider = ConnectionGroupProvider()  # own provider → own connection
        provider.configure(configure_request(guac_db.dsn))
        inputs = checked(provider, {"group_name": "race"})
        barrier.wait()
        try:
            ids.append(provider.create(inputs).id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 1
    assert len(_root_groups(guac_db, "race")) == 1


def test_delete_leaves_a_group_with_unmanaged_connections(providers: Providers, guac_db: GuacDb):
    p = providers.group
    created = p.create(checked(p, {"group_name": "ws"}))
    with guac_db.connect() as conn:
        legacy_operator_write(conn, "ws", "someone", "h", group_id=int(created.id))
        conn.execute(
            "INSERT INTO guacamole_connection_group (connection_group_name, parent_id)"
            " VALUES ('nested', %s)",
            (int(created.id),),
        )
    with guac_db.connect() as conn, conn.cursor() as cur:
        outcome = groups.delete_group(cur, int(created.id))
    assert not outcome.deleted and outcome.name == "ws"
    assert "connection 'someone'" in outcome.left and "group 'nested'" in outcome.left
    p.delete(created.id, created.outs)  # never fails the run: the group is left in place
    assert len(_root_groups(guac_db, "ws")) == 1
    with guac_db.connect() as conn:
        assert scalar(conn, "SELECT count(*) FROM guacamole_connection") == 1
        conn.execute("DELETE FROM guacamole_connection")
        conn.execute("DELETE FROM guacamole_connection_group WHERE parent_id IS NOT NULL")
    p.delete(created.id, created.outs)
    assert _root_groups(guac_db, "ws") == []


def test_unicode_and_metacharacters_round_trip(providers: Providers, guac_db: GuacDb):
    name = "o'brien\"; DROP TABLE guacamole_connection_group;-- ünï 漢字 \\ %s"
    p = providers.group
    created = p.create(checked(p, {"group_name": name}))
    assert p.read(created.id, created.outs).outs["group_name"] == name
    assert [r[0] for r in _root_groups(guac_db, name)] == [int(created.id)]
