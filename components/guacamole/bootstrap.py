"""Optional: declare Guacamole's database, its roles, schema and least-privilege grants.

Why: a fresh environment needs a database before any Guacamole row can be written. With the
stack switch ``bootstrapDatabase`` on, the program calls ``declare_database_bootstrap``, which
declares (through the psycopg providers of ``dbadmin``, connected as the administrator from the
secret ``guacamoleAdminDatabaseUrl``):

* ``guacamoleOwnerRole``: a NOLOGIN group role that owns the database and every schema object;
* ``guacamoleLoginRole``: the LOGIN role Guacamole and this program's providers connect as. It
  is NOT a member of the owner group, so it cannot DROP or ALTER anything;
* ``guacamoleDatabaseName``, owned by the group (retained on delete unless
  ``guacamoleDropOnDelete``);
* the Guacamole schema (``guacamoleSchemaVersion``), applied as the group when absent;
* the grants: CONNECT, USAGE on schema public, SELECT/INSERT/UPDATE/DELETE on the tables,
  USAGE/SELECT on the sequences, the same as default privileges for what the group creates later.

How the login credentials flow: they are not invented here. ``guacamoleDatabaseUrl`` (or
``AWMS_GUACAMOLE_DATABASE_URL``) is the DSN the Guacamole providers connect with anyway; the
bootstrap creates exactly the role, password and database that DSN names, so one ``pulumi up``
on an empty server both bootstraps and writes the rows, and rotating the password is one config
change. The DSN's user must be ``guacamoleLoginRole`` and its database ``guacamoleDatabaseName``
(a mismatch fails the run, naming both keys). The password becomes a secret input of the login
role; it reaches the server only as a SCRAM verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.conninfo
import pulumi
from pulumi import Output, ResourceOptions

from components.settings import DatabaseBootstrapSettings

from .dbadmin import GuacamoleSchema, PostgresDatabase, PostgresGrants, PostgresRole
from .dbadmin.settings import missing_admin_dsn_message, resolve_admin_dsn
from .errors import ConfigurationError
from .settings import CONFIG_KEY, ENV_VAR, describe_dsn, missing_dsn_message, resolve_dsn

ConfigGet = Callable[[str], Any]


@dataclass(frozen=True)
class AppLogin:
    """The login role's credentials, parsed from the Guacamole providers' DSN."""

    user: str
    dbname: str
    password: str | None
    where: str  # the DSN without its password, for messages

    def __repr__(self) -> str:  # never print the password by accident
        return f"AppLogin({self.where})"


@dataclass(frozen=True)
class DatabaseBootstrap:
    """The resources ``declare_database_bootstrap`` declared."""

    settings: DatabaseBootstrapSettings
    owner: PostgresRole
    login: PostgresRole
    database: PostgresDatabase
    schema: GuacamoleSchema
    grants: PostgresGrants

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What Guacamole rows must wait for: the schema and the grants (which need the rest)."""
        return [self.schema, self.grants]

    def summary(self) -> dict[str, Any]:
        """A stack output describing the bootstrap (no credentials)."""
        return {
            "database": self.settings.database_name,
            "ownerRole": self.settings.owner_role,
            "loginRole": self.settings.login_role,
            "schemaVersion": self.settings.schema_version,
            "dropOnDelete": self.settings.drop_on_delete,
        }


def parse_app_login(dsn: str) -> AppLogin:
    """User, database and password of ``dsn`` (pure); errors never show the password."""
    where = describe_dsn(dsn)
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        raise ConfigurationError(f"{CONFIG_KEY}: not a libpq connection string ({where})") from None
    user, dbname = params.get("user"), params.get("dbname")
    if not user or not dbname:
        raise ConfigurationError(
            f"{CONFIG_KEY}: must name the user and the database ({where}); the database "
            "bootstrap creates exactly that login role and database"
        )
    password = params.get("password")
    return AppLogin(
        user=str(user),
        dbname=str(dbname),
        password=str(password) if password else None,
        where=where,
    )


def read_app_login(config_get: ConfigGet, environ: Mapping[str, str]) -> AppLogin:
    """The login DSN from the same places the Guacamole providers read it (I/O edge)."""
    dsn = resolve_dsn(config_get, environ)
    if dsn is None:
        raise ConfigurationError(
            f"bootstrapDatabase needs the login the Guacamole providers will use: "
            f"{missing_dsn_message()}"
        )
    return parse_app_login(dsn)


def require_admin_dsn(config_get: ConfigGet, environ: Mapping[str, str]) -> None:
    """Fail the run before declaring anything if the administrator DSN is nowhere."""
    if resolve_admin_dsn(config_get, environ) is None:
        raise ConfigurationError(missing_admin_dsn_message())


def check_login(settings: DatabaseBootstrapSettings, login: AppLogin) -> None:
    """The DSN must name the role and database the bootstrap creates (pure)."""
    source = f"{CONFIG_KEY} (or {ENV_VAR})"
    if login.user != settings.login_role:
        raise ConfigurationError(
            f"{source} connects as {login.user!r} but guacamoleLoginRole is "
            f"{settings.login_role!r}: make them the same role"
        )
    if login.dbname != settings.database_name:
        raise ConfigurationError(
            f"{source} uses database {login.dbname!r} but guacamoleDatabaseName is "
            f"{settings.database_name!r}: make them the same database"
        )


def declare_database_bootstrap(
    settings: DatabaseBootstrapSettings,
    login: AppLogin,
    opts: ResourceOptions | None = None,
) -> DatabaseBootstrap:
    """Declare the owner group, the login role, the database, the schema and the grants."""
    check_login(settings, login)
    name = settings.database_name
    drop = settings.drop_on_delete
    owner = PostgresRole(
        f"guacamole-db-owner-{name}",
        name=settings.owner_role,
        login=False,
        drop_on_delete=drop,
        opts=opts,
    )
    if login.password is None:
        pulumi.log.warn(
            f"{CONFIG_KEY} has no password: the login role {settings.login_role!r} is created "
            "without one (or keeps its own), so it must authenticate another way"
        )
    app = PostgresRole(
        f"guacamole-db-login-{name}",
        name=settings.login_role,
        login=True,
        password=None if login.password is None else Output.secret(login.password),
        member_of=[],
        drop_on_delete=drop,
        opts=opts,
    )
    database = PostgresDatabase(
        f"guacamole-db-{name}",
        name=name,
        owner=owner.name,
        drop_on_delete=drop,
        opts=opts,
    )
    schema = GuacamoleSchema(
        f"guacamole-db-schema-{name}",
        database=database.name,
        owner=owner.name,
        version=settings.schema_version,
        seed_admin=settings.seed_admin,
        opts=opts,
    )
    grants = PostgresGrants(
        f"guacamole-db-grants-{name}",
        database=database.name,
        role=app.name,
        owner=owner.name,
        revoke_on_delete=drop,
        opts=ResourceOptions.merge(opts, ResourceOptions(depends_on=[schema])),
    )
    return DatabaseBootstrap(
        settings=settings, owner=owner, login=app, database=database, schema=schema, grants=grants
    )
