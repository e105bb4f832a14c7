"""check(): clear errors naming the culprit, normalisation, unknowns pass through."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pulumi.output import Unknown
from pulumi.runtime import rpc

from components.guacamole.providers import (
    ConnectionGroupProvider,
    ConnectionProvider,
    UserProvider,
)

UNKNOWN_VALUE: Any = Unknown()  # type: ignore[no-untyped-call]

VALID_CONNECTION = {
    "group_id": 3.0,
    "username": "ws@alice",
    "connection_name": "alice",
    "hostname": "client-x.guacamole.svc.cluster.local",
    "password": "vnc",
}


def _reasons(result) -> dict[str, str]:
    return {f.property: f.reason for f in result.failures}


def test_300_character_workspace_name_fails_naming_field_and_length():
    result = ConnectionGroupProvider().check({}, {"group_name": "w" * 300})
    reasons = _reasons(result)
    assert list(reasons) == ["group_name"]
    assert "group_name is 300 characters long" in reasons["group_name"]
    assert "at most 128" in reasons["group_name"]


def test_user_name_over_128_characters_fails():
    long_name = "ws@" + "ü" * 126
    reasons = _reasons(ConnectionProvider().check({}, {**VALID_CONNECTION, "username": long_name}))
    assert list(reasons) == ["username"]
    assert "username is 129 characters long" in reasons["username"]
    reasons = _reasons(UserProvider().check({}, {"username": long_name}))
    assert "username is 129 characters long" in reasons["username"]


def test_exactly_128_characters_pass():
    assert ConnectionGroupProvider().check({}, {"group_name": "é" * 128}).failures == []


def test_empty_blank_nul_and_missing_names():
    provider = ConnectionGroupProvider()
    assert "must not be empty" in _reasons(provider.check({}, {"group_name": ""}))["group_name"]
    assert "blank" in _reasons(provider.check({}, {"group_name": "  "}))["group_name"]
    assert "NUL" in _reasons(provider.check({}, {"group_name": "a\x00b"}))["group_name"]
    assert "required" in _reasons(provider.check({}, {}))["group_name"]
    assert "string" in _reasons(provider.check({}, {"group_name": 5}))["group_name"]


def test_defaults_are_filled_and_numbers_normalised():
    # ``entity_id`` (an input of older states) is no field any more: it is dropped.
    result = ConnectionProvider().check(
        {}, {**VALID_CONNECTION, "__provider": "x", "entity_id": 7.0}
    )
    assert result.failures == []
    assert result.inputs == {
        "group_id": 3,
        "username": "ws@alice",
        "connection_name": "alice",
        "hostname": "client-x.guacamole.svc.cluster.local",
        "password": "vnc",
        "port": 5900,
        "disable_copy": True,
        "disable_paste": True,
    }
    assert isinstance(result.inputs["group_id"], int)
    group = ConnectionGroupProvider().check({}, {"group_name": "w"}).inputs
    assert group == {
        "group_name": "w",
        "max_connections": 1000,
        "max_connections_per_user": 1000,
        "enable_session_affinity": True,
    }


def test_connection_field_errors():
    bad = {
        **VALID_CONNECTION,
        "port": 70000.0,
        "group_id": 0.0,
        "username": "",
        "disable_copy": "yes",
        "hostname": "h" * 4097,
    }
    reasons = _reasons(ConnectionProvider().check({}, bad))
    assert set(reasons) == {"port", "group_id", "username", "disable_copy", "hostname"}
    assert "between 1 and 65535" in reasons["port"]
    assert "4097 characters" in reasons["hostname"]


def test_secret_values_are_not_echoed_in_errors():
    secret = "S" * 5000
    reasons = _reasons(ConnectionProvider().check({}, {**VALID_CONNECTION, "password": secret}))
    assert "5000 characters" in reasons["password"]
    assert "SSSS" not in reasons["password"]


def test_username_is_required():
    old_inputs = {k: v for k, v in VALID_CONNECTION.items() if k != "username"}
    reasons = _reasons(ConnectionProvider().check({}, {**old_inputs, "entity_id": 7.0}))
    assert reasons == {"username": "username is required"}


def test_unknown_values_pass_during_preview():
    result = ConnectionProvider().check(
        {}, {**VALID_CONNECTION, "group_id": UNKNOWN_VALUE, "username": rpc.UNKNOWN}
    )
    assert result.failures == []
    assert isinstance(result.inputs["group_id"], Unknown)
    assert result.inputs["username"] == rpc.UNKNOWN


def test_secret_wrapped_inputs_are_unwrapped():
    wrapped = rpc.wrap_rpc_secret("vnc")
    result = ConnectionProvider().check({}, {**VALID_CONNECTION, "password": wrapped})
    assert result.failures == [] and result.inputs["password"] == "vnc"


@given(st.text(min_size=1, max_size=128).filter(lambda s: "\x00" not in s and s.strip() != ""))
def test_any_reasonable_name_is_accepted_unchanged(name):
    result = ConnectionProvider().check({}, {**VALID_CONNECTION, "username": name})
    assert result.failures == []
    assert result.inputs["username"] == name
