"""A condition that waiters share and that shutdown closes once for all of them."""

from __future__ import annotations

import threading


class Closable:
    """Waiters block on ``_cond`` and give up once ``_closed`` is set: shutdown must reach
    every thread that waits, whatever it waits for."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._closed = False

    def wake(self) -> None:
        """Make waiters re-check their conditions (an event they watch was set)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter for shutdown; nothing waits any longer after it."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
