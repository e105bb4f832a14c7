"""Optional: declare the Guacamole database, its roles and least-privilege grants with Pulumi.

Why: a fresh environment needs a database for Guacamole before any row can be written. When the
stack enables it (config switch ``bootstrapDatabase``; the program decides whether to call this),
``declare_database_bootstrap`` declares, through the ``pulumi_postgresql`` provider connected
with an administrator account:

* a NOLOGIN group role that owns the database (and should own the schema objects: apply the
  schema with ``SET ROLE <owner>`` or as that role, e.g. ``apply_schema`` over such a session);
* a LOGIN role for the Guacamole web application and this program's providers, which is NOT a
  member of the owner group: it gets only ``CONNECT`` on the database, ``USAGE`` on the schema,
  ``SELECT/INSERT/UPDATE/DELETE`` on the tables and ``USAGE/SELECT`` on the sequences, both for
  existing objects and, through default privileges, for objects the owner creates later.

The application DSN is returned as a secret ``Output`` so the program can feed it to the stack
output or to the web application's configuration; the providers themselves still read
``guacamoleDatabaseUrl``.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import pulumi
import pulumi_postgresql as postgresql
from pulumi import Input, Output, ResourceOptions

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT")


@dataclass(frozen=True)
class BootstrapSettings:
    """Where the administrator connects and what to create.

    ``admin_password`` and ``app_password`` should be secret Outputs (e.g. from
    ``pulumi.Config().require_secret`` or a ``RandomPassword``).
    """

    admin_host: str
    admin_username: str
    admin_password: Input[str]
    app_password: Input[str]
    admin_port: int = 5432
    admin_database: str = "postgres"
    sslmode: str = "prefer"
    admin_is_superuser: bool = False
    database_name: str = "guacamole"
    schema_name: str = "public"
    owner_role: str = "guacamole_owner"
    app_role: str = "guacamole_app"


@dataclass
class DatabaseBootstrap:
    """The resources declared by ``declare_database_bootstrap``."""

    provider: postgresql.Provider
    owner: postgresql.Role
    app: postgresql.Role
    database: postgresql.Database
    grants: list[pulumi.CustomResource]
    app_dsn: Output[str]


def app_dsn(settings: BootstrapSettings, password: str) -> str:
    """The libpq URL the application role connects with (pure)."""
    q = urllib.parse.quote
    return (
        f"postgresql://{q(settings.app_role, safe='')}:{q(password, safe='')}"
        f"@{settings.admin_host}:{settings.admin_port}/{q(settings.database_name, safe='')}"
        f"?sslmode={q(settings.sslmode, safe='')}"
    )


def declare_database_bootstrap(
    settings: BootstrapSettings, opts: ResourceOptions | None = None
) -> DatabaseBootstrap:
    """Declare the database, the owner group, the application login and its grants."""
    name = settings.database_name
    provider = postgresql.Provider(
        f"guacamole-db-admin-{name}",
        host=settings.admin_host,
        port=settings.admin_port,
        username=settings.admin_username,
        password=Output.secret(settings.admin_password),
        database=settings.admin_database,
        sslmode=settings.sslmode,
        superuser=settings.admin_is_superuser,
        opts=opts,
    )
    child = ResourceOptions.merge(opts, ResourceOptions(provider=provider))
    owner = postgresql.Role(
        f"guacamole-db-owner-{name}", name=settings.owner_role, login=False, opts=child
    )
    app = postgresql.Role(
        f"guacamole-db-app-{name}",
        name=settings.app_role,
        login=True,
        password=Output.secret(settings.app_password),
        opts=child,
    )
    database = postgresql.Database(
        f"guacamole-db-{name}",
        name=name,
        owner=owner.name,
        encoding="UTF8",
        template="template0",
        opts=ResourceOptions.merge(child, ResourceOptions(depends_on=[owner])),
    )
    after_db = ResourceOptions.merge(child, ResourceOptions(depends_on=[database, app]))
    grants: list[pulumi.CustomResource] = [
        postgresql.Grant(
            f"guacamole-db-connect-{name}",
            database=database.name,
            role=app.name,
            object_type="database",
            privileges=["CONNECT"],
            opts=after_db,
        ),
        postgresql.Grant(
            f"guacamole-db-schema-usage-{name}",
            database=database.name,
            role=app.name,
            schema=settings.schema_name,
            object_type="schema",
            privileges=["USAGE"],
            opts=after_db,
        ),
        postgresql.Grant(
            f"guacamole-db-tables-{name}",
            database=database.name,
            role=app.name,
            schema=settings.schema_name,
            object_type="table",
            privileges=list(TABLE_PRIVILEGES),
            opts=after_db,
        ),
        postgresql.Grant(
            f"guacamole-db-sequences-{name}",
            database=database.name,
            role=app.name,
            schema=settings.schema_name,
            object_type="sequence",
            privileges=list(SEQUENCE_PRIVILEGES),
            opts=after_db,
        ),
        postgresql.DefaultPrivileges(
            f"guacamole-db-default-tables-{name}",
            database=database.name,
            role=app.name,
            owner=owner.name,
            schema=settings.schema_name,
            object_type="table",
            privileges=list(TABLE_PRIVILEGES),
            opts=after_db,
        ),
        postgresql.DefaultPrivileges(
            f"guacamole-db-default-sequences-{name}",
            database=database.name,
            role=app.name,
            owner=owner.name,
            schema=settings.schema_name,
            object_type="sequence",
            privileges=list(SEQUENCE_PRIVILEGES),
            opts=after_db,
        ),
    ]
    def render(password: str) -> str:
        return app_dsn(settings, password)

    password: Output[str] = Output.secret(settings.app_password)
    dsn: Output[str] = password.apply(render)
    return DatabaseBootstrap(
        provider=provider, owner=owner, app=app, database=database, grants=grants, app_dsn=dsn
    )
