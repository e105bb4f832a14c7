"""bootstrapDatabase under Pulumi mocks: what is declared, in which order, with which secrets."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from components.guacamole.dbadmin.settings import ADMIN_ENV_VAR
from components.guacamole.errors import ConfigurationError
from components.guacamole.settings import ENV_VAR
from components.program import Declared, declare
from components.settings import settings_from_values
from tests.factories import manifest
from tests.unit.conftest import PulumiHarness, Registered, is_secret, unsecret
from tests.unit.test_program import ListSource

TODAY = date(2025, 6, 1)
APP_PASSWORD = "app-Pa55-word"
ADMIN_PASSWORD = "admin-Pa55-word"
APP_DSN = f"postgresql://guacamole_app:{APP_PASSWORD}@db.internal:5432/guacamole"
ADMIN_DSN = f"postgresql://postgres:{ADMIN_PASSWORD}@db.internal:5432/postgres"
BOOTSTRAP = "dynamic/guacamole-db:"


@pytest.fixture
def dsns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both DSNs from the environment, as the sandbox and CI provide them."""
    monkeypatch.setenv(ENV_VAR, APP_DSN)
    monkeypatch.setenv(ADMIN_ENV_VAR, ADMIN_DSN)


def _declare(harness: PulumiHarness, **values: Any) -> Declared:
    settings = settings_from_values(values)
    source = ListSource(manifest("ann"), manifest("bob", workspace="ws-two", username="bob@x"))
    declared: Declared = harness.run(lambda: declare(settings, source, today=TODAY))
    return declared


def _bootstrap(harness: PulumiHarness) -> dict[str, list[Registered]]:
    found: dict[str, list[Registered]] = {}
    for resource in harness.monitor.registered:
        if BOOTSTRAP in resource.typ:
            found.setdefault(resource.typ.rsplit(":", 1)[1], []).append(resource)
    return found


def test_off_by_default_declares_no_bootstrap_resource(harness: PulumiHarness, dsns: None):
    declared = _declare(harness)
    assert _bootstrap(harness) == {}
    assert declared.bootstrap is None
    assert "databaseBootstrap" not in declared.outputs()
    for group in harness.of_type("guacamole:ConnectionGroup"):
        assert group.dependencies == []


def test_off_needs_no_admin_connection(harness: PulumiHarness, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv(ADMIN_ENV_VAR, raising=False)
    _declare(harness, bootstrapDatabase=False)
    assert _bootstrap(harness) == {}


def test_on_declares_roles_database_schema_and_grants(harness: PulumiHarness, dsns: None):
    declared = _declare(harness, bootstrapDatabase=True, guacamoleSchemaVersion="1.6")
    found = _bootstrap(harness)
    assert sorted(found) == ["Database", "Grants", "GuacamoleSchema", "Role"]
    roles = {r.inputs["name"]: r for r in found["Role"]}
    assert set(roles) == {"guacamole_owner", "guacamole_app"}
    owner, login = roles["guacamole_owner"], roles["guacamole_app"]
    assert owner.inputs["login"] is False and "password" not in owner.inputs
    assert login.inputs["login"] is True
    assert login.inputs["member_of"] == []  # never a member of the owner group
    assert is_secret(login.inputs["password"]) and unsecret(login.inputs["password"]) == (
        APP_PASSWORD
    )
    assert "password" in login.additional_secret_outputs
    (database,) = found["Database"]
    assert database.inputs["name"] == "guacamole"
    assert database.inputs["owner"] == "guacamole_owner"
    assert database.inputs["drop_on_delete"] is False  # retained unless opted in
    assert owner.urn in database.dependencies
    (schema,) = found["GuacamoleSchema"]
    assert schema.inputs["version"] == "1.6" and schema.inputs["owner"] == "guacamole_owner"
    assert schema.inputs["seed_admin"] is False  # no well-known guacadmin password by default
    assert database.urn in schema.dependencies
    (grants,) = found["Grants"]
    assert (grants.inputs["role"], grants.inputs["owner"]) == ("guacamole_app", "guacamole_owner")
    assert {database.urn, login.urn, owner.urn, schema.urn} <= set(grants.dependencies)
    assert grants.inputs["revoke_on_delete"] is False
    assert declared.outputs()["databaseBootstrap"] == {
        "database": "guacamole",
        "ownerRole": "guacamole_owner",
        "loginRole": "guacamole_app",
        "schemaVersion": "1.6",
        "dropOnDelete": False,
    }


def test_guacamole_rows_wait_for_the_bootstrap(harness: PulumiHarness, dsns: None):
    _declare(harness, bootstrapDatabase=True)
    found = _bootstrap(harness)
    ready = {found["GuacamoleSchema"][0].urn, found["Grants"][0].urn}
    rows = [
        *harness.of_type("guacamole:ConnectionGroup"),
        *harness.of_type("guacamole:Connection"),
    ]
    assert len(rows) == 4
    for row in rows:
        assert ready <= set(row.dependencies), row.name
    # Kubernetes objects do not wait for the database.
    for deployment in harness.of_type("apps/v1:Deployment"):
        assert not ready & set(deployment.dependencies)


def test_no_credential_reaches_any_plain_input(harness: PulumiHarness, dsns: None):
    _declare(harness, bootstrapDatabase=True)
    for resource in harness.monitor.registered:
        plain = {k: v for k, v in resource.inputs.items() if not is_secret(v)}
        text = repr(plain)
        assert ADMIN_PASSWORD not in text and "postgres:" not in text, resource.name
        assert APP_PASSWORD not in text, resource.name


def test_drop_on_delete_is_opt_in(harness: PulumiHarness, dsns: None):
    _declare(harness, bootstrapDatabase=True, guacamoleDropOnDelete=True)
    found = _bootstrap(harness)
    assert found["Database"][0].inputs["drop_on_delete"] is True
    assert all(r.inputs["drop_on_delete"] is True for r in found["Role"])
    assert found["Grants"][0].inputs["revoke_on_delete"] is True


def test_stock_administrator_is_opt_in(harness: PulumiHarness, dsns: None):
    _declare(harness, bootstrapDatabase=True, guacamoleSeedAdmin=True)
    assert _bootstrap(harness)["GuacamoleSchema"][0].inputs["seed_admin"] is True


def test_missing_admin_connection_fails_before_declaring(
    harness: PulumiHarness, dsns: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv(ADMIN_ENV_VAR)
    with pytest.raises(ConfigurationError, match="guacamoleAdminDatabaseUrl.*" + ADMIN_ENV_VAR):
        _declare(harness, bootstrapDatabase=True)
    assert _bootstrap(harness) == {}


def test_login_dsn_must_match_the_roles_it_creates(
    harness: PulumiHarness, dsns: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(ENV_VAR, f"postgresql://someone:{APP_PASSWORD}@db.internal/guacamole")
    with pytest.raises(ConfigurationError, match="'someone' but guacamoleLoginRole") as raised:
        _declare(harness, bootstrapDatabase=True)
    assert APP_PASSWORD not in str(raised.value)
    monkeypatch.setenv(ENV_VAR, f"postgresql://guacamole_app:{APP_PASSWORD}@db.internal/other")
    with pytest.raises(ConfigurationError, match="'other' but guacamoleDatabaseName"):
        _declare(harness, bootstrapDatabase=True)
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(ConfigurationError, match=f"guacamoleDatabaseUrl.*{ENV_VAR}"):
        _declare(harness, bootstrapDatabase=True)
