"""The next expiry boundary (a date change, announced by no event)."""

from __future__ import annotations

from datetime import UTC, datetime

from components.watch.expiry import next_expiry
from tests.factories import manifest


def test_next_expiry_is_the_first_midnight_after_an_expiry_date() -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    bindings = [
        manifest("a", expires="2025-06-03"),
        manifest("b", expires="2025-06-01"),  # valid through today
        manifest("c", expires="2025-05-01"),  # already expired: no boundary ahead
        manifest("bad", expires="soon"),
    ]
    boundary = next_expiry(bindings, now)
    assert boundary is not None
    assert boundary.date().isoformat() == "2025-06-02" and boundary > now
    assert next_expiry([], now) is None
