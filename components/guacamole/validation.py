"""Validation of the Guacamole row providers' input fields (the ``check()`` of all three).

Why here and pure: a bad value must be rejected in ``check()`` (during preview, before any SQL)
with a message naming the field, the value's length or type, and the limit: e.g. a 300-character
workspace name would otherwise surface as a truncation error from PostgreSQL halfway through an
update. Guacamole's name columns are ``varchar(128)`` (characters, not bytes), parameter values
``varchar(4096)``, and PostgreSQL text cannot hold NUL characters.

Values arrive from the Pulumi engine as plain Python values: numbers are floats, unknown values
(during preview) are ``pulumi.output.Unknown`` instances, and secrets may be wrapped. Unknown
values are passed through untouched; they are validated once known. The procedure around the
per-kind rules below (defaults, unknowns, secrets) is shared with the bootstrap providers in
``inputs``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from components.dynamic_provider import is_unknown

from .field_rules import FieldRules
from .inputs import Field, password_problem

NAME_MAX_CHARS = 128
PARAMETER_VALUE_MAX_CHARS = 4096


class Kind(Enum):
    """How a field is validated and normalised."""

    NAME = "name"  # Guacamole object name: varchar(128)
    TEXT = "text"  # connection parameter value: varchar(4096)
    SECRET = "secret"  # noqa: S105 - secret connection parameter value: varchar(4096), never echoed
    PASSWORD = "password"  # noqa: S105 - local login password: any non-empty text, never echoed
    PORT = "port"  # TCP port 1..65535
    ID = "id"  # database id (serial): integer >= 1
    COUNT = "count"  # non-negative integer limit
    BOOL = "bool"


def _describe(value: Any) -> str:
    return type(value).__name__


def _as_int(value: Any) -> int | None:
    """An integral int/float as int (the engine sends numbers as floats); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _check_text(field: str, value: Any, limit: int, *, secret: bool, what: str) -> str | None:
    if not isinstance(value, str):
        return f"{field} must be a string, got {_describe(value)}"
    if "\x00" in value:
        return f"{field} must not contain NUL characters (PostgreSQL text cannot store them)"
    if not value.strip():
        return f"{field} must not be empty or blank"
    if len(value) > limit:
        shown = "the value" if secret else f"{value[:40]!r}…"
        return (
            f"{field} is {len(value)} characters long ({shown}); Guacamole stores {what} in "
            f"varchar({limit}), so at most {limit} characters are allowed"
        )
    return None


def _validate(field: Field[Any], value: Any) -> tuple[Any, str | None]:
    """Normalise one known value; return (value, problem or None)."""
    name = field.name
    kind = field.kind
    if kind is Kind.NAME:
        return value, _check_text(name, value, NAME_MAX_CHARS, secret=False, what="names")
    if kind is Kind.TEXT:
        return value, _check_text(
            name, value, PARAMETER_VALUE_MAX_CHARS, secret=False, what="parameter values"
        )
    if kind is Kind.SECRET:
        return value, _check_text(
            name, value, PARAMETER_VALUE_MAX_CHARS, secret=True, what="parameter values"
        )
    if kind is Kind.PASSWORD:
        omitted = "for a user without a local password"
        return value, password_problem(name, value, if_omitted=omitted)
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value, None
        return value, f"{name} must be a boolean, got {_describe(value)}"
    number = _as_int(value)
    if number is None:
        return value, f"{name} must be an integer, got {value!r}"
    if kind is Kind.PORT and not 1 <= number <= 65535:
        return number, f"{name} must be a TCP port between 1 and 65535, got {number}"
    if kind is Kind.ID and number < 1:
        return number, f"{name} must be a database id (a positive integer), got {number}"
    if kind is Kind.COUNT and number < 0:
        return number, f"{name} must not be negative, got {number}"
    return number, None


RULES = FieldRules(validate=_validate, unknown=is_unknown)
"""The row providers' rules: only a whole value can be unknown (no field holds a list)."""
