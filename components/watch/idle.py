"""When a running browser counts as idle: pure decisions over Guacamole's session records.

Guacamole writes one ``guacamole_connection_history`` row per session: inserted with
``start_date`` when the tunnel opens, ``end_date`` set when it closes (NULL while open). From
those rows and the moment the browser was first seen running, :func:`decide` says whether to stop
it. Every time is on the database's clock (the caller records ``running_since`` with the
database's ``now()``), so the watcher's and the database's clocks never mix.

Rules, in order:

1. A session open for less than ``max_session_age`` is active: never stop.
2. A session row open for longer was left behind by a crashed Guacamole: it counts as ended at
   ``start + max_session_age``.
3. Otherwise stop once BOTH the start-up grace since the browser was first seen running AND the
   idle timeout since the last session ended have passed. Taking the later of the two deadlines
   means neither a restarted watcher (which forgets when a browser started) nor an old session
   can make a browser stop earlier than either rule alone allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from components.settings import IdleSettings


@dataclass(frozen=True)
class Session:
    """One history row: when the tunnel opened and, once it has, closed."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class IdlePolicy:
    timeout: timedelta
    startup_grace: timedelta
    max_session_age: timedelta

    @classmethod
    def from_settings(cls, settings: IdleSettings) -> IdlePolicy:
        return cls(
            timeout=timedelta(seconds=settings.timeout),
            startup_grace=timedelta(seconds=settings.startup_grace),
            max_session_age=timedelta(seconds=settings.max_session_age),
        )

    @property
    def history_window(self) -> timedelta:
        """Rows that started earlier cannot matter: capped, they ended over ``timeout`` ago."""
        return self.max_session_age + self.timeout


class Verdict(StrEnum):
    KEEP = "keep"
    STOP = "stop"


class Reason(StrEnum):
    ACTIVE = "active session"
    WAITING = "within the idle timeout or start-up grace"
    NEVER_CONNECTED = "never connected within the start-up grace"
    IDLE = "idle since the last session ended"
    STALE = "only a session row left open beyond the maximum session age"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: Reason
    deadline: datetime | None
    """When the browser becomes stoppable (``None`` while a session is active)."""
    last_activity: datetime | None

    def describe(self) -> str:
        text = str(self.reason)
        if self.last_activity is not None:
            text += f" (last activity {self.last_activity.isoformat(timespec='seconds')})"
        if self.verdict is Verdict.KEEP and self.deadline is not None:
            text += f"; stoppable from {self.deadline.isoformat(timespec='seconds')}"
        return text


def decide(
    policy: IdlePolicy, now: datetime, running_since: datetime, sessions: Iterable[Session]
) -> Decision:
    """Keep or stop one running browser (see the module docstring for the rules)."""
    rows = list(sessions)
    active = [s for s in rows if s.end is None and now - s.start < policy.max_session_age]
    if active:
        return Decision(Verdict.KEEP, Reason.ACTIVE, None, max(s.start for s in active))
    latest = max(rows, key=lambda s: _effective_end(s, policy.max_session_age), default=None)
    last = None if latest is None else _effective_end(latest, policy.max_session_age)
    deadline = running_since + policy.startup_grace
    if last is not None:
        deadline = max(deadline, last + policy.timeout)
    if now < deadline:
        return Decision(Verdict.KEEP, Reason.WAITING, deadline, last)
    if last is None or last < running_since:  # no session overlapped this run
        reason = Reason.NEVER_CONNECTED
    elif latest is not None and latest.end is None:
        reason = Reason.STALE
    else:
        reason = Reason.IDLE
    return Decision(Verdict.STOP, reason, deadline, last)


def _effective_end(session: Session, max_age: timedelta) -> datetime:
    cap = session.start + max_age
    return cap if session.end is None else min(session.end, cap)


class RunningSince:
    """When each browser was first seen running, on the database clock (forgotten at 0).

    In memory only: after a watcher restart every running browser gets a fresh start-up grace,
    which can only delay a stop, never hasten one.
    """

    def __init__(self) -> None:
        self._since: dict[str, datetime] = {}

    def update(self, running: Iterable[str], now: datetime) -> Mapping[str, datetime]:
        current = set(running)
        self._since = {key: self._since.get(key, now) for key in current}
        return dict(self._since)
