"""When the watcher stops a browser nobody uses (``idleTimeout`` and friends)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.settings.readers import SettingsError, read_bool, read_seconds


@dataclass(frozen=True)
class IdleSettings:
    """When the watcher stops a browser nobody uses (seconds; ``timeout`` 0 turns it off).

    ``max_session_age`` caps how long a session row left open counts as active: Guacamole closes
    a row when the tunnel ends, so a row open for longer was left behind by a crash.
    """

    timeout: int
    startup_grace: int
    max_session_age: int
    check_interval: int
    dry_run: bool

    @property
    def enabled(self) -> bool:
        return self.timeout > 0


IDLE_DEFAULTS = IdleSettings(1800, 900, 86400, 60, False)
"""The defaults of ``DEFAULTS`` (for a ``Settings`` built without them, as in tests)."""


def read_idle(values: Mapping[str, Any]) -> IdleSettings:
    seconds = {
        key: read_seconds(values, key)
        for key in ("idleTimeout", "idleStartupGrace", "idleMaxSessionAge", "idleCheckInterval")
    }
    for key in ("idleStartupGrace", "idleMaxSessionAge", "idleCheckInterval"):
        if seconds[key] < 1:
            raise SettingsError(f"{key}: must be at least 1 second, got {seconds[key]}")
    return IdleSettings(
        timeout=seconds["idleTimeout"],
        startup_grace=seconds["idleStartupGrace"],
        max_session_age=seconds["idleMaxSessionAge"],
        check_interval=seconds["idleCheckInterval"],
        dry_run=read_bool(values, "idleDryRun"),
    )
