"""The idle decision at its boundaries: active sessions, the idle timeout, the start-up grace, rows
left open by a crashed Guacamole, and a restarted watcher that forgot when a browser started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from components.settings import IdleSettings, settings_from_values
from components.watch.idle import (
    IdlePolicy,
    Reason,
    RunningSince,
    Session,
    Verdict,
    decide,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
TICK = timedelta(microseconds=1)
POLICY = IdlePolicy(timeout=30 * MIN, startup_grace=10 * MIN, max_session_age=24 * 60 * MIN)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def closed(start: float, end: float) -> Session:
    return Session(at(start), at(end))


def open_(start: float) -> Session:
    return Session(at(start), None)


DAY = 24 * 60


@pytest.mark.parametrize(
    ("now", "since", "sessions", "verdict", "reason"),
    [
        # Never connected: the grace runs from when the browser was first seen running.
        (at(10) - TICK, at(0), [], Verdict.KEEP, Reason.WAITING),
        (at(10), at(0), [], Verdict.STOP, Reason.NEVER_CONNECTED),
        # An old session from before this start does not count as connecting now ...
        (at(10), at(0), [closed(-200, -100)], Verdict.STOP, Reason.NEVER_CONNECTED),
        # ... but it still holds the browser for the idle timeout after it ended.
        (at(10), at(0), [closed(-30, -5)], Verdict.KEEP, Reason.WAITING),
        (at(25) - TICK, at(0), [closed(-30, -5)], Verdict.KEEP, Reason.WAITING),
        (at(25), at(0), [closed(-30, -5)], Verdict.STOP, Reason.NEVER_CONNECTED),
        # An open session keeps the browser, however long ago it started (under the cap).
        (at(500), at(0), [open_(1)], Verdict.KEEP, Reason.ACTIVE),
        (at(1 + DAY) - TICK, at(0), [open_(1)], Verdict.KEEP, Reason.ACTIVE),
        (at(1 + DAY), at(0), [open_(1), closed(2, 3)], Verdict.KEEP, Reason.WAITING),
        # One open session among closed ones is enough.
        (at(500), at(0), [closed(1, 2), open_(3), closed(4, 5)], Verdict.KEEP, Reason.ACTIVE),
        # Idle timeout after the last session ended.
        (at(35) - TICK, at(0), [closed(1, 5)], Verdict.KEEP, Reason.WAITING),
        (at(35), at(0), [closed(1, 5)], Verdict.STOP, Reason.IDLE),
        (at(59) - TICK, at(0), [closed(1, 5), closed(6, 29)], Verdict.KEEP, Reason.WAITING),
        (at(59), at(0), [closed(6, 29), closed(1, 5)], Verdict.STOP, Reason.IDLE),
        (at(59), at(0), [closed(6, 29), closed(1, 30)], Verdict.KEEP, Reason.WAITING),
        (at(60), at(0), [closed(6, 29), closed(1, 30)], Verdict.STOP, Reason.IDLE),
        # A short session that ended at once still waits for the grace.
        (at(9), at(0), [closed(1, 1)], Verdict.KEEP, Reason.WAITING),
        (at(31), at(0), [closed(1, 1)], Verdict.STOP, Reason.IDLE),
        # A row left open by a crashed Guacamole ends at start + max age.
        (at(2 + DAY), at(0), [open_(1)], Verdict.KEEP, Reason.WAITING),
        (at(31 + DAY) - TICK, at(0), [open_(1)], Verdict.KEEP, Reason.WAITING),
        (at(31 + DAY), at(0), [open_(1)], Verdict.STOP, Reason.STALE),
        (at(31 + DAY), at(0), [closed(0, 2), open_(1)], Verdict.STOP, Reason.STALE),
        (at(31 + DAY), at(0), [open_(1), closed(2, 5)], Verdict.STOP, Reason.STALE),
        (at(40 + DAY), at(0), [open_(1), closed(2, 2 + DAY)], Verdict.STOP, Reason.IDLE),
        # A stale row from before this start is not a connection now.
        (at(20), at(0), [open_(-2 * DAY)], Verdict.STOP, Reason.NEVER_CONNECTED),
        # A restarted watcher (running_since = its start) never stops earlier than the timeout.
        (at(100), at(95), [closed(1, 90)], Verdict.KEEP, Reason.WAITING),
        (at(120), at(95), [closed(1, 90)], Verdict.STOP, Reason.NEVER_CONNECTED),
        # A session already open when the browser was first seen counts as connecting.
        (at(42) - TICK, at(10), [closed(5, 12)], Verdict.KEEP, Reason.WAITING),
        (at(42), at(10), [closed(5, 12)], Verdict.STOP, Reason.IDLE),
        # A session that started on a clock ahead of the database's is still active.
        (at(10), at(0), [open_(11)], Verdict.KEEP, Reason.ACTIVE),
    ],
)
def test_decide(
    now: datetime, since: datetime, sessions: list[Session], verdict: Verdict, reason: Reason
) -> None:
    decision = decide(POLICY, now, since, sessions)
    assert (decision.verdict, decision.reason) == (verdict, reason), decision.describe()


def test_the_deadline_is_the_later_of_grace_and_idle_timeout():
    decision = decide(POLICY, at(11), at(0), [closed(1, 5)])
    assert decision.deadline == at(35)
    assert decision.last_activity == at(5)
    assert "stoppable from" in decision.describe()
    assert decide(POLICY, at(3), at(0), [open_(2)]).deadline is None


def test_policy_from_settings_and_its_history_window():
    settings = settings_from_values({"idleTimeout": 60, "idleMaxSessionAge": 3600})
    policy = IdlePolicy.from_settings(settings.idle)
    assert policy.timeout == timedelta(seconds=60)
    assert policy.startup_grace == timedelta(seconds=900)
    assert policy.history_window == timedelta(seconds=3660)
    assert not IdleSettings(0, 1, 1, 1, False).enabled


def test_rows_outside_the_history_window_cannot_change_a_decision():
    """Anything that started before now - window ended (capped) over a timeout ago."""
    now = at(5 * DAY)
    oldest = now - POLICY.history_window
    for row in (Session(oldest - TICK, None), Session(oldest - TICK, oldest + 29 * MIN)):
        with_row = decide(POLICY, now, at(0), [row, closed(4 * DAY, 4 * DAY + 1)])
        without = decide(POLICY, now, at(0), [closed(4 * DAY, 4 * DAY + 1)])
        assert with_row.verdict == without.verdict == Verdict.STOP


def test_running_since_remembers_the_first_sighting_and_forgets_at_zero():
    tracker = RunningSince()
    assert tracker.update(["a", "b"], at(0)) == {"a": at(0), "b": at(0)}
    assert tracker.update(["a", "b", "c"], at(5)) == {"a": at(0), "b": at(0), "c": at(5)}
    assert tracker.update(["c"], at(6)) == {"c": at(5)}
    assert tracker.update(["a", "c"], at(7)) == {"a": at(7), "c": at(5)}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"idleTimeout": -1}, "idleTimeout: must be whole seconds"),
        ({"idleTimeout": 1.5}, "idleTimeout: must be whole seconds"),
        ({"idleTimeout": True}, "idleTimeout: must be whole seconds"),
        ({"idleStartupGrace": 0}, "idleStartupGrace: must be at least 1 second"),
        ({"idleMaxSessionAge": 0}, "idleMaxSessionAge: must be at least 1 second"),
        ({"idleCheckInterval": 0}, "idleCheckInterval: must be at least 1 second"),
        ({"idleDryRun": "yes"}, "idleDryRun: must be true or false"),
    ],
)
def test_bad_idle_settings_name_the_key(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_values(values)


def test_idle_settings_from_stack_strings():
    settings = settings_from_values({"idleTimeout": "0", "idleDryRun": "true"})
    assert settings.idle.timeout == 0 and not settings.idle.enabled and settings.idle.dry_run
