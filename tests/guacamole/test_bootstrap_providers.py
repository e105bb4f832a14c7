"""The bootstrap providers against a real PostgreSQL: create, least privilege, adoption, delete."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from components.guacamole.dbadmin.errors import BootstrapError
from components.guacamole.providers import (
    ConnectionGroupProvider,
    ConnectionProvider,
    UserProvider,
)
from components.guacamole.schema import TABLES
from components.guacamole.settings import PROJECT_NAME

from .bootstrap_helpers import bootstrap, denied, table_owners
from .conftest import TEMPLATE_DB, AdminProviders, BootstrapTarget, configure_request
from .helpers import Driver, create_binding, scalar, visible_connections

pytestmark = pytest.mark.postgres


def test_fresh_bootstrap_builds_the_least_privileged_layout(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    done = bootstrap(admin_providers, target, version="1.6")
    assert (done.owner.id, done.login.id, done.database.id) == (
        target.owner,
        target.login,
        target.database,
    )
    assert not any(r.outs["adopted"] for r in (done.owner, done.login, done.database, done.schema))
    assert done.schema.outs["installed_version"] == "1.6"
    assert done.grants.outs["drift"] == []
    with target.admin() as admin:
        owner = admin.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles"
            " WHERE rolname = %s",
            (target.owner,),
        ).fetchone()
        assert owner == (False, False, False, False)
        login = admin.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles"
            " WHERE rolname = %s",
            (target.login,),
        ).fetchone()
        assert login == (True, False, False, False)
        assert not scalar(
            admin, "SELECT pg_has_role(%s, %s, 'MEMBER')", (target.login, target.owner)
        )
        assert scalar(
            admin,
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
            (target.database,),
        ) == (target.owner)
    with target.admin(target.database) as admin:
        assert table_owners(admin) == {target.owner}
        assert scalar(admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == len(
            TABLES
        )


def test_login_role_reads_and_writes_rows_but_cannot_change_the_schema(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    bootstrap(admin_providers, target)
    with target.as_login() as conn:
        entity = scalar(
            conn,
            "INSERT INTO guacamole_entity (name, type) VALUES ('probe', 'USER')"
            " RETURNING entity_id",
        )  # INSERT + nextval on the serial sequence
        conn.execute("UPDATE guacamole_entity SET name = 'probe2' WHERE entity_id = %s", (entity,))
        assert scalar(conn, "SELECT count(*) FROM guacamole_entity WHERE name = 'probe2'") == 1
        conn.execute("DELETE FROM guacamole_entity WHERE entity_id = %s", (entity,))
        assert scalar(conn, "SELECT last_value FROM guacamole_entity_entity_id_seq") >= 1
        refusals = {
            "create table": denied(conn, "CREATE TABLE public.intruder (a int)"),
            "create temp table": denied(conn, "CREATE TEMP TABLE intruder (a int)"),
            "drop table": denied(conn, "DROP TABLE guacamole_user_history"),
            "alter table": denied(conn, "ALTER TABLE guacamole_user ADD COLUMN x int"),
            "truncate": denied(conn, "TRUNCATE guacamole_user_history"),
            "drop type": denied(conn, "DROP TYPE guacamole_entity_type CASCADE"),
            "setval": denied(conn, "SELECT setval('guacamole_entity_entity_id_seq', 1)"),
            "create schema": denied(conn, "CREATE SCHEMA intruder"),
            "become owner": denied(
                conn, sql.SQL("SET ROLE {}").format(sql.Identifier(target.owner))
            ),
        }
        assert all(refusals.values()), {k: v for k, v in refusals.items() if not v}


def test_guacamole_row_providers_work_as_the_login_role(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    bootstrap(admin_providers, target)
    group, user, connection = ConnectionGroupProvider(), UserProvider(), ConnectionProvider()
    for provider in (group, user, connection):
        provider.configure(configure_request(target.login_dsn()))
    b = create_binding(Driver(group), Driver(connection), workspace="ws", username="ann")
    with target.as_login() as conn:
        assert [name for _, name in visible_connections(conn, "ws@ann")] == ["ann"]
    user.delete(str(b.entity_id), {"username": "ws@ann"})  # marked: kept
    assert user.read(str(b.entity_id), {}).id == str(b.entity_id)
    connection.delete(b.connection.id, b.connection.outs)
    assert user.read(str(b.entity_id), {}).id == ""


def test_default_privileges_cover_tables_the_owner_creates_later(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    bootstrap(admin_providers, target)
    with target.admin(target.database) as admin, admin.transaction():
        admin.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(target.owner)))
        admin.execute("CREATE TABLE public.guacamole_future (id serial PRIMARY KEY, v text)")
    with target.as_login() as conn:
        conn.execute("INSERT INTO guacamole_future (v) VALUES ('x')")
        assert scalar(conn, "SELECT v FROM guacamole_future") == "x"
        assert denied(conn, "DROP TABLE guacamole_future")
        assert denied(conn, "TRUNCATE guacamole_future")
    read = admin_providers.grants.read(f"{target.database}/{target.login}", _grants_state(target))
    assert read.outs["drift"] == []


def _grants_state(target: BootstrapTarget) -> dict[str, Any]:
    return {
        "database": target.database,
        "role": target.login,
        "owner": target.owner,
        "revoke_on_delete": False,
        "drift": [],
    }


def test_adopts_a_legacy_database_owned_by_the_login_role(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    # The legacy layout: the application's login owns the database and every table, and an
    # old owner role exists with more than it needs; the login is even a member of it.
    old_password = "old-login-password"
    target.server.create_database(
        target.database, old_password, owner=target.login, template=TEMPLATE_DB
    )
    with target.admin(target.database) as admin:
        _hand_schema_to(admin, target.login)
    with target.admin() as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD 'x' VALID UNTIL '2001-01-01'").format(
                sql.Identifier(target.owner)
            )
        )
        admin.execute(
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(target.owner), sql.Identifier(target.login)
            )
        )
    with psycopg.connect(target.login_dsn(old_password), autocommit=True) as conn:
        users_before = scalar(conn, "SELECT count(*) FROM guacamole_user")
        assert denied(conn, "CREATE TEMP TABLE t (a int)") is None  # PUBLIC's default TEMPORARY

    done = bootstrap(admin_providers, target)

    assert all(r.outs["adopted"] for r in (done.owner, done.login, done.database, done.schema))
    with target.admin() as admin:
        assert admin.execute(
            "SELECT rolcanlogin, rolcreatedb, rolvaliduntil IS NULL OR rolvaliduntil = 'infinity'"
            " FROM pg_roles WHERE rolname = %s",
            (target.owner,),
        ).fetchone() == (False, False, True)
        assert not scalar(
            admin, "SELECT pg_has_role(%s, %s, 'MEMBER')", (target.login, target.owner)
        )
    with target.admin(target.database) as admin:
        assert table_owners(admin) == {target.owner}
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(target.login_dsn(old_password)).close()
    with target.as_login() as conn:
        assert scalar(conn, "SELECT count(*) FROM guacamole_user") == users_before  # rows kept
        assert denied(conn, "DROP TABLE guacamole_user_history")
        assert denied(conn, "CREATE TEMP TABLE t (a int)")


def _hand_schema_to(admin: psycopg.Connection[Any], role: str) -> None:
    """Make ``role`` own every table and enum type of schema public (sequences follow)."""
    objects = admin.execute(
        "SELECT 'TABLE', c.relname FROM pg_class AS c JOIN pg_namespace AS n"
        " ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
        " UNION ALL SELECT 'TYPE', t.typname FROM pg_type AS t JOIN pg_namespace AS n"
        " ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'"
    ).fetchall()
    for kind, name in objects:
        admin.execute(
            sql.SQL("ALTER {} public.{} OWNER TO {}").format(
                sql.SQL(kind), sql.Identifier(name), sql.Identifier(role)
            )
        )
    assert table_owners(admin) == {role}


def test_delete_retains_everything_unless_opted_in(
    admin_providers: AdminProviders, target: BootstrapTarget, monkeypatch: pytest.MonkeyPatch
):
    warnings: list[str] = []
    monkeypatch.setattr("pulumi.log.warn", lambda msg, *a, **k: warnings.append(msg))
    done = bootstrap(admin_providers, target)
    admin_providers.grants.delete(done.grants.id, done.grants.outs)
    admin_providers.schema.delete(target.database, done.schema.outs)
    admin_providers.database.delete(target.database, done.database.outs)
    admin_providers.role.delete(target.login, done.login.outs)
    admin_providers.role.delete(target.owner, done.owner.outs)
    with target.as_login() as conn:  # still there, still allowed in
        conn.execute("SELECT count(*) FROM guacamole_user")
    assert any(f"database {target.database!r} RETAINED" in w for w in warnings)
    assert any(f"role {target.login!r} kept" in w for w in warnings)
    assert any("grants of" in w and "kept" in w for w in warnings)

    opted = {"drop_on_delete": True}
    admin_providers.grants.delete(done.grants.id, {**done.grants.outs, "revoke_on_delete": True})
    with pytest.raises(psycopg.OperationalError, match=r"permission denied|not have CONNECT"):
        target.as_login().close()
    admin_providers.database.delete(target.database, {**done.database.outs, **opted})
    admin_providers.role.delete(target.login, {**done.login.outs, **opted})
    admin_providers.role.delete(target.owner, {**done.owner.outs, **opted})
    with target.admin() as admin:
        assert (
            admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)
            ).fetchone()
            is None
        )
        assert (
            admin.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = ANY(%s)", ([target.login, target.owner],)
            ).fetchone()
            is None
        )


def test_opted_in_drop_of_a_database_in_use_names_the_obstacle(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    done = bootstrap(admin_providers, target)
    with target.as_login(), pytest.raises(BootstrapError) as raised:
        admin_providers.database.delete(
            target.database, {**done.database.outs, "drop_on_delete": True}
        )
    message = str(raised.value)
    assert f"drop database {target.database!r}" in message and "other session" in message
    with pytest.raises(BootstrapError, match=f"role {target.owner!r} cannot be dropped"):
        admin_providers.role.delete(target.owner, {**done.owner.outs, "drop_on_delete": True})

    # The Guacamole row providers' own idle pool (same process) does not block the drop.
    pooled = psycopg.connect(target.login_dsn(), application_name=PROJECT_NAME, autocommit=True)
    try:
        admin_providers.database.delete(
            target.database, {**done.database.outs, "drop_on_delete": True}
        )
        with pytest.raises(psycopg.OperationalError):
            pooled.execute("SELECT 1")
    finally:
        pooled.close()


def test_a_non_superuser_administrator_is_told_what_it_lacks(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    admin_role, admin_password = f"{target.owner}_admin", "admin-pw"
    with target.admin() as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
                sql.Identifier(admin_role), sql.Literal(admin_password)
            )
        )
    try:
        assert target.server.port is not None
        dsn = f"postgresql://{admin_role}:{admin_password}@127.0.0.1:{target.server.port}/postgres"
        from .conftest import admin_providers_for

        limited = admin_providers_for(dsn)
        with pytest.raises(BootstrapError) as raised:
            bootstrap(limited, target)
        message = str(raised.value)
        assert f"create database {target.database!r}" in message
        assert f"user={admin_role}" in message and admin_password not in message
        with target.admin() as admin:  # what the message asks for
            admin.execute(
                sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(target.owner), sql.Identifier(admin_role)
                )
            )
        done = bootstrap(limited, target)
        assert done.grants.outs["drift"] == []
        assert done.login.outs["password_current"] is True  # just set; refresh cannot verify
        refreshed = limited.role.read(target.login, done.login.outs)
        assert refreshed.outs["password_current"] is None  # pg_authid is superuser-only
        assert (
            limited.role.diff(target.login, refreshed.outs, done.inputs["login"]).changes is False
        )
        with target.as_login() as conn:
            assert denied(conn, "DROP TABLE guacamole_user_history")
    finally:
        with target.admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(target.database)
                )
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(admin_role)))
