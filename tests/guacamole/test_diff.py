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
    "username": "ws@alice",
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
    "user_id": 5.0,
    "has_user_row": True,
    "self_read": True,
    "enabled": True,
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
        ("username", "ws@alice-renamed"),
    ):
        result = _diff(OUTPUTS, {**INPUTS, key: value})
        assert result.changes is True, key
        assert result.replaces == [], key


def test_drift_recorded_by_read_triggers_update():
    flags = ConnectionProvider.HEALTHY_FLAGS
    assert {"has_user_row", "self_read", "enabled"} < set(flags)  # the user's health too
    for flag in flags:
        result = _diff({**OUTPUTS, flag: False}, INPUTS)
        assert result.changes is True and result.replaces == [], flag
    result = _diff({**OUTPUTS, "unmanaged_parameters": ["enable-sftp"]}, INPUTS)
    assert result.changes is True
    assert _diff({**OUTPUTS, "port": "59x"}, INPUTS).changes is True
    assert _diff({**OUTPUTS, "disable_copy": None}, INPUTS).changes is True


def test_an_old_state_is_updated_in_place():
    """Outputs recorded while the user was a resource of its own: no ``username``, no user
    flags, an ``entity_id`` input. The new inputs update them; nothing is replaced."""
    user_keys = ("username", "user_id", "has_user_row", "self_read", "enabled")
    old = {k: v for k, v in OUTPUTS.items() if k not in user_keys}
    result = _diff(old, INPUTS)
    assert result.changes is True and result.replaces == []
    assert _diff({**old, "username": "ws@alice"}, INPUTS).changes is False


def test_unknown_identity_during_preview_is_a_replacement():
    result = _diff(OUTPUTS, {**INPUTS, "group_id": UNKNOWN_VALUE})
    assert result.replaces == ["group_id"]
    result = _diff(OUTPUTS, {**INPUTS, "username": UNKNOWN_VALUE})
    assert result.changes is True and result.replaces == []


def test_bool_is_not_confused_with_int():
    assert _diff({**OUTPUTS, "disable_copy": 1}, INPUTS).changes is True


def test_user_provider_diff_sees_its_flags():
    olds = {"username": "u", "has_user_row": True, "self_read": True, "enabled": True}
    provider = UserProvider()
    assert provider.diff("1", olds, {"username": "u"}).changes is False
    for flag in ("has_user_row", "self_read", "enabled"):
        assert provider.diff("1", {**olds, flag: False}, {"username": "u"}).changes is True, flag
