"""Input fields of the bootstrap resources: validation in ``check()`` and the exact ``diff()``.

Why not ``..validation``: that module knows Guacamole's column limits; here the values are
PostgreSQL identifiers (at most 63 bytes, ``NAMEDATALEN - 1``; longer names are silently
truncated by the server, which would make the next read find "another" role), role lists and
schema versions. Everything around the per-kind rules (defaults, unknowns, secrets, and the
exact diff: no database access, identity fields replace, other fields update, ``False`` health
flags and non-empty drift lists filled by ``read()`` on refresh update) is the Guacamole
providers' own, from ``..inputs`` and ``..diffing``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from components.dynamic_provider import contains_unknown

from ..field_rules import FieldRules
from ..inputs import Field, password_problem, plain
from ..schema import normalise_version

IDENTIFIER_MAX_BYTES = 63
RESERVED_ROLE_NAMES = frozenset({"public", "none", "current_user", "session_user", "current_role"})


class Kind(Enum):
    """How a field is validated and normalised."""

    IDENTIFIER = "identifier"  # a database name
    ROLE = "role"  # a role name: an identifier that PostgreSQL does not reserve
    ROLES = "roles"  # a list of role names, normalised to sorted and unique
    PASSWORD = "password"  # noqa: S105 - a role password: non-empty text, never echoed
    VERSION = "version"  # Guacamole schema family "1.5" or "1.6"
    BOOL = "bool"


def _identifier(name: str, value: Any, *, role: bool) -> str | None:
    if not isinstance(value, str):
        return f"{name} must be a string, got {type(value).__name__}"
    if not value.strip():
        return f"{name} must not be empty or blank"
    if "\x00" in value:
        return f"{name} must not contain NUL characters"
    size = len(value.encode("utf-8"))
    if size > IDENTIFIER_MAX_BYTES:
        return (
            f"{name} {value[:40]!r}… is {size} bytes long; PostgreSQL truncates identifiers to "
            f"{IDENTIFIER_MAX_BYTES} bytes, so at most {IDENTIFIER_MAX_BYTES} are allowed"
        )
    if role and (value.lower() in RESERVED_ROLE_NAMES or value.startswith("pg_")):
        return f"{name} {value!r} is reserved by PostgreSQL and cannot name a role"
    return None


def _validate(field: Field[Any], value: Any) -> tuple[Any, str | None]:
    """Normalise one known value; return (value, problem or None)."""
    name, kind = field.name, field.kind
    if kind is Kind.IDENTIFIER:
        return value, _identifier(name, value, role=False)
    if kind is Kind.ROLE:
        return value, _identifier(name, value, role=True)
    if kind is Kind.ROLES:
        if not isinstance(value, list | tuple):
            return value, f"{name} must be a list of role names, got {type(value).__name__}"
        items = [plain(item) for item in value]
        for index, item in enumerate(items):
            problem = _identifier(f"{name}[{index}]", item, role=True)
            if problem:
                return value, problem
        return sorted(set(items)), None
    if kind is Kind.PASSWORD:
        return value, password_problem(name, value, if_omitted="to leave the password unmanaged")
    if kind is Kind.VERSION:
        try:
            return normalise_version(str(value)), None
        except ValueError as error:
            return value, f"{name}: {error}"
    if isinstance(value, bool):
        return value, None
    return value, f"{name} must be a boolean, got {type(value).__name__}"


RULES = FieldRules(validate=_validate, unknown=contains_unknown)
"""The bootstrap's rules: a role list is unknown while any of its items is."""
