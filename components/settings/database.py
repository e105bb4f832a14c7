"""What the optional database bootstrap creates (``bootstrapDatabase`` and friends)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.settings.readers import (
    SettingsError,
    read_bool,
    read_choice,
    read_nonempty,
)

IDENTIFIER_MAX_BYTES = 63
"""PostgreSQL truncates longer identifiers (NAMEDATALEN - 1)."""

_RESERVED_ROLES = {"public", "none", "current_user", "session_user", "current_role"}


@dataclass(frozen=True)
class DatabaseBootstrapSettings:
    """What the optional database bootstrap creates (``bootstrapDatabase`` and friends)."""

    enabled: bool
    database_name: str
    owner_role: str
    login_role: str
    schema_version: Literal["1.5", "1.6"]
    drop_on_delete: bool
    seed_admin: bool


def read_database_bootstrap(values: Mapping[str, Any]) -> DatabaseBootstrapSettings:
    owner = read_identifier(values, "guacamoleOwnerRole", role=True)
    login = read_identifier(values, "guacamoleLoginRole", role=True)
    if owner == login:
        raise SettingsError(
            f"guacamoleLoginRole: must differ from guacamoleOwnerRole ({owner!r}); the login role "
            "must not own the schema, or it could drop it"
        )
    version = read_choice(values, "guacamoleSchemaVersion", {"1.5", "1.6"})
    return DatabaseBootstrapSettings(
        enabled=read_bool(values, "bootstrapDatabase"),
        database_name=read_identifier(values, "guacamoleDatabaseName", role=False),
        owner_role=owner,
        login_role=login,
        schema_version="1.6" if version == "1.6" else "1.5",
        drop_on_delete=read_bool(values, "guacamoleDropOnDelete"),
        seed_admin=read_bool(values, "guacamoleSeedAdmin"),
    )


def read_identifier(values: Mapping[str, Any], key: str, *, role: bool) -> str:
    """A PostgreSQL database or role name: non-empty, at most 63 bytes, not reserved."""
    value = read_nonempty(values, key)
    if "\x00" in value:
        raise SettingsError(f"{key}: must not contain NUL characters")
    if len(value.encode("utf-8")) > IDENTIFIER_MAX_BYTES:
        raise SettingsError(
            f"{key}: {value!r} is longer than {IDENTIFIER_MAX_BYTES} bytes, which PostgreSQL "
            "would silently truncate"
        )
    if role and (value.lower() in _RESERVED_ROLES or value.startswith("pg_")):
        raise SettingsError(f"{key}: {value!r} is reserved by PostgreSQL and cannot name a role")
    return value
