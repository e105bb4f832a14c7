"""Exact, database-free diffs for the dynamic providers.

Why pure: ``diff()`` runs on every ``pulumi preview``/``up`` for every resource (1,000 bindings
mean ~3,000 calls). It must not touch the database (a no-op ``up`` issues zero SQL) and it must
be exact: no change → ``changes=False``, a natural-key change → replacement, anything else →
in-place update. "Olds" are the resource's last outputs, which ``read()`` fills from the
database on ``pulumi refresh``, so drift found by a refresh shows up here as a difference between
observed and desired values, or as a ``False`` health flag (e.g. a missing permission).

Both provider families (Guacamole rows and the database bootstrap) diff with this one function,
so the rules cannot drift apart between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.dynamic_provider import is_unknown

from .inputs import Field, UnknownTest, plain


@dataclass(frozen=True)
class Diff:
    """The outcome of a diff; mapped onto ``pulumi.dynamic.DiffResult`` by the providers."""

    changed: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    drift: tuple[str, ...] = field(default=())

    @property
    def has_changes(self) -> bool:
        """True if an update or a replacement is needed."""
        return bool(self.changed or self.replaces or self.drift)


def same_value(old: Any, new: Any) -> bool:
    """Equality that treats 5 and 5.0 alike (the engine turns numbers into floats)."""
    old, new = plain(old), plain(new)
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return float(old) == float(new)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(same_value(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


def compute_diff(
    fields: Iterable[Field[Any]],
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    *,
    healthy_flags: Sequence[str] = (),
    drift_lists: Sequence[str] = (),
    unknown: UnknownTest = is_unknown,
) -> Diff:
    """Compare desired ``news`` with the recorded ``olds``.

    * A field whose new value is ``unknown`` counts as changed (a replacement if it is part of
      the identity): the real ``up`` diffs again with known values, so this only affects
      previews. Fields with ``diffed=False`` are never compared.
    * ``healthy_flags`` name boolean outputs that ``read()`` sets to False when it finds drift the
      inputs cannot express (a missing permission, a stale password hash); False → update.
    * ``drift_lists`` name list outputs that must be empty (e.g. unmanaged parameters).
    """
    changed: list[str] = []
    replaces: list[str] = []
    for f in fields:
        if not f.diffed:
            continue
        new = plain(news.get(f.name, f.default))
        old = plain(olds.get(f.name))
        if unknown(new) or not same_value(old, new):
            (replaces if f.identity else changed).append(f.name)
    drift = [flag for flag in healthy_flags if plain(olds.get(flag)) is False]
    drift.extend(name for name in drift_lists if plain(olds.get(name)))
    return Diff(changed=tuple(changed), replaces=tuple(replaces), drift=tuple(drift))
