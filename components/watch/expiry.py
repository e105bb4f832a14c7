"""When the next binding expires: a change of date, not of any object, so no event announces it.

The program treats a binding as valid through its ``spec.expires`` date (UTC) and removes its
browser from the next day. Nothing in the cluster changes at midnight, so the watcher schedules a
full run for the earliest such boundary among the bindings it knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from components.bindings import Binding, parse_binding

SLACK = timedelta(seconds=1)


def next_expiry(bindings: Iterable[Mapping[str, Any]], now: datetime) -> datetime | None:
    """The first instant after ``now`` at which some binding becomes expired."""
    parsed = (parse_binding(manifest) for manifest in bindings)
    boundaries = [_boundary(b.expires) for b in parsed if isinstance(b, Binding)]
    upcoming = [b for b in boundaries if b > now]
    return min(upcoming) if upcoming else None


def _boundary(expires: date) -> datetime:
    return datetime.combine(expires + timedelta(days=1), time(0), UTC) + SLACK
