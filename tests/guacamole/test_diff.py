"""diff(): exact, replacement only on identity changes, and free of database access."""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import DiffResult
from pulumi.output import Unknown

from components.guacamole.providers import (
    ConnectionGroupProvider,
    ConnectionProvider,
    UserProvider,
)

UNKNOWN_VALUE: Any = Unknown()  # type: ignore[no-untyped-call]

INPUTS = {
    "group_id": 3,
    "entity_id": 7,
    "connection_name": "alice",
    "hostname": "client-x",
    "password": "vnc",
    "port": 5900,
    "disable_copy": True,
    "disable_paste": True,
}
OUTPUTS = {
    **INPUTS,
    "group_id": 3.0,  # numbers come back from the state as floats
    "entity_id": 7.0,
    "port": 5900.0,
    "connection_id": 11.0,
    "is_vnc": True,
    "read_on_connection": True,
    "read_on_group": True,
    "unmanaged_parameters": [],
    "adopted": False,
    "__provider": "serialised",
}


def _diff(olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
    return ConnectionProvider().diff("11", olds, news)


def test_identical_inputs_mean_no_changes():
    result = _diff(OUTPUTS, {**INPUTS, "__provider": "other"})
    assert result.changes is False
    assert result.replaces == []


def test_identity_changes_replace():
    assert _diff(OUTPUTS, {**INPUTS, "connection_name": "bob"}).replaces == ["connection_name"]
    result = _diff(OUTPUTS, {**INPUTS, "group_id": 4})
    assert result.changes is True and result.replaces == ["group_id"]
    user = UserProvider().diff("1", {"username": "a", "entity_id": 1}, {"username": "b"})
    assert user.replaces == ["username"]
    group = ConnectionGroupProvider().diff(
        "1",
        {
            "group_name": "a",
            "max_connections": 1000,
            "max_connections_per_user": 1000,
            "enable_session_affinity": True,
        },
        {
            "group_name": "b",
            "max_connections": 1000,
            "max_connections_per_user": 1000,
            "enable_session_affinity": True,
        },
    )
    assert group.replaces == ["group_name"]


def test_everything_else_updates_in_place():
    for key, value in (
        ("hostname", "client-y"),
        ("password", "new"),
        ("port", 5901),
        ("disable_copy", False),
        ("disable_paste", False),
        ("entity_id", 8),
    ):
        result = _diff(OUTPUTS, {**INPUTS, key: value})
        assert result.changes is True, key
        assert result.replaces == [], key


def test_drift_recorded_by_read_triggers_update():
    for flag in ("is_vnc", "read_on_connection", "read_on_group"):
        result = _diff({**OUTPUTS, flag: False}, INPUTS)
        assert result.changes is True and result.replaces == [], flag
    result = _diff({**OUTPUTS, "unmanaged_parameters": ["enable-sftp"]}, INPUTS)
    assert result.changes is True
    assert _diff({**OUTPUTS, "port": "59x"}, INPUTS).changes is True
    assert _diff({**OUTPUTS, "disable_copy": None}, INPUTS).changes is True


def test_unknown_identity_during_preview_is_a_replacement():
    result = _diff(OUTPUTS, {**INPUTS, "group_id": UNKNOWN_VALUE})
    assert result.replaces == ["group_id"]
    assert _diff(OUTPUTS, {**INPUTS, "entity_id": UNKNOWN_VALUE}).replaces == []


def test_bool_is_not_confused_with_int():
    assert _diff({**OUTPUTS, "disable_copy": 1}, INPUTS).changes is True


def test_user_password_changes_and_staleness():
    olds = {
        "username": "u",
        "password": "a",
        "password_current": True,
        "self_read": True,
        "has_user_row": True,
    }
    provider = UserProvider()
    assert provider.diff("1", olds, {"username": "u", "password": "a"}).changes is False
    assert provider.diff("1", olds, {"username": "u", "password": "b"}).replaces == []
    assert provider.diff("1", olds, {"username": "u", "password": "b"}).changes is True
    assert provider.diff("1", olds, {"username": "u"}).changes is True
    stale = {**olds, "password_current": False}
    assert provider.diff("1", stale, {"username": "u", "password": "a"}).changes is True
    gone = {**olds, "self_read": False}
    assert provider.diff("1", gone, {"username": "u", "password": "a"}).changes is True
