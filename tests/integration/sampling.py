"""Watching a run from the side: a thread that samples something until the run is over."""

from __future__ import annotations

import threading
import time
from typing import Self


class Sampler:
    """Calls :meth:`take` in a thread, every ``interval`` seconds, while used as a context.

    Why a thread: what an upgrade or a repair must never do (lose access, leave a pod unfenced)
    can happen for a moment in the middle of a run, which a check after the run cannot see.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def take(self) -> None:
        """One sample; subclasses keep what they need of it."""
        raise NotImplementedError

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.take()
            self.samples += 1
            time.sleep(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
