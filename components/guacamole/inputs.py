"""Declarative input fields and the generic ``check()`` machinery of the SQL providers.

Why one module: the Guacamole row providers and the database-bootstrap providers validate
different kinds of values (Guacamole column limits there, PostgreSQL identifiers here), but the
procedure around the per-kind validation is the same and must stay the same for both: unwrap
secrets, fill in defaults, pass values that are not known yet (preview) through untouched, and
report every problem by field name. Each family supplies only its ``Kind`` enum and a
``Validator``; see ``field_rules`` for the bundle the providers use.

Values arrive from the Pulumi engine as plain Python values: numbers are floats, unknown values
(during preview) are ``pulumi.output.Unknown`` instances or the RPC sentinel, and secrets may be
wrapped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from pulumi.runtime import rpc

KindT = TypeVar("KindT", bound=Enum)


@dataclass(frozen=True)
class Field(Generic[KindT]):
    """One input property of a dynamic resource.

    ``identity`` fields form the natural key: changing one replaces the resource; every other
    field is updated in place. A field with ``required=False`` takes ``default`` when absent.
    ``diffed=False`` fields matter only to ``create`` (a change never causes an update).
    """

    name: str
    kind: KindT
    required: bool = True
    default: Any = None
    identity: bool = False
    diffed: bool = True


@dataclass(frozen=True)
class Problem:
    """A validation failure: which property and why (mapped to ``CheckFailure``)."""

    field: str
    reason: str


Validator = Callable[[Field[Any], Any], tuple[Any, str | None]]
"""Normalise one known value of a field; return (value, problem or None)."""

UnknownTest = Callable[[Any], bool]
"""True for a value that must not be validated or compared yet (not known during preview)."""


def plain(value: Any) -> Any:
    """Unwrap a secret-wrapped value (the engine may send them to providers that accept them)."""
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value


def password_problem(name: str, value: Any, *, if_omitted: str) -> str | None:
    """Why ``value`` cannot be a password (``None`` if it can); ``if_omitted`` says what leaving
    the field out means instead, since an empty password is always a mistake."""
    if not isinstance(value, str):
        return f"{name} must be a string, got {type(value).__name__}"
    if not value:
        return f"{name} must not be empty; omit it {if_omitted}"
    if "\x00" in value:
        return f"{name} must not contain NUL characters"
    return None


def check_fields(
    fields: Iterable[Field[Any]],
    news: Mapping[str, Any],
    validate: Validator,
    unknown: UnknownTest,
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate and normalise ``news`` against ``fields``.

    Returns the normalised inputs (defaults filled in and normalised like given values, unknown
    values kept, properties that are not fields dropped) and the problems found.
    """
    inputs: dict[str, Any] = {}
    problems: list[Problem] = []
    for field in fields:
        value = plain(news.get(field.name))
        if value is None:
            if field.required:
                problems.append(Problem(field.name, f"{field.name} is required"))
            elif field.default is not None:
                inputs[field.name] = validate(field, field.default)[0]  # e.g. () -> []
            continue
        if unknown(value):
            inputs[field.name] = value
            continue
        normalised, problem = validate(field, value)
        inputs[field.name] = normalised
        if problem is not None:
            problems.append(Problem(field.name, problem))
    return inputs, problems


def require_fields(
    fields: Iterable[Field[Any]],
    props: Mapping[str, Any],
    validate: Validator,
    unknown: UnknownTest,
) -> dict[str, Any]:
    """``check_fields`` for create/update: raise ``ValueError`` naming every problem."""
    inputs, problems = check_fields(fields, props, validate, unknown)
    problems.extend(
        Problem(name, f"{name} is not known") for name, value in inputs.items() if unknown(value)
    )
    if problems:
        raise ValueError("; ".join(p.reason for p in problems))
    return inputs
