"""Dynamic providers for the database bootstrap: role, database, Guacamole schema, grants.

The same rules as the Guacamole row providers (``..providers``), for the same reasons:

* **One transaction per operation** where PostgreSQL allows it. ``CREATE DATABASE`` and
  ``DROP DATABASE`` cannot run in a transaction block, so each is a single autocommit statement
  and everything around it (looking the database up, changing its owner) is its own
  transaction.
* **No database in ``check``/``diff``.** ``diff`` compares the desired inputs with the outputs
  recorded by the last create/update/read; ``read`` (``pulumi refresh``) records what the
  catalogue says, so drift becomes a difference the next ``up`` repairs.
* **Adoption.** Creating a role or database that already exists adopts and converges it.
* **Nothing is destroyed by default.** Deleting a role or the database, or the grants, keeps
  them and says so in the log, unless ``drop_on_delete``/``revoke_on_delete`` was set (stack
  config ``guacamoleDropOnDelete``): removing the bootstrap from a stack, or a mistaken
  ``destroy`` in a pipeline, must never drop the production Guacamole database. The schema is
  never dropped on its own; it goes with its database.
* **No credentials in the pickle or the state.** The administrator DSN is read in
  ``configure()`` (secret stack config ``guacamoleAdminDatabaseUrl``, else the environment
  variable ``AWMS_GUACAMOLE_ADMIN_DATABASE_URL``) and dropped by ``__getstate__``; role passwords
  are secret inputs (the resource classes mark them ``additional_secret_outputs``) and reach
  the server only as SCRAM verifiers.

The plumbing behind these rules (connection handle, ``check``, ``diff``) is the Guacamole
providers' own, from ``..provider_base``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import pulumi
from psycopg import errors as pg_errors
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from ..inputs import Field, plain
from ..provider_base import ConfigGetter, SqlProvider
from ..schema import SchemaOutcome
from . import databases, grants, roles, schema_objects
from .connection import AdminSession, Cursor
from .errors import AdminConnectionError, AdminPrivilegeError, BootstrapError
from .fields import RULES as BOOTSTRAP_RULES
from .fields import Kind
from .settings import missing_admin_dsn_message, resolve_admin_dsn


class _AdminProvider(SqlProvider[AdminSession]):
    """The bootstrap family: the administrator DSN and its ``AdminSession``."""

    RULES = BOOTSTRAP_RULES
    HANDLE_KEY = "_session"
    HANDLE_LOCK = threading.Lock()

    def _open(self, config_get: ConfigGetter | None) -> AdminSession | None:
        dsn = resolve_admin_dsn(config_get, os.environ)
        return AdminSession(dsn) if dsn else None

    def _missing(self) -> Exception:
        return AdminConnectionError(missing_admin_dsn_message())

    def _admin(self) -> AdminSession:
        return self._handle()

    def _database_exists(self, name: str) -> bool:
        return self._admin().run(
            lambda cur: databases.read_database(cur, name) is not None,
            read_only=True,
            what=f"look up database {name!r}",
        )


def _flag(props: Mapping[str, Any], name: str) -> bool:
    return bool(plain(props.get(name)))


# ---------------------------------------------------------------------------------------------
# Role
# ---------------------------------------------------------------------------------------------


class PostgresRoleProvider(_AdminProvider):
    """A plain cluster role (the owner group, or the login role) with exact memberships."""

    FIELDS = (
        Field("name", Kind.ROLE, identity=True),
        Field("login", Kind.BOOL, required=False, default=False),
        Field("password", Kind.PASSWORD, required=False),
        Field("member_of", Kind.ROLES, required=False, default=()),
        Field("drop_on_delete", Kind.BOOL, required=False, default=False),
    )
    HEALTHY_FLAGS = ("password_current", "valid_forever")
    DRIFT_LISTS = ("privileged_attributes",)

    @staticmethod
    def _spec(inputs: Mapping[str, Any]) -> roles.RoleSpec:
        return roles.RoleSpec(
            name=inputs["name"],
            login=inputs["login"],
            password=inputs.get("password"),
            member_of=tuple(inputs["member_of"]),
        )

    @staticmethod
    def _outputs(
        inputs: Mapping[str, Any], row: roles.RoleRow | None, *, adopted: bool
    ) -> dict[str, Any]:
        """Outputs: the converged inputs, or (``row`` given) what the catalogue holds."""
        outs: dict[str, Any] = {
            "name": inputs["name"],
            "login": inputs["login"] if row is None else row.login,
            "member_of": list(inputs["member_of"]) if row is None else list(row.member_of),
            "drop_on_delete": bool(inputs.get("drop_on_delete")),
            "privileged_attributes": [] if row is None else list(row.privileged),
            "valid_forever": True if row is None else not row.expires,
            "password_current": (
                (True if inputs.get("password") is not None else None)
                if row is None
                else row.password_current
            ),
            "adopted": adopted,
        }
        if inputs.get("password") is not None:
            outs["password"] = inputs["password"]
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the role, or adopt an existing one and converge it (password included)."""
        inputs = self._require(props)
        spec = self._spec(inputs)

        def work(cur: Cursor) -> bool:
            row = roles.read_role(cur, spec.name, None)
            if row is None:
                roles.create_role(cur, spec)
                return False
            roles.converge_role(cur, spec, row, reset_password=True)
            return True

        adopted = self._admin().run(work, what=f"create role {spec.name!r}")
        if adopted:
            pulumi.log.info(f"PostgreSQL role {spec.name!r}: adopted the existing role")
        return CreateResult(spec.name, self._outputs(inputs, None, adopted=adopted))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Report the role as stored (empty id if it was dropped)."""
        password = plain(props.get("password"))
        row = self._admin().run(
            lambda cur: roles.read_role(cur, id_, password if isinstance(password, str) else None),
            read_only=True,
            what=f"read role {id_!r}",
        )
        if row is None:
            return ReadResult("", {})
        inputs = {
            "name": id_,
            "login": row.login,
            "member_of": list(row.member_of),
            "password": password if isinstance(password, str) else None,
            "drop_on_delete": _flag(props, "drop_on_delete"),
        }
        return ReadResult(id_, self._outputs(inputs, row, adopted=_flag(props, "adopted")))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Converge login, attributes, memberships; reset the password if changed or drifted."""
        inputs = self._require(news)
        spec = self._spec(inputs)
        reset = (
            plain(olds.get("password")) != inputs.get("password")
            or plain(olds.get("password_current")) is False
        )

        def work(cur: Cursor) -> None:
            row = roles.read_role(cur, id_, None)
            if row is None:
                raise BootstrapError(
                    f"role {id_!r} no longer exists; run `pulumi refresh` so it is created again"
                )
            roles.converge_role(cur, spec, row, reset_password=reset)

        self._admin().run(work, what=f"update role {id_!r}")
        return UpdateResult(self._outputs(inputs, None, adopted=_flag(olds, "adopted")))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Keep the role (default) or, with ``drop_on_delete``, drop it."""
        if not _flag(props, "drop_on_delete"):
            pulumi.log.warn(
                f"PostgreSQL role {id_!r} kept: it is no longer managed by this stack but was not "
                "dropped (drop_on_delete is off; stack config guacamoleDropOnDelete)"
            )
            return
        self._admin().run(lambda cur: roles.drop_role(cur, id_), what=f"drop role {id_!r}")


# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------


class PostgresDatabaseProvider(_AdminProvider):
    """The Guacamole database, owned by the owner group; retained on delete unless opted in."""

    FIELDS = (
        Field("name", Kind.IDENTIFIER, identity=True),
        Field("owner", Kind.ROLE),
        Field("drop_on_delete", Kind.BOOL, required=False, default=False),
    )

    @staticmethod
    def _outputs(
        row: databases.DatabaseRow, *, drop_on_delete: bool, adopted: bool
    ) -> dict[str, Any]:
        return {
            "name": row.name,
            "owner": row.owner,
            "encoding": row.encoding,
            "drop_on_delete": drop_on_delete,
            "adopted": adopted,
        }

    def _converge(self, name: str, owner: str) -> databases.DatabaseRow:
        def work(cur: Cursor) -> databases.DatabaseRow:
            row = databases.read_database(cur, name)
            if row is None:
                raise BootstrapError(
                    f"database {name!r} no longer exists; run `pulumi refresh` so it is created "
                    "again"
                )
            if row.owner != owner:
                databases.set_owner(cur, name, owner)
                row = databases.DatabaseRow(name=name, owner=owner, encoding=row.encoding)
            return row

        return self._admin().run(work, what=f"set the owner of database {name!r} to {owner!r}")

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the database (autocommit), or adopt it; then make ``owner`` its owner."""
        inputs = self._require(props)
        name: str = inputs["name"]
        owner: str = inputs["owner"]
        admin = self._admin()
        adopted = self._database_exists(name)
        if not adopted:
            created = admin.autocommit(
                databases.create_statement(name, owner),
                what=f"create database {name!r} owned by {owner!r}",
                tolerate=(pg_errors.DuplicateDatabase,),
            )
            adopted = not created
        if adopted:
            pulumi.log.info(f"PostgreSQL database {name!r}: adopted the existing database")
        row = self._converge(name, owner)
        outs = self._outputs(row, drop_on_delete=inputs["drop_on_delete"], adopted=adopted)
        return CreateResult(name, outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Report the database as stored (empty id if it was dropped)."""
        row = self._admin().run(
            lambda cur: databases.read_database(cur, id_),
            read_only=True,
            what=f"read database {id_!r}",
        )
        if row is None:
            return ReadResult("", {})
        outs = self._outputs(
            row, drop_on_delete=_flag(props, "drop_on_delete"), adopted=_flag(props, "adopted")
        )
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Change the owner if it differs; ``drop_on_delete`` needs no SQL."""
        inputs = self._require(news)
        row = self._converge(id_, inputs["owner"])
        outs = self._outputs(
            row, drop_on_delete=inputs["drop_on_delete"], adopted=_flag(olds, "adopted")
        )
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """RETAIN the database (default, and logged); drop it only with ``drop_on_delete``."""
        if not _flag(props, "drop_on_delete"):
            pulumi.log.warn(
                f"PostgreSQL database {id_!r} RETAINED, not dropped: it is no longer managed by "
                "this stack, but a pipeline must never drop the Guacamole database by accident. "
                "Drop it by hand, or set guacamoleDropOnDelete=true and run `pulumi up` before "
                "removing it"
            )
            return
        admin = self._admin()
        try:
            admin.run(
                lambda cur: databases.end_own_sessions(cur, id_),
                what=f"end this program's sessions on database {id_!r}",
            )
        except AdminPrivilegeError as error:  # then DROP names whoever is still connected
            pulumi.log.info(str(error))
        admin.autocommit(
            databases.drop_statement(id_),
            what=f"drop database {id_!r}",
            blocked=(pg_errors.ObjectInUse,),
        )


# ---------------------------------------------------------------------------------------------
# Guacamole schema
# ---------------------------------------------------------------------------------------------


def _satisfies(installed: str | None, wanted: str) -> bool:
    """True if the installed family is the wanted one or newer (1.6 serves a 1.5 request)."""
    return installed is not None and (installed == wanted or (installed, wanted) == ("1.6", "1.5"))


class GuacamoleSchemaProvider(_AdminProvider):
    """Guacamole's tables in the database, created (or upgraded) as the owner group."""

    FIELDS = (
        Field("database", Kind.IDENTIFIER, identity=True),
        Field("owner", Kind.ROLE),
        Field("version", Kind.VERSION, required=False, default="1.5"),
        # Only matters when the schema is created: an existing database keeps its users.
        Field("seed_admin", Kind.BOOL, required=False, default=True, diffed=False),
    )
    HEALTHY_FLAGS = ("current",)
    DRIFT_LISTS = ("missing_tables", "foreign_owned")

    @staticmethod
    def _outputs(
        inputs: Mapping[str, Any], state: schema_objects.SchemaState, *, adopted: bool
    ) -> dict[str, Any]:
        return {
            "database": inputs["database"],
            "owner": inputs["owner"],
            "version": inputs["version"],
            "seed_admin": bool(inputs.get("seed_admin")),
            "installed_version": state.installed_version,
            "current": _satisfies(state.installed_version, inputs["version"]),
            "missing_tables": list(state.missing_tables),
            "foreign_owned": list(state.foreign_owned),
            "adopted": adopted,
        }

    def _install(
        self, inputs: Mapping[str, Any]
    ) -> tuple[SchemaOutcome, schema_objects.SchemaState]:
        database: str = inputs["database"]
        owner: str = inputs["owner"]
        version: str = inputs["version"]

        def work(cur: Cursor) -> tuple[SchemaOutcome, schema_objects.SchemaState]:
            outcome = schema_objects.install(
                cur, owner, version, seed_admin=bool(inputs.get("seed_admin"))
            )
            return outcome, schema_objects.read_schema(cur, owner)

        outcome, state = self._admin().run(
            work,
            database=database,
            what=f"apply the Guacamole {version} schema as {owner!r}",
        )
        if outcome is SchemaOutcome.CREATED and inputs.get("seed_admin"):
            pulumi.log.warn(
                f"Guacamole schema created in database {database!r} with the stock administrator "
                "guacadmin/guacadmin: sign in and change its password"
            )
        if not _satisfies(state.installed_version, version) or state.foreign_owned:
            raise BootstrapError(
                f"Guacamole schema in database {database!r} did not converge: installed "
                f"{state.installed_version}, foreign-owned {list(state.foreign_owned)}"
            )
        if state.installed_version != version:
            pulumi.log.info(
                f"database {database!r} holds the Guacamole {state.installed_version} schema, "
                f"newer than the requested {version}; it is kept (schemas are never downgraded)"
            )
        return outcome, state

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Apply the schema when absent; adopt (and take ownership of) one that is present."""
        inputs = self._require(props)
        outcome, state = self._install(inputs)
        adopted = outcome is not SchemaOutcome.CREATED
        return CreateResult(inputs["database"], self._outputs(inputs, state, adopted=adopted))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Report the installed family, missing tables and objects the owner group lacks."""
        if not self._database_exists(id_):
            return ReadResult("", {})
        owner = plain(props.get("owner"))
        state = self._admin().run(
            lambda cur: schema_objects.read_schema(cur, str(owner)),
            database=id_,
            read_only=True,
            what=f"read the Guacamole schema of database {id_!r}",
        )
        inputs = {
            "database": id_,
            "owner": owner,
            "version": plain(props.get("version")),
            "seed_admin": _flag(props, "seed_admin"),
        }
        return ReadResult(id_, self._outputs(inputs, state, adopted=_flag(props, "adopted")))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Upgrade, re-own or recreate as needed (an incomplete schema is refused, not guessed)."""
        inputs = self._require(news)
        _outcome, state = self._install(inputs)
        return UpdateResult(self._outputs(inputs, state, adopted=_flag(olds, "adopted")))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        """Never drops tables: the schema lives and dies with its database."""
        pulumi.log.info(
            f"Guacamole schema in database {id_!r} kept: tables are never dropped one by one; "
            "they go with the database"
        )


# ---------------------------------------------------------------------------------------------
# Grants
# ---------------------------------------------------------------------------------------------


class PostgresGrantsProvider(_AdminProvider):
    """The login role's least-privilege grants in the Guacamole database (see ``grants``)."""

    FIELDS = (
        Field("database", Kind.IDENTIFIER, identity=True),
        Field("role", Kind.ROLE, identity=True),
        Field("owner", Kind.ROLE, identity=True),
        Field("revoke_on_delete", Kind.BOOL, required=False, default=False),
    )
    DRIFT_LISTS = ("drift",)

    @staticmethod
    def _outputs(inputs: Mapping[str, Any], drift: list[str]) -> dict[str, Any]:
        return {
            "database": inputs["database"],
            "role": inputs["role"],
            "owner": inputs["owner"],
            "revoke_on_delete": bool(inputs.get("revoke_on_delete")),
            "drift": drift,
        }

    @staticmethod
    def _target(props: Mapping[str, Any]) -> tuple[str, str, str]:
        """Database, role and owner named by recorded outputs (for read and delete)."""
        return (
            str(plain(props.get("database"))),
            str(plain(props.get("role"))),
            str(plain(props.get("owner"))),
        )

    def _apply(self, inputs: Mapping[str, Any]) -> None:
        database: str = inputs["database"]
        role: str = inputs["role"]
        owner: str = inputs["owner"]

        def work(cur: Cursor) -> list[str]:
            grants.apply_grants(cur, database, role, owner)
            return grants.read_drift(cur, database, role, owner)

        remaining = self._admin().run(
            work, database=database, what=f"grant {role!r} its privileges"
        )
        if remaining:
            raise BootstrapError(
                f"grants of {role!r} in database {database!r} did not converge: "
                f"{'; '.join(remaining)} (privileges granted by another role must be revoked by "
                "that role)"
            )

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Grant exactly the desired privileges (revoking anything else first)."""
        inputs = self._require(props)
        self._apply(inputs)
        return CreateResult(f"{inputs['database']}/{inputs['role']}", self._outputs(inputs, []))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Describe every difference from the desired grants (``drift``; empty when exact)."""
        database, role, owner = self._target(props)
        if not self._database_exists(database):
            return ReadResult("", {})
        drift = self._admin().run(
            lambda cur: grants.read_drift(cur, database, role, owner),
            database=database,
            read_only=True,
            what=f"read the grants of {role!r}",
        )
        inputs = {
            "database": database,
            "role": role,
            "owner": owner,
            "revoke_on_delete": _flag(props, "revoke_on_delete"),
        }
        return ReadResult(id_, self._outputs(inputs, drift))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Repair drift (revoke and grant again, in one transaction)."""
        inputs = self._require(news)
        self._apply(inputs)
        return UpdateResult(self._outputs(inputs, []))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Keep the grants (default) or, with ``revoke_on_delete``, take them back."""
        database, role, owner = self._target(props)
        if not _flag(props, "revoke_on_delete"):
            pulumi.log.warn(
                f"grants of {role!r} in database {database!r} kept (revoke_on_delete is off; "
                "stack config guacamoleDropOnDelete)"
            )
            return
        if not self._database_exists(database):
            return
        self._admin().run(
            lambda cur: grants.revoke_grants(cur, database, role, owner),
            database=database,
            what=f"revoke the privileges of {role!r}",
        )
