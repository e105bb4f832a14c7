"""check() and diff() of the bootstrap providers: exact, and without any database access."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pulumi.dynamic import ResourceProvider
from pulumi.output import Unknown

from components.guacamole.dbadmin.providers import (
    GuacamoleSchemaProvider,
    PostgresDatabaseProvider,
    PostgresGrantsProvider,
    PostgresRoleProvider,
)
from components.guacamole.dbadmin.settings import ADMIN_ENV_VAR

UNKNOWN: Any = Unknown()  # type: ignore[no-untyped-call]

ROLE_IN = {
    "name": "guacamole_app",
    "login": True,
    "password": "pw",
    "member_of": [],
    "drop_on_delete": False,
}
ROLE_OUT = {
    **ROLE_IN,
    "privileged_attributes": [],
    "valid_forever": True,
    "password_current": True,
    "adopted": False,
    "__provider": "serialised",
}
DATABASE_IN = {"name": "guacamole", "owner": "guacamole_owner", "drop_on_delete": False}
DATABASE_OUT = {**DATABASE_IN, "encoding": "UTF8", "adopted": True}
SCHEMA_IN = {
    "database": "guacamole",
    "owner": "guacamole_owner",
    "version": "1.5",
    "seed_admin": True,
}
SCHEMA_OUT = {
    **SCHEMA_IN,
    "installed_version": "1.5",
    "current": True,
    "missing_tables": [],
    "foreign_owned": [],
    "adopted": False,
}
GRANTS_IN = {
    "database": "guacamole",
    "role": "guacamole_app",
    "owner": "guacamole_owner",
    "revoke_on_delete": False,
}
GRANTS_OUT = {**GRANTS_IN, "drift": []}


@pytest.fixture(autouse=True)
def no_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to reach a server fails the test."""
    monkeypatch.delenv(ADMIN_ENV_VAR, raising=False)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("check()/diff() must not connect to a database")

    monkeypatch.setattr(psycopg, "connect", refuse)
    yield


def _changes(provider: ResourceProvider, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    checked = provider.check({}, news)
    assert checked.failures == []
    result = provider.diff("id", olds, checked.inputs)
    return result.changes, sorted(result.replaces or [])


def test_identical_inputs_mean_no_changes():
    assert _changes(PostgresRoleProvider(), ROLE_OUT, ROLE_IN) == (False, [])
    assert _changes(PostgresDatabaseProvider(), DATABASE_OUT, DATABASE_IN) == (False, [])
    assert _changes(GuacamoleSchemaProvider(), SCHEMA_OUT, SCHEMA_IN) == (False, [])
    assert _changes(PostgresGrantsProvider(), GRANTS_OUT, GRANTS_IN) == (False, [])


def test_defaults_equal_recorded_defaults():
    role = {"name": "guacamole_owner"}
    recorded = {**role, "login": False, "member_of": [], "drop_on_delete": False}
    assert _changes(PostgresRoleProvider(), recorded, role) == (False, [])
    database = {"name": "guacamole", "owner": "o"}
    assert _changes(
        PostgresDatabaseProvider(), {**database, "drop_on_delete": False}, database
    ) == (
        False,
        [],
    )


@pytest.mark.parametrize(
    ("provider", "olds", "news", "expected"),
    [
        (PostgresRoleProvider(), ROLE_OUT, {**ROLE_IN, "name": "other"}, (True, ["name"])),
        (PostgresRoleProvider(), ROLE_OUT, {**ROLE_IN, "password": "new"}, (True, [])),
        (PostgresRoleProvider(), ROLE_OUT, {**ROLE_IN, "login": False}, (True, [])),
        (PostgresRoleProvider(), ROLE_OUT, {**ROLE_IN, "member_of": ["g"]}, (True, [])),
        (PostgresRoleProvider(), ROLE_OUT, {**ROLE_IN, "drop_on_delete": True}, (True, [])),
        (PostgresRoleProvider(), ROLE_OUT, {**ROLE_IN, "password": UNKNOWN}, (True, [])),
        (PostgresRoleProvider(), ROLE_OUT, {**ROLE_IN, "name": UNKNOWN}, (True, ["name"])),
        (PostgresDatabaseProvider(), DATABASE_OUT, {**DATABASE_IN, "name": "g2"}, (True, ["name"])),
        (PostgresDatabaseProvider(), DATABASE_OUT, {**DATABASE_IN, "owner": "x"}, (True, [])),
        (GuacamoleSchemaProvider(), SCHEMA_OUT, {**SCHEMA_IN, "version": "1.6"}, (True, [])),
        (GuacamoleSchemaProvider(), SCHEMA_OUT, {**SCHEMA_IN, "owner": "x"}, (True, [])),
        (
            GuacamoleSchemaProvider(),
            SCHEMA_OUT,
            {**SCHEMA_IN, "database": "g2"},
            (True, ["database"]),
        ),
        (PostgresGrantsProvider(), GRANTS_OUT, {**GRANTS_IN, "role": "r2"}, (True, ["role"])),
        (PostgresGrantsProvider(), GRANTS_OUT, {**GRANTS_IN, "owner": "o2"}, (True, ["owner"])),
        (PostgresGrantsProvider(), GRANTS_OUT, {**GRANTS_IN, "revoke_on_delete": True}, (True, [])),
    ],
)
def test_identity_fields_replace_and_the_rest_update(
    provider: ResourceProvider, olds: dict[str, Any], news: dict[str, Any], expected: Any
):
    assert _changes(provider, olds, news) == expected


def test_seed_admin_only_matters_when_the_schema_is_created():
    assert _changes(GuacamoleSchemaProvider(), SCHEMA_OUT, {**SCHEMA_IN, "seed_admin": False}) == (
        False,
        [],
    )


def test_member_of_is_compared_as_a_set():
    olds = {**ROLE_OUT, "member_of": ["a", "b"]}
    assert _changes(PostgresRoleProvider(), olds, {**ROLE_IN, "member_of": ["b", "a", "b"]}) == (
        False,
        [],
    )


@pytest.mark.parametrize(
    ("provider", "olds", "news"),
    [
        (PostgresRoleProvider(), {**ROLE_OUT, "password_current": False}, ROLE_IN),
        (PostgresRoleProvider(), {**ROLE_OUT, "valid_forever": False}, ROLE_IN),
        (PostgresRoleProvider(), {**ROLE_OUT, "privileged_attributes": ["SUPERUSER"]}, ROLE_IN),
        (PostgresRoleProvider(), {**ROLE_OUT, "login": False}, ROLE_IN),
        (GuacamoleSchemaProvider(), {**SCHEMA_OUT, "current": False}, SCHEMA_IN),
        (GuacamoleSchemaProvider(), {**SCHEMA_OUT, "missing_tables": ["x"]}, SCHEMA_IN),
        (GuacamoleSchemaProvider(), {**SCHEMA_OUT, "foreign_owned": ["table x"]}, SCHEMA_IN),
        (PostgresGrantsProvider(), {**GRANTS_OUT, "drift": ["table x: has nothing"]}, GRANTS_IN),
        (PostgresDatabaseProvider(), {**DATABASE_OUT, "owner": "someone"}, DATABASE_IN),
    ],
)
def test_drift_recorded_by_refresh_is_an_update(
    provider: ResourceProvider, olds: dict[str, Any], news: dict[str, Any]
):
    assert _changes(provider, olds, news) == (True, [])


def test_unverifiable_password_is_not_drift():
    # A non-superuser administrator cannot read pg_authid: unknown is not a difference.
    assert _changes(PostgresRoleProvider(), {**ROLE_OUT, "password_current": None}, ROLE_IN) == (
        False,
        [],
    )


@pytest.mark.parametrize(
    ("provider", "news", "field", "reason"),
    [
        (PostgresRoleProvider(), {"name": "r" * 64}, "name", "64 bytes long"),
        (PostgresRoleProvider(), {"name": "é" * 32}, "name", "64 bytes long"),
        (PostgresRoleProvider(), {"name": "pg_monitor2"}, "name", "reserved"),
        (PostgresRoleProvider(), {"name": "PUBLIC"}, "name", "reserved"),
        (PostgresRoleProvider(), {"name": "a", "member_of": "g"}, "member_of", "must be a list"),
        (PostgresRoleProvider(), {"name": "a", "member_of": ["pg_x"]}, "member_of", "[0]"),
        (PostgresRoleProvider(), {"name": "a", "password": ""}, "password", "must not be empty"),
        (PostgresRoleProvider(), {"name": "a", "login": "yes"}, "login", "boolean"),
        (PostgresRoleProvider(), {}, "name", "required"),
        (PostgresDatabaseProvider(), {"name": "a\x00b", "owner": "o"}, "name", "NUL"),
        (PostgresDatabaseProvider(), {"name": "d"}, "owner", "required"),
        (
            GuacamoleSchemaProvider(),
            {"database": "d", "owner": "o", "version": "2.0"},
            "version",
            "unsupported Guacamole schema version",
        ),
        (PostgresGrantsProvider(), {"database": "d", "role": " ", "owner": "o"}, "role", "blank"),
    ],
)
def test_check_names_the_field_and_the_reason(
    provider: ResourceProvider, news: dict[str, Any], field: str, reason: str
):
    failures = provider.check({}, news).failures
    assert [f.property for f in failures] == [field]
    assert reason in failures[0].reason


def test_check_keeps_unknown_values_for_preview():
    checked = PostgresRoleProvider().check({}, {"name": "a", "member_of": [UNKNOWN]})
    assert checked.failures == []
    assert checked.inputs["member_of"] == [UNKNOWN]


def test_check_never_echoes_a_password():
    failures = PostgresRoleProvider().check({}, {"name": "a", "password": 12345678}).failures
    assert failures and all("12345678" not in f.reason for f in failures)
