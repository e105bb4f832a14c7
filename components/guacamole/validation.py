"""Declarative input fields and their validation, shared by the three providers' ``check()``.

Why here and pure: a bad value must be rejected in ``check()`` (during preview, before any SQL)
with a message naming the field, the value's length or type, and the limit: e.g. a 300-character
workspace name would otherwise surface as a truncation error from PostgreSQL halfway through an
update. Guacamole's name columns are ``varchar(128)`` (characters, not bytes), parameter values
``varchar(4096)``, and PostgreSQL text cannot hold NUL characters.

Values arrive from the Pulumi engine as plain Python values: numbers are floats, unknown values
(during preview) are ``pulumi.output.Unknown`` instances, and secrets may be wrapped. Unknown
values are passed through untouched; they are validated once known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

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


@dataclass(frozen=True)
class Field:
    """One input property of a dynamic resource.

    ``identity`` fields form the natural key: changing one replaces the resource; every other
    field is updated in place. A field with ``required=False`` takes ``default`` when absent.
    """

    name: str
    kind: Kind
    required: bool = True
    default: Any = None
    identity: bool = False


@dataclass(frozen=True)
class Problem:
    """A validation failure: which property and why (mapped to ``CheckFailure``)."""

    field: str
    reason: str


def is_unknown(value: Any) -> bool:
    """True for a value that is not known yet (preview)."""
    return isinstance(value, Unknown) or value == rpc.UNKNOWN


def plain(value: Any) -> Any:
    """Unwrap a secret-wrapped value (the engine may send them to providers that accept them)."""
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value


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


def _validate(field: Field, value: Any) -> tuple[Any, str | None]:
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
        if not isinstance(value, str):
            return value, f"{name} must be a string, got {_describe(value)}"
        if not value:
            return value, f"{name} must not be empty; omit it for a user without a local password"
        if "\x00" in value:
            return value, f"{name} must not contain NUL characters"
        return value, None
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


def check_inputs(
    fields: Iterable[Field], news: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate and normalise ``news`` against ``fields``.

    Returns the normalised inputs (defaults filled in, integers as ``int``, unknown values kept,
    properties that are not fields dropped) and the problems found.
    """
    inputs: dict[str, Any] = {}
    problems: list[Problem] = []
    for field in fields:
        value = plain(news.get(field.name))
        if value is None:
            if field.required:
                problems.append(Problem(field.name, f"{field.name} is required"))
            elif field.default is not None:
                inputs[field.name] = field.default
            continue
        if is_unknown(value):
            inputs[field.name] = value
            continue
        normalised, problem = _validate(field, value)
        inputs[field.name] = normalised
        if problem is not None:
            problems.append(Problem(field.name, problem))
    return inputs, problems


def require_valid(fields: Iterable[Field], props: Mapping[str, Any]) -> dict[str, Any]:
    """``check_inputs`` for create/update: raise ``ValueError`` listing every problem."""
    inputs, problems = check_inputs(fields, props)
    unknown = [name for name, value in inputs.items() if is_unknown(value)]
    if unknown:
        problems.extend(Problem(name, f"{name} is not known") for name in unknown)
    if problems:
        raise ValueError("; ".join(p.reason for p in problems))
    return inputs

