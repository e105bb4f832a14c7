"""The drift check on a real database: every out-of-band edit of a field the program owns is
found (and named, without values), and read -> diff -> update repairs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from components.guacamole.database import Database
from components.guacamole.drift import GONE, Drift, RecordedRow, compare, find_drift

from .conftest import GuacDb, Providers
from .helpers import Binding, checked, create_binding
from .old_state import write_old_binding

PASSWORD = "a-generated-vnc-password-0123456789"


def recorded(binding: Binding) -> list[RecordedRow]:
    return [
        RecordedRow("urn:group", "ConnectionGroup", binding.group.id, binding.group.outs),
        RecordedRow("urn:connection", "Connection", binding.connection.id, binding.connection.outs),
    ]


def check(db: GuacDb, rows: list[RecordedRow]) -> list[Drift]:
    database = Database(db.dsn)
    try:
        return database.run(lambda cur: find_drift(cur, rows), read_only=True)
    finally:
        database.close()


EDITS: dict[str, tuple[str, str, Callable[[Binding], tuple[Any, ...]]]] = {
    "password reset by the legacy operator": (
        "UPDATE guacamole_connection_parameter SET parameter_value = '1234'"
        " WHERE parameter_name = 'password' AND connection_id = %s",
        "urn:connection",
        lambda b: (int(b.connection.id),),
    ),
    "hostname edited in the UI": (
        "UPDATE guacamole_connection_parameter SET parameter_value = 'evil.example'"
        " WHERE parameter_name = 'hostname' AND connection_id = %s",
        "urn:connection",
        lambda b: (int(b.connection.id),),
    ),
    "parameter added": (
        "INSERT INTO guacamole_connection_parameter VALUES (%s, 'enable-sftp', 'true')",
        "urn:connection",
        lambda b: (int(b.connection.id),),
    ),
    "READ on the connection deleted": (
        "DELETE FROM guacamole_connection_permission WHERE connection_id = %s",
        "urn:connection",
        lambda b: (int(b.connection.id),),
    ),
    "READ on the group deleted": (
        "DELETE FROM guacamole_connection_group_permission WHERE connection_group_id = %s",
        "urn:connection",
        lambda b: (int(b.group.id),),
    ),
    "protocol changed": (
        "UPDATE guacamole_connection SET protocol = 'rdp' WHERE connection_id = %s",
        "urn:connection",
        lambda b: (int(b.connection.id),),
    ),
    "user disabled": (
        "UPDATE guacamole_user SET disabled = true WHERE entity_id = %s",
        "urn:connection",
        lambda b: (b.entity_id,),
    ),
    "user self READ deleted": (
        "DELETE FROM guacamole_user_permission WHERE entity_id = %s",
        "urn:connection",
        lambda b: (b.entity_id,),
    ),
    "user row deleted": (
        "DELETE FROM guacamole_user WHERE entity_id = %s",
        "urn:connection",
        lambda b: (b.entity_id,),
    ),
    "user deleted": (
        "DELETE FROM guacamole_entity WHERE entity_id = %s",
        "urn:connection",
        lambda b: (b.entity_id,),
    ),
    "group limits edited": (
        "UPDATE guacamole_connection_group SET max_connections = 1 WHERE connection_group_id = %s",
        "urn:group",
        lambda b: (int(b.group.id),),
    ),
    "connection deleted": (
        "DELETE FROM guacamole_connection WHERE connection_id = %s",
        "urn:connection",
        lambda b: (int(b.connection.id),),
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_each_out_of_band_edit_is_found_and_repaired(
    edit: str, providers: Providers, guac_db: GuacDb
) -> None:
    binding = create_binding(
        providers.group,
        providers.connection,
        workspace="drift-ws",
        username="alice",
        vnc_password=PASSWORD,
    )
    rows = recorded(binding)
    assert check(guac_db, rows) == []

    statement, urn, params = EDITS[edit]
    with guac_db.connect() as conn:
        conn.execute(statement, params(binding))
    found = check(guac_db, rows)
    assert [d.urn for d in found] == [urn]
    assert PASSWORD not in repr(found) and "1234" not in repr(found)

    # What a targeted refresh + up does for that resource.
    if urn != "urn:connection":
        return  # group repairs are covered by the group provider tests
    p = providers.connection
    refreshed = p.read(binding.connection.id, binding.connection.outs)
    if found[0].fields == (GONE,):
        assert refreshed.id == ""
        return
    assert p.diff(binding.connection.id, refreshed.outs, binding.connection_inputs).changes
    repaired = p.update(binding.connection.id, refreshed.outs, binding.connection_inputs)
    rows[1] = RecordedRow(urn, "Connection", binding.connection.id, repaired.outs)
    assert check(guac_db, rows) == []
    [(password,)] = guac_db.rows(
        "SELECT parameter_value FROM guacamole_connection_parameter"
        " WHERE connection_id = %s AND parameter_name = 'password'",
        (int(binding.connection.id),),
    )
    assert password == PASSWORD


def test_a_program_change_is_not_drift(providers: Providers, guac_db: GuacDb) -> None:
    """After an update the recorded outputs are the new values: nothing to refresh."""
    binding = create_binding(providers.group, providers.connection, workspace="w", username="cid")
    p = providers.connection
    changed = {**binding.connection_inputs, "hostname": "client-new.guacamole.svc", "port": 5901}
    updated = p.update(binding.connection.id, binding.connection.outs, changed)
    rows = recorded(binding)
    rows[1] = RecordedRow("urn:connection", "Connection", binding.connection.id, updated.outs)
    assert check(guac_db, rows) == []
    # ...whereas the outputs recorded before the change now differ: that is drift, and a
    # refresh + up with the current inputs keeps the new values.
    assert [d.urn for d in check(guac_db, recorded(binding))] == ["urn:connection"]


def test_state_from_an_older_version_is_not_drift(providers: Providers, guac_db: GuacDb) -> None:
    """A user resource recorded before ``enabled`` existed: only a False flag counts."""
    group = providers.group.create(checked(providers.group, {"group_name": "w"}))
    old = write_old_binding(guac_db.dsn, group_id=int(group.id), workspace="w", username="dan")
    old_outputs = {k: v for k, v in old.user.outs.items() if k != "enabled"}
    rows = [RecordedRow("urn:user", "User", old.user.id, old_outputs)]
    assert check(guac_db, rows) == []
    with psycopg.connect(guac_db.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE guacamole_user SET disabled = true WHERE entity_id = %s", (old.entity_id,)
        )
    assert check(guac_db, rows) == [Drift("urn:user", ("enabled",))]


def test_compare_is_exact_about_numbers() -> None:
    assert compare("Connection", {"port": 5900.0}, {"port": 5900}) == ()
    assert compare("Connection", {"port": 5900.0}, {"port": "5900x"}) == ("port",)
    assert compare("User", {"adopted": False}, {"adopted": True}) == ()
    assert compare("User", {}, None) == (GONE,)
    assert compare("Connection", {"enabled": True}, {"enabled": False}) == ("enabled",)
    # A key an older state lacks counts only as a False health flag of that kind.
    assert compare("Connection", {}, {"enabled": False, "username": "w@x"}) == ("enabled",)
    assert compare("Connection", {}, {"enabled": True, "user_id": 3}) == ()
