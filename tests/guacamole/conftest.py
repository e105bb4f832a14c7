"""Fixtures: one real PostgreSQL server per test session, a fresh Guacamole database per test.

The server comes from ``sandbox.postgres.PostgresServer``. If the PostgreSQL binaries are missing
the session fails with the error from ``find_pg_bin`` — these tests are never skipped.

A template database holding the 1.5 schema is built once; each test gets a copy
(``CREATE DATABASE … TEMPLATE``), which is much faster than applying the schema every time.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg.conninfo
import pytest
from psycopg import sql
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from components.guacamole import apply_schema
from components.guacamole.dbadmin.providers import (
    GuacamoleSchemaProvider,
    PostgresDatabaseProvider,
    PostgresGrantsProvider,
    PostgresRoleProvider,
)
from components.guacamole.dbadmin.settings import ADMIN_CONFIG_KEY
from components.guacamole.providers import (
    ConnectionGroupProvider,
    ConnectionProvider,
    UserProvider,
)
from components.guacamole.settings import CONFIG_KEY, ENV_VAR, PROJECT_NAME
from sandbox.postgres import PostgresServer

from .helpers import Driver

APP_ROLE = "guacamole_app"
APP_PASSWORD = "app-pw-'quoted'@/:"  # exercises URL encoding of the DSN
TEMPLATE_DB = "guac_template"

_counter = itertools.count()


@dataclass
class GuacDb:
    """A per-test Guacamole database."""

    name: str
    dsn: str
    admin_dsn: str

    def connect(self) -> psycopg.Connection[Any]:
        """An autocommit connection as the application role."""
        return psycopg.connect(self.dsn, autocommit=True)

    def admin(self) -> psycopg.Connection[Any]:
        """An autocommit superuser connection to the ``postgres`` database."""
        return psycopg.connect(self.admin_dsn, autocommit=True)

    def rows(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Every row ``query`` returns, read as the application role on its own connection."""
        with self.connect() as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (fails loudly if PostgreSQL is not installed)."""
    workdir = Path(tempfile.mkdtemp(prefix="awms-pg-test-"))
    server = PostgresServer(workdir)
    try:
        server.start()
        template_dsn = server.create_database(TEMPLATE_DB, APP_PASSWORD, owner=APP_ROLE)
        with psycopg.connect(template_dsn) as conn:
            apply_schema(conn, "1.5")
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def guac_db(pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[GuacDb]:
    """A fresh database with the 1.5 schema; ``AWMS_GUACAMOLE_DATABASE_URL`` points at it."""
    name = f"guac_t{next(_counter)}"
    dsn = pg_server.create_database(name, APP_PASSWORD, owner=APP_ROLE, template=TEMPLATE_DB)
    monkeypatch.setenv(ENV_VAR, dsn)
    yield GuacDb(name=name, dsn=dsn, admin_dsn=pg_server.admin_dsn)
    pg_server.drop_database(name, drop_owner=False)


def _stack_config_request(key: str, dsn: str | None) -> ConfigureRequest:
    """A ConfigureRequest as the provider host builds it from a stack holding ``key`` (or not)."""
    raw = {} if dsn is None else {f"{PROJECT_NAME}:{key}": dsn}
    return ConfigureRequest(Config(raw_config=raw, project_name=PROJECT_NAME))


def configure_request(dsn: str | None) -> ConfigureRequest:
    """A ConfigureRequest carrying ``guacamoleDatabaseUrl`` like the stack config does."""
    return _stack_config_request(CONFIG_KEY, dsn)


@dataclass
class Providers:
    """The three providers, configured from stack config like the provider host does."""

    group: Driver[ConnectionGroupProvider]
    user: Driver[UserProvider]
    connection: Driver[ConnectionProvider]


@pytest.fixture
def providers(guac_db: GuacDb) -> Providers:
    """Providers configured with the test database's DSN through ``configure()``."""
    group, user, connection = ConnectionGroupProvider(), UserProvider(), ConnectionProvider()
    for provider in (group, user, connection):
        provider.configure(configure_request(guac_db.dsn))
    return Providers(Driver(group), Driver(user), Driver(connection))


# ---------------------------------------------------------------------------------------------
# Database bootstrap: fresh role and database names per test, providers on the admin DSN
# ---------------------------------------------------------------------------------------------

LOGIN_PASSWORD = "login-pw-'quoted'@/: é"  # exercises URL encoding and SCRAM (non-ASCII)


@dataclass
class BootstrapTarget:
    """Names of one test's bootstrap (roles are cluster-wide, so every test gets its own)."""

    server: PostgresServer
    owner: str
    login: str
    database: str
    password: str = LOGIN_PASSWORD

    @property
    def admin_dsn(self) -> str:
        return self.server.admin_dsn

    def login_dsn(self, password: str | None = None) -> str:
        """The DSN Guacamole and the row providers would use."""
        q = urllib.parse.quote
        assert self.server.port is not None
        secret = q(self.password if password is None else password, safe="")
        return f"postgresql://{self.login}:{secret}@127.0.0.1:{self.server.port}/{self.database}"

    def admin(self, database: str | None = None) -> psycopg.Connection[Any]:
        """An autocommit superuser connection (to ``database``, default the maintenance DB)."""
        dsn = self.admin_dsn
        if database is not None:
            dsn = psycopg.conninfo.make_conninfo(dsn, dbname=database)
        return psycopg.connect(dsn, autocommit=True)

    def as_login(self) -> psycopg.Connection[Any]:
        """An autocommit connection as the login role to the Guacamole database."""
        return psycopg.connect(self.login_dsn(), autocommit=True)

    def role_inputs(self, *, owner: bool) -> dict[str, Any]:
        if owner:
            return {"name": self.owner, "login": False}
        return {"name": self.login, "login": True, "password": self.password, "member_of": []}


@pytest.fixture
def target(pg_server: PostgresServer) -> Iterator[BootstrapTarget]:
    """Unique names; afterwards the database and both roles are removed whatever happened."""
    n = next(_counter)
    chosen = BootstrapTarget(pg_server, f"bs_owner_{n}", f"bs_login_{n}", f"bs_db_{n}")
    yield chosen
    with chosen.admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(chosen.database)
            )
        )
        for role in (chosen.login, chosen.owner):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def admin_request(dsn: str | None) -> ConfigureRequest:
    """A ConfigureRequest carrying ``guacamoleAdminDatabaseUrl`` like the stack config does."""
    return _stack_config_request(ADMIN_CONFIG_KEY, dsn)


@dataclass
class AdminProviders:
    """The four bootstrap providers, configured with an administrator DSN."""

    role: Driver[PostgresRoleProvider]
    database: Driver[PostgresDatabaseProvider]
    schema: Driver[GuacamoleSchemaProvider]
    grants: Driver[PostgresGrantsProvider]


def admin_providers_for(dsn: str) -> AdminProviders:
    """Providers configured with ``dsn`` through ``configure()``."""
    role, database = PostgresRoleProvider(), PostgresDatabaseProvider()
    schema, grants = GuacamoleSchemaProvider(), PostgresGrantsProvider()
    for provider in (role, database, schema, grants):
        provider.configure(admin_request(dsn))
    return AdminProviders(Driver(role), Driver(database), Driver(schema), Driver(grants))


@pytest.fixture
def admin_providers(target: BootstrapTarget) -> AdminProviders:
    """Providers connected as the server's superuser."""
    return admin_providers_for(target.admin_dsn)
