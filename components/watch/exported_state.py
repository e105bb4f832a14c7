"""Reading a state exported with ``pulumi stack export --show-secrets``.

Both drift halves compare recorded values with live ones, and some recorded values are secrets
(a connection's password, a VNC Secret's data): the export wraps each in a marker object
holding its plaintext as JSON, which this module unwraps. The values stay in memory; nothing
here logs them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # noqa: S105 - a type marker
"""The key Pulumi marks a secret value with in an exported state."""


def decoded(value: Any) -> Any:
    """An exported property value with ``--show-secrets`` secrets turned into their values."""
    if isinstance(value, Mapping):
        if value.get(SECRET_SIGNATURE) is not None and "plaintext" in value:
            return json.loads(str(value["plaintext"]))
        return {key: decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decoded(item) for item in value]
    return value
