"""Dynamic providers for the Guacamole rows: connection group, user, connection.

Design rules (and why):

* **One transaction per operation.** ``create``/``update``/``delete``/``read`` each call
  ``Database.run`` once, so a failure leaves the database as it was and the engine's view stays
  true.
* **No database in ``check``/``diff``.** A no-op ``pulumi up`` (check + diff only) issues zero
  SQL; ``diff`` compares desired inputs with the outputs recorded by the last
  create/update/read (see ``diffing``).
* **``read`` only reads** (a read-only transaction) and returns what the database holds as
  outputs, keeping the inputs as the desired state: a ``pulumi refresh`` after an out-of-band
  edit makes the next ``up`` repair it; a deleted row yields an empty id so the engine forgets it.
* **Adoption.** ``create`` of a natural key that already exists (for example rows written by the
  legacy operator) adopts the row and converges it instead of failing or duplicating.
* **No credentials in the pickle.** Instances carry no state when constructed, and
  ``__getstate__`` drops whatever ``configure`` added, so dill pickles each provider by
  reference to this module with an empty state: the serialised ``__provider`` never contains
  the DSN and stays byte-identical across code changes that do not rename the classes.

The plumbing behind these rules (connection handle, ``check``, ``diff``) is shared with the
database-bootstrap providers in ``provider_base``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from . import connections, groups, users
from .database import Cursor, Database, shared_database
from .diffing import same_value
from .errors import ConfigurationError
from .hashing import make_credentials
from .inputs import Field, plain
from .provider_base import ConfigGetter, SqlProvider
from .settings import missing_dsn_message, resolve_dsn
from .validation import RULES as ROW_RULES
from .validation import Kind


def _parse_id(value: Any, what: str) -> int:
    """Pulumi ids are strings; ours are the integer primary keys."""
    try:
        number = int(str(plain(value)))
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a Guacamole database id") from None
    if number < 1:
        raise ValueError(f"{what} {value!r} is not a Guacamole database id")
    return number


def _optional_int(value: Any) -> int | None:
    value = plain(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    return None


class _GuacamoleProvider(SqlProvider[Database]):
    """The row providers' family: the application DSN, one pooled ``Database`` per process."""

    RULES = ROW_RULES
    HANDLE_KEY = "_database"
    HANDLE_LOCK = threading.Lock()

    def _open(self, config_get: ConfigGetter | None) -> Database | None:
        dsn = resolve_dsn(config_get, os.environ)
        return shared_database(dsn) if dsn else None

    def _missing(self) -> Exception:
        return ConfigurationError(missing_dsn_message())

    def _db(self) -> Database:
        return self._handle()

    @classmethod
    def observe(cls, cur: Cursor, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """The outputs ``read`` reports for the stored row(s), or None if they are gone.

        A class method on a caller's cursor so the drift check (``drift``) can observe every
        row of a stack in one read-only transaction with exactly ``read``'s logic.
        """
        raise NotImplementedError

    def _read(self, id_: str, props: Mapping[str, Any]) -> ReadResult:
        outs = self._db().run(lambda cur: self.observe(cur, id_, props), read_only=True)
        return ReadResult("", {}) if outs is None else ReadResult(id_, outs)


# ---------------------------------------------------------------------------------------------
# Connection group
# ---------------------------------------------------------------------------------------------


class ConnectionGroupProvider(_GuacamoleProvider):
    """An ORGANIZATIONAL connection group at ROOT, one per workspace."""

    FIELDS = (
        Field("group_name", Kind.NAME, identity=True),
        Field("max_connections", Kind.COUNT, required=False, default=1000),
        Field("max_connections_per_user", Kind.COUNT, required=False, default=1000),
        Field("enable_session_affinity", Kind.BOOL, required=False, default=True),
    )
    HEALTHY_FLAGS = ("at_root", "organizational")

    @staticmethod
    def _settings(inputs: Mapping[str, Any]) -> groups.GroupSettings:
        return groups.GroupSettings(
            max_connections=inputs["max_connections"],
            max_connections_per_user=inputs["max_connections_per_user"],
            enable_session_affinity=inputs["enable_session_affinity"],
        )

    @staticmethod
    def _outputs(row: groups.GroupRow, adopted: bool) -> dict[str, Any]:
        return {
            "group_name": row.name,
            "max_connections": row.max_connections,
            "max_connections_per_user": row.max_connections_per_user,
            "enable_session_affinity": row.enable_session_affinity,
            "group_id": row.group_id,
            "duplicate_group_ids": list(row.duplicate_ids),
            "at_root": row.parent_id is None,
            "organizational": row.type == groups.ORGANIZATIONAL,
            "adopted": adopted,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the group or adopt the lowest-id root group with the same name."""
        inputs = self._require(props)
        name: str = inputs["group_name"]
        settings = self._settings(inputs)
        ensured = self._db().run(lambda cur: groups.ensure_root_group(cur, name, settings))
        row = ensured.row
        if row.duplicate_ids:
            pulumi.log.warn(
                f"connection group {name!r}: adopted id {row.group_id}, the lowest of several "
                f"root groups with this name; duplicates {list(row.duplicate_ids)} left untouched"
            )
        return CreateResult(str(row.group_id), self._outputs(row, adopted=not ensured.created))

    @classmethod
    def observe(cls, cur: Cursor, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """The outputs ``read`` reports for the stored group, or None if it was deleted."""
        row = groups.read_group(cur, _parse_id(id_, "connection group id"))
        if row is None:
            return None
        return cls._outputs(row, adopted=bool(plain(props.get("adopted"))))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Report the group as stored (empty id if it was deleted)."""
        return self._read(id_, props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Converge placement and limits of the existing group."""
        inputs = self._require(news)
        group_id = _parse_id(id_, "connection group id")
        settings = self._settings(inputs)
        row = self._db().run(lambda cur: groups.converge_group(cur, group_id, settings))
        return UpdateResult(self._outputs(row, adopted=bool(plain(olds.get("adopted")))))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        """Delete the group if empty; leave it, with a warning, while anything else remains."""
        group_id = _parse_id(id_, "connection group id")
        outcome = self._db().run(lambda cur: groups.delete_group(cur, group_id))
        if outcome.left:
            pulumi.log.warn(
                f"connection group {outcome.name!r} (id {group_id}) left in Guacamole: it still "
                f"holds {outcome.left}, which this program does not manage; the stack no longer "
                "tracks it (move or delete its content in Guacamole, then delete the group)"
            )


# ---------------------------------------------------------------------------------------------
# User
# ---------------------------------------------------------------------------------------------


class UserProvider(_GuacamoleProvider):
    """A USER entity, its enabled ``guacamole_user`` row and READ on itself.

    ``disabled`` is owned: a user the program declares has a live binding, so a user disabled
    out of band (the Guacamole UI, a stray script) is drift that ``read`` reports and the next
    update repairs.
    """

    FIELDS = (
        Field("username", Kind.NAME, identity=True),
        Field("password", Kind.PASSWORD, required=False),
    )
    HEALTHY_FLAGS = ("has_user_row", "self_read", "password_current", "enabled")

    @staticmethod
    def _outputs(
        *,
        username: str,
        password: str | None,
        entity_id: int,
        user_id: int | None,
        self_read: bool,
        password_current: bool,
        enabled: bool,
        adopted: bool,
    ) -> dict[str, Any]:
        outs: dict[str, Any] = {
            "username": username,
            "entity_id": entity_id,
            "user_id": user_id,
            "has_user_row": user_id is not None,
            "self_read": self_read,
            "password_current": password_current,
            "enabled": enabled,
            "adopted": adopted,
        }
        if password is not None:
            outs["password"] = password
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the user, or adopt it and reset its credentials to the desired ones."""
        inputs = self._require(props)
        name: str = inputs["username"]
        password: str | None = inputs.get("password")
        credentials = make_credentials(password)
        ensured = self._db().run(lambda cur: users.ensure_user(cur, name, credentials))
        if not ensured.created:
            pulumi.log.info(f"Guacamole user {name!r}: adopted existing entity {ensured.entity_id}")
        outs = self._outputs(
            username=name,
            password=password,
            entity_id=ensured.entity_id,
            user_id=ensured.user_id,
            self_read=True,
            password_current=True,
            enabled=True,
            adopted=not ensured.created,
        )
        return CreateResult(str(ensured.entity_id), outs)

    @classmethod
    def observe(cls, cur: Cursor, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """The outputs ``read`` reports for the stored user, or None if it was deleted.

        The desired password (if any) is verified against the stored hash.
        """
        row = users.read_user(cur, _parse_id(id_, "user entity id"))
        if row is None:
            return None
        password = plain(props.get("password"))
        return cls._outputs(
            username=row.name,
            password=password,
            entity_id=row.entity_id,
            user_id=row.user_id,
            self_read=row.self_read,
            password_current=row.user_id is not None and row.password_matches(password),
            enabled=row.user_id is not None and not row.disabled,
            adopted=bool(plain(props.get("adopted"))),
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Report the user as stored; verifies the desired password against the stored hash."""
        return self._read(id_, props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Rewrite credentials if the password changed or drifted; restore self READ."""
        inputs = self._require(news)
        entity_id = _parse_id(id_, "user entity id")
        password: str | None = inputs.get("password")
        reset = (
            not same_value(plain(olds.get("password")), password)
            or plain(olds.get("password_current")) is False
        )
        credentials = make_credentials(password)
        user_id = self._db().run(
            lambda cur: users.converge_user(cur, entity_id, credentials, reset_credentials=reset)
        )
        outs = self._outputs(
            username=inputs["username"],
            password=password,
            entity_id=entity_id,
            user_id=user_id,
            self_read=True,
            password_current=True,
            enabled=True,
            adopted=bool(plain(olds.get("adopted"))),
        )
        return UpdateResult(outs)

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        """Delete the entity; the user row and every permission go with it (cascade)."""
        entity_id = _parse_id(id_, "user entity id")
        self._db().run(lambda cur: users.delete_user(cur, entity_id))


# ---------------------------------------------------------------------------------------------
# Connection
# ---------------------------------------------------------------------------------------------

_MANAGED_PARAMETERS = frozenset({"hostname", "port", "password", "disable-copy", "disable-paste"})


def _parse_port(value: str | None) -> int | str | None:
    """The stored port as int; unparsable text is returned as is so the diff sees it."""
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def _parse_flag(value: str | None) -> bool | str | None:
    """Guacamole booleans are the text "true"/"false"; anything else is reported verbatim."""
    if value == "true":
        return True
    if value == "false":
        return False
    return value


def connection_outputs(
    row: connections.ConnectionRow, *, entity_id: int | None, adopted: bool
) -> dict[str, Any]:
    """Outputs describing ``row`` in terms of the resource's inputs (pure)."""
    params = row.parameters
    return {
        "connection_id": row.connection_id,
        "group_id": row.group_id,
        "connection_name": row.name,
        "entity_id": entity_id,
        "hostname": params.get("hostname"),
        "port": _parse_port(params.get("port")),
        "password": params.get("password"),
        "disable_copy": _parse_flag(params.get("disable-copy")),
        "disable_paste": _parse_flag(params.get("disable-paste")),
        "is_vnc": row.protocol == connections.VNC,
        "read_on_connection": row.read_on_connection,
        "read_on_group": row.read_on_group,
        "unmanaged_parameters": sorted(set(params) - _MANAGED_PARAMETERS),
        "adopted": adopted,
    }


class ConnectionProvider(_GuacamoleProvider):
    """A VNC connection in a workspace group, readable (with its group) by one user entity."""

    FIELDS = (
        Field("group_id", Kind.ID, identity=True),
        Field("connection_name", Kind.NAME, identity=True),
        Field("entity_id", Kind.ID),
        Field("hostname", Kind.TEXT),
        Field("port", Kind.PORT, required=False, default=5900),
        Field("password", Kind.SECRET),
        Field("disable_copy", Kind.BOOL, required=False, default=True),
        Field("disable_paste", Kind.BOOL, required=False, default=True),
    )
    HEALTHY_FLAGS = ("is_vnc", "read_on_connection", "read_on_group")
    DRIFT_LISTS = ("unmanaged_parameters",)

    @staticmethod
    def _spec(inputs: Mapping[str, Any]) -> connections.ConnectionSpec:
        return connections.ConnectionSpec(
            group_id=inputs["group_id"],
            name=inputs["connection_name"],
            entity_id=inputs["entity_id"],
            parameters=connections.vnc_parameters(
                hostname=inputs["hostname"],
                port=inputs["port"],
                password=inputs["password"],
                disable_copy=inputs["disable_copy"],
                disable_paste=inputs["disable_paste"],
            ),
        )

    @staticmethod
    def _converged(inputs: Mapping[str, Any], connection_id: int, adopted: bool) -> dict[str, Any]:
        return {
            **inputs,
            "connection_id": connection_id,
            "is_vnc": True,
            "read_on_connection": True,
            "read_on_group": True,
            "unmanaged_parameters": [],
            "adopted": adopted,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the connection, or adopt the one with the same group and name."""
        inputs = self._require(props)
        spec = self._spec(inputs)
        ensured = self._db().run(lambda cur: connections.ensure_connection(cur, spec))
        if not ensured.created:
            pulumi.log.info(
                f"Guacamole connection {spec.name!r} in group {spec.group_id}: adopted existing "
                f"connection {ensured.connection_id}"
            )
        outs = self._converged(inputs, ensured.connection_id, adopted=not ensured.created)
        return CreateResult(str(ensured.connection_id), outs)

    @classmethod
    def observe(cls, cur: Cursor, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """The outputs ``read`` reports: the row, its parameters and the entity's READ grants."""
        entity_id = _optional_int(props.get("entity_id"))
        row = connections.read_connection(cur, _parse_id(id_, "connection id"), entity_id)
        if row is None:
            return None
        return connection_outputs(
            row, entity_id=entity_id, adopted=bool(plain(props.get("adopted")))
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Report the connection, its parameters and the entity's READ grants as stored."""
        return self._read(id_, props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Converge parameters and grants; move the grants if the user entity changed."""
        inputs = self._require(news)
        connection_id = _parse_id(id_, "connection id")
        spec = self._spec(inputs)
        previous = _optional_int(olds.get("entity_id"))
        self._db().run(
            lambda cur: connections.converge_connection(
                cur, connection_id, spec, previous_entity_id=previous
            )
        )
        adopted = bool(plain(olds.get("adopted")))
        return UpdateResult(self._converged(inputs, connection_id, adopted))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete the connection and the entity's READ on the group (if no longer needed)."""
        connection_id = _parse_id(id_, "connection id")
        entity_id = _optional_int(props.get("entity_id"))
        group_id = _optional_int(props.get("group_id"))
        self._db().run(
            lambda cur: connections.delete_connection(
                cur, connection_id, entity_id=entity_id, group_id=group_id
            )
        )
