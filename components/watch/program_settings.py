"""The few program settings the watcher shares with the stack, read from its configuration.

Watching must look at the same cluster and namespace the program reads bindings from, and write
failure reports only if the program writes status at all. Values are validated by the program's
own :func:`components.settings.settings_from_values`, so a stack the program would refuse is
refused here too, before anything starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.settings import Settings, settings_from_values

SHARED_KEYS = (
    "bindingsSource",
    "bindingsFile",
    "bindingsNamespace",
    "kubeconfig",
    "writeBindingStatus",
    "idleTimeout",
    "idleStartupGrace",
    "idleMaxSessionAge",
    "idleCheckInterval",
    "idleDryRun",
    "driftAcceptedFieldManagers",
)


def shared_settings(config: Mapping[str, Any]) -> Settings:
    """Validate the shared keys of a stack's configuration (others keep their defaults)."""
    return settings_from_values({key: config[key] for key in SHARED_KEYS if key in config})
