"""No credential in the pickled providers, in error messages, or in the server's statement log."""

from __future__ import annotations

import base64
import pickle
import urllib.parse

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.guacamole.bootstrap import parse_app_login
from components.guacamole.dbadmin.connection import AdminSession
from components.guacamole.dbadmin.errors import AdminConnectionError, BootstrapError
from components.guacamole.dbadmin.providers import (
    GuacamoleSchemaProvider,
    PostgresDatabaseProvider,
    PostgresGrantsProvider,
    PostgresRoleProvider,
)
from components.guacamole.dbadmin.roles import RoleSpec
from components.guacamole.dbadmin.settings import ADMIN_CONFIG_KEY, ADMIN_ENV_VAR

from .bootstrap_helpers import bootstrap
from .conftest import AdminProviders, BootstrapTarget, admin_providers_for, admin_request
from .helpers import checked

PROVIDERS = (
    PostgresRoleProvider,
    PostgresDatabaseProvider,
    GuacamoleSchemaProvider,
    PostgresGrantsProvider,
)


@pytest.mark.postgres
def test_configured_providers_pickle_without_the_admin_dsn(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    bootstrap(admin_providers, target)  # the sessions exist and have been used
    password = target.server.superuser_password
    for driver in (
        admin_providers.role,
        admin_providers.database,
        admin_providers.schema,
        admin_providers.grants,
    ):
        provider = driver.provider
        assert "_session" in provider.__dict__
        serialized = serialize_provider(provider)
        raw = base64.b64decode(serialized)
        assert password.encode() not in raw
        assert urllib.parse.quote(password, safe="").encode() not in raw
        assert b"127.0.0.1" not in raw
        assert serialized == serialize_provider(type(provider)())  # empty instance state
        assert b"components.guacamole.dbadmin.providers" in raw  # by reference, not by value
        restored = dill.loads(raw)  # noqa: S301 - our own bytes
        assert type(restored) is type(provider) and "_session" not in restored.__dict__


def test_admin_session_refuses_to_be_pickled():
    session = AdminSession("postgresql://admin:TOPSECRET@db.example/postgres")
    with pytest.raises(TypeError, match="credentials"):
        pickle.dumps(session)
    assert "TOPSECRET" not in repr(session)


def test_value_objects_do_not_print_passwords():
    spec = RoleSpec(name="app", login=True, password="TOPSECRET", member_of=())
    assert "TOPSECRET" not in repr(spec)
    login = parse_app_login("postgresql://guacamole_app:TOPSECRET@db/guacamole")
    assert login.password == "TOPSECRET" and "TOPSECRET" not in repr(login)


def test_missing_admin_dsn_names_the_key_and_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ADMIN_ENV_VAR, raising=False)
    provider = PostgresDatabaseProvider()
    provider.configure(admin_request(None))
    with pytest.raises(AdminConnectionError) as raised:
        provider.create(checked(provider, {"name": "d", "owner": "o"}))
    assert ADMIN_CONFIG_KEY in str(raised.value) and ADMIN_ENV_VAR in str(raised.value)


@pytest.mark.postgres
def test_admin_dsn_falls_back_to_the_environment(
    target: BootstrapTarget, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(ADMIN_ENV_VAR, target.admin_dsn)
    provider = PostgresRoleProvider()
    provider.configure(admin_request(None))
    created = provider.create(checked(provider, {"name": target.owner}))
    assert created.id == target.owner


@pytest.mark.postgres
def test_a_wrong_admin_password_is_not_echoed(target: BootstrapTarget):
    assert target.server.port is not None
    wrong = "Wr0ng-Secret-Value"
    providers = admin_providers_for(
        f"postgresql://postgres:{wrong}@127.0.0.1:{target.server.port}/postgres"
    )
    with pytest.raises(AdminConnectionError) as raised:
        providers.role.create(checked(providers.role, {"name": target.owner}))
    message = str(raised.value)
    assert "password authentication failed" in message
    assert wrong not in message and "user=postgres" in message


@pytest.mark.postgres
def test_sql_errors_name_the_culprit_without_passwords(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    admin_password = target.server.superuser_password
    with pytest.raises(BootstrapError) as raised:
        admin_providers.database.create(
            checked(admin_providers.database, {"name": target.database, "owner": "nobody_here"})
        )
    message = str(raised.value)
    assert f"create database {target.database!r} owned by 'nobody_here'" in message
    assert "does not exist" in message and admin_password not in message

    role = checked(
        admin_providers.role, {**target.role_inputs(owner=False), "member_of": ["no_such_group"]}
    )
    with pytest.raises(BootstrapError) as raised:
        admin_providers.role.create(role)
    message = str(raised.value)
    assert f"role {target.login!r}: group role 'no_such_group'" in message
    assert target.password not in message and admin_password not in message
    with target.admin() as admin:  # one transaction: the role was not left behind
        assert (
            admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (target.login,)).fetchone()
            is None
        )


@pytest.mark.postgres
def test_the_login_password_reaches_the_server_only_as_a_verifier(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    with target.admin() as admin:
        admin.execute("SELECT pg_stat_statements_reset()")
    done = bootstrap(admin_providers, target)
    renewed = {**done.inputs["login"], "password": "Renewed-Secret-Value"}
    admin_providers.role.update(target.login, done.login.outs, renewed)
    with target.admin() as admin:
        statements = [
            str(row[0]) for row in admin.execute("SELECT query FROM pg_stat_statements").fetchall()
        ]
        stored = admin.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (target.login,)
        ).fetchone()
    role_statements = [q for q in statements if "ROLE" in q.upper() and target.login in q]
    assert any("PASSWORD" in q.upper() for q in role_statements)
    for secret in (target.password, "Renewed-Secret-Value"):
        assert not [q for q in statements if secret in q]
    assert stored is not None and str(stored[0]).startswith("SCRAM-SHA-256$")
