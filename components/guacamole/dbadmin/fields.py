"""Input fields of the bootstrap resources: validation in ``check()`` and the exact ``diff()``.

Why not ``..validation``: that module knows Guacamole's column limits; here the values are
PostgreSQL identifiers (at most 63 bytes, ``NAMEDATALEN - 1``; longer names are silently
truncated by the server, which would make the next read find "another" role), role lists and
schema versions. The diff rules are the same as the Guacamole providers': no database access,
identity fields replace, other fields update, ``False`` health flags and non-empty drift lists
(filled by ``read()`` on refresh) update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..diffing import Diff, same_value
from ..schema import normalise_version
from ..validation import Problem, is_unknown, plain

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


@dataclass(frozen=True)
class Field:
    """One input property. ``diffed=False`` fields matter only to ``create`` (never an update)."""

    name: str
    kind: Kind
    required: bool = True
    default: Any = None
    identity: bool = False
    diffed: bool = True


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


def _validate(field: Field, value: Any) -> tuple[Any, str | None]:
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
        if not isinstance(value, str):
            return value, f"{name} must be a string, got {type(value).__name__}"
        if not value:
            return value, f"{name} must not be empty; omit it to leave the password unmanaged"
        if "\x00" in value:
            return value, f"{name} must not contain NUL characters"
        return value, None
    if kind is Kind.VERSION:
        try:
            return normalise_version(str(value)), None
        except ValueError as error:
            return value, f"{name}: {error}"
    if isinstance(value, bool):
        return value, None
    return value, f"{name} must be a boolean, got {type(value).__name__}"


def _contains_unknown(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(_contains_unknown(item) for item in value)
    return is_unknown(value)


def check_inputs(
    fields: Iterable[Field], news: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate and normalise ``news``: defaults filled in, unknown values (preview) kept."""
    inputs: dict[str, Any] = {}
    problems: list[Problem] = []
    for field in fields:
        value = plain(news.get(field.name))
        if value is None:
            if field.required:
                problems.append(Problem(field.name, f"{field.name} is required"))
            elif field.default is not None:
                inputs[field.name] = _validate(field, field.default)[0]  # e.g. () -> []
            continue
        if _contains_unknown(value):
            inputs[field.name] = value
            continue
        normalised, problem = _validate(field, value)
        inputs[field.name] = normalised
        if problem is not None:
            problems.append(Problem(field.name, problem))
    return inputs, problems


def require_valid(fields: Iterable[Field], props: Mapping[str, Any]) -> dict[str, Any]:
    """``check_inputs`` for create/update: raise ``ValueError`` naming every problem."""
    inputs, problems = check_inputs(fields, props)
    problems.extend(
        Problem(name, f"{name} is not known")
        for name, value in inputs.items()
        if _contains_unknown(value)
    )
    if problems:
        raise ValueError("; ".join(p.reason for p in problems))
    return inputs


def compute_diff(
    fields: Iterable[Field],
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    *,
    healthy_flags: Sequence[str] = (),
    drift_lists: Sequence[str] = (),
) -> Diff:
    """Desired ``news`` against recorded ``olds`` (outputs of the last create/update/read)."""
    changed: list[str] = []
    replaces: list[str] = []
    for field in fields:
        if not field.diffed:
            continue
        new = plain(news.get(field.name, field.default))
        old = plain(olds.get(field.name))
        if _contains_unknown(new) or not same_value(old, new):
            (replaces if field.identity else changed).append(field.name)
    drift = [flag for flag in healthy_flags if plain(olds.get(flag)) is False]
    drift.extend(name for name in drift_lists if plain(olds.get(name)))
    return Diff(changed=tuple(changed), replaces=tuple(replaces), drift=tuple(drift))
