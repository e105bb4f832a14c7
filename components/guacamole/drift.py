"""Find Guacamole rows that changed behind the program's back, without a ``pulumi refresh``.

Why: the providers' ``diff`` compares desired inputs with the outputs recorded in the state and
never touches the database (a no-op ``up`` issues no SQL), so a password reset to ``1234``, a
hostname edited in the Guacamole UI, a deleted READ permission or a disabled user stays invisible
until someone refreshes. Refreshing every row costs a provider call per resource; this check reads
every row the stack records in ONE read-only transaction, with exactly the logic each provider's
``read`` uses (``observe``), and compares the result with the recorded outputs. Only the
resources that differ need a targeted refresh, after which the normal ``diff`` sees the drift and
the next ``up`` repairs it with the program's current inputs, so a legitimate program change is
never reverted (the check compares the database with what was last written, not with a guess of
what should be there).

A :class:`Drift` names fields only, never values: the recorded outputs include the VNC password.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .database import Cursor
from .diffing import same_value
from .inputs import plain
from .providers import ConnectionGroupProvider, ConnectionProvider, UserProvider

PROVIDERS: dict[str, type[ConnectionGroupProvider | UserProvider | ConnectionProvider]] = {
    "ConnectionGroup": ConnectionGroupProvider,
    "User": UserProvider,
    "Connection": ConnectionProvider,
}
"""The row resources by the last part of their type token (``.../guacamole:User``)."""

IGNORED = frozenset({"adopted"})
"""Outputs that describe the program's history, not the database."""

GONE = "<deleted>"


@dataclass(frozen=True)
class RecordedRow:
    """One Guacamole row resource as the state records it (outputs with secrets in plain)."""

    urn: str
    kind: str
    id: str
    outputs: Mapping[str, Any]

    def __repr__(self) -> str:  # outputs hold the VNC password
        return f"RecordedRow(urn={self.urn!r}, id={self.id!r})"


@dataclass(frozen=True)
class Drift:
    """A resource whose rows differ from the state; ``fields`` are output names only."""

    urn: str
    fields: tuple[str, ...]

    def describe(self) -> str:
        what = "deleted" if self.fields == (GONE,) else ", ".join(self.fields)
        return f"{self.urn.rsplit('::', 1)[-1]}: {what}"


def row_kind(resource_type: str) -> str | None:
    """``ConnectionGroup``/``User``/``Connection`` for a Guacamole row type token, else None."""
    module, _, name = resource_type.rpartition(":")
    if not module.endswith("guacamole") or name not in PROVIDERS:
        return None
    return name


def compare(
    kind: str, recorded: Mapping[str, Any], observed: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """Names of the outputs where the database (``observed``) differs from the state (pure).

    A key the state does not record (written by an older version) only counts when it is a
    health flag that is now False, so upgrading the program does not refresh every row once.
    """
    if observed is None:
        return (GONE,)
    healthy = set(PROVIDERS[kind].HEALTHY_FLAGS)
    drifted: list[str] = []
    for key, value in observed.items():
        if key in IGNORED:
            continue
        if key not in recorded:
            if key in healthy and plain(value) is False:
                drifted.append(key)
            continue
        if not same_value(recorded[key], value):
            drifted.append(key)
    return tuple(drifted)


def find_drift(cur: Cursor, rows: Iterable[RecordedRow]) -> list[Drift]:
    """Observe every recorded row (the caller's read-only transaction) and list the drift."""
    found: list[Drift] = []
    for row in rows:
        provider = PROVIDERS[row.kind]
        observed = provider.observe(cur, row.id, row.outputs)
        fields = compare(row.kind, row.outputs, observed)
        if fields:
            found.append(Drift(row.urn, fields))
    return found
