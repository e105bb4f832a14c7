"""Dynamic providers for the Guacamole rows: connection group, connection with its user.

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

from . import access, connections, groups, users
from .database import Cursor, Database, shared_database
from .errors import ConfigurationError
from .hashing import make_credentials
from .inputs import Field, plain
from .outputs import connection_outputs, converged_user_outputs, owned_user_outputs
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
    """A user written as a resource of its own, as states from before ``access`` recorded it.

    The program no longer declares users apart from their connection; this provider stays so
    that the engine can read and delete the user resources such states still hold (dill stores
    each resource's provider by module and class name).
    """

    FIELDS = (Field("username", Kind.NAME, identity=True),)
    HEALTHY_FLAGS = ("has_user_row", "self_read", "enabled")

    @classmethod
    def observe(cls, cur: Cursor, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """The outputs ``read`` reports for the stored user, or None if it was deleted."""
        row = users.read_user(cur, _parse_id(id_, "user entity id"))
        if row is None:
            return None
        return {
            **owned_user_outputs(row),
            "entity_id": row.entity_id,
            "adopted": bool(plain(props.get("adopted"))),
        }

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Report the user as stored."""
        return self._read(id_, props)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete the entity (the user row and every permission go with it), unless its
        connection now owns it: a state from before the two became one resource."""
        entity_id = _parse_id(id_, "user entity id")
        kept = self._db().run(lambda cur: users.delete_unowned_user(cur, entity_id))
        if kept:
            pulumi.log.info(
                f"Guacamole user {plain(props.get('username'))!r} (entity {entity_id}) kept: "
                "its connection resource now holds it"
            )


# ---------------------------------------------------------------------------------------------
# Connection
# ---------------------------------------------------------------------------------------------


def _owned(props: Mapping[str, Any]) -> bool:
    """True when the recorded connection owns its user (written with a ``username``)."""
    return isinstance(plain(props.get("username")), str)


class ConnectionProvider(_GuacamoleProvider):
    """A VNC connection in a workspace group and the user who may open it (see ``access``).

    States written while the user was a separate resource record an ``entity_id`` input and no
    ``username``; such a connection is upgraded by its next ``update`` (the user adopted by
    name) and, if deleted first, is deleted alone, its user going with its own resource.
    """

    FIELDS = (
        Field("group_id", Kind.ID, identity=True),
        Field("connection_name", Kind.NAME, identity=True),
        Field("username", Kind.NAME),
        Field("hostname", Kind.TEXT),
        Field("port", Kind.PORT, required=False, default=5900),
        Field("password", Kind.SECRET),
        Field("disable_copy", Kind.BOOL, required=False, default=True),
        Field("disable_paste", Kind.BOOL, required=False, default=True),
    )
    HEALTHY_FLAGS = (
        "is_vnc",
        "read_on_connection",
        "read_on_group",
        "has_user_row",
        "self_read",
        "enabled",
    )
    DRIFT_LISTS = ("unmanaged_parameters",)

    @staticmethod
    def _spec(inputs: Mapping[str, Any]) -> access.AccessSpec:
        return access.AccessSpec(
            username=inputs["username"],
            group_id=inputs["group_id"],
            name=inputs["connection_name"],
            parameters=connections.vnc_parameters(
                hostname=inputs["hostname"],
                port=inputs["port"],
                password=inputs["password"],
                disable_copy=inputs["disable_copy"],
                disable_paste=inputs["disable_paste"],
            ),
        )

    @staticmethod
    def _converged(
        inputs: Mapping[str, Any], granted: access.Granted, adopted: bool
    ) -> dict[str, Any]:
        return {
            **inputs,
            **converged_user_outputs(inputs["username"], granted.user_id),
            "connection_id": granted.connection_id,
            "entity_id": granted.entity_id,
            "is_vnc": True,
            "read_on_connection": True,
            "read_on_group": True,
            "unmanaged_parameters": [],
            "adopted": adopted,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the user and the connection, or adopt the ones with the same names."""
        inputs = self._require(props)
        spec = self._spec(inputs)
        credentials = make_credentials(None)
        granted = self._db().run(lambda cur: access.grant(cur, spec, credentials))
        if granted.adopted:
            pulumi.log.info(
                f"Guacamole connection {spec.name!r} in group {spec.group_id} for "
                f"{spec.username!r}: adopted existing rows (connection {granted.connection_id}, "
                f"user entity {granted.entity_id})"
            )
        outs = self._converged(inputs, granted, adopted=granted.adopted)
        return CreateResult(str(granted.connection_id), outs)

    @classmethod
    def observe(cls, cur: Cursor, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """The outputs ``read`` reports: the row, its parameters, the user and its READ grants.

        None when the connection is gone, or the user it owns is: either way the grant no
        longer exists, and the next ``up`` creates (adopting what is left) the pair again.
        """
        entity_id = _optional_int(props.get("entity_id"))
        owned = _owned(props)
        found = access.observe(cur, _parse_id(id_, "connection id"), entity_id, owned=owned)
        if found is None:
            return None
        row, user = found
        outs = connection_outputs(
            row, entity_id=entity_id, adopted=bool(plain(props.get("adopted")))
        )
        if not owned:
            return outs
        if user is None:
            return None
        return {**outs, **owned_user_outputs(user)}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Report the connection, its parameters, its user and READ grants as stored."""
        return self._read(id_, props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Converge parameters, user and grants; move the grants if the user changed."""
        inputs = self._require(news)
        connection_id = _parse_id(id_, "connection id")
        spec = self._spec(inputs)
        credentials = make_credentials(None)
        previous = _optional_int(olds.get("entity_id"))
        owned = _owned(olds)
        granted = self._db().run(
            lambda cur: access.converge(
                cur,
                connection_id,
                spec,
                credentials,
                previous_entity_id=previous,
                previous_owned=owned,
            )
        )
        return UpdateResult(self._converged(inputs, granted, bool(plain(olds.get("adopted")))))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete the user it owns, the connection and the user's READ on the group."""
        connection_id = _parse_id(id_, "connection id")
        entity_id = _optional_int(props.get("entity_id"))
        group_id = _optional_int(props.get("group_id"))
        owned = _owned(props)
        self._db().run(
            lambda cur: access.revoke(
                cur, connection_id, entity_id=entity_id, group_id=group_id, owned=owned
            )
        )
