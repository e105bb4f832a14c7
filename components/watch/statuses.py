"""What each binding's status should say: after a success (the program's view) or a failure.

The program's ``BindingStatus`` resources write READY/EXPIRED/INVALID, but only when the desired
status differs from the one recorded in the stack state. A failure report written here
(``statusText: ERROR: ...``) is invisible to that comparison, so after the next successful run
the watcher puts back what the program would write. That value is computed with the program's own
planning and status helpers (:mod:`components.planning`, :mod:`components.binding_status`) on the
watcher's cache of bindings, the same input the run just used. ``replicas`` is left out of a
READY status put back: the program's last write mirrored the Deployment's observed count, and a
status restored here has no better value.

Engine errors may relay binding text; :func:`error_status` neutralises every control and format
character (text the program already escaped stays as it is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from components.binding_status import (
    STATUS_TEXT_MAX,
    expired_status,
    invalid_status,
    ready_status,
)
from components.bindings import parse_binding
from components.inert import neutralise
from components.planning import plan_workspaces

ERROR_PREFIX = "ERROR: "


def desired_statuses(
    bindings: Mapping[str, Mapping[str, Any]], keys: Iterable[str], today: date
) -> dict[str, dict[str, Any]]:
    """The status the program writes for each of ``keys`` (absent keys are left out)."""
    wanted = set(keys)
    plan = plan_workspaces((parse_binding(m, k) for k, m in bindings.items()), today)
    out: dict[str, dict[str, Any]] = {}
    for workspace in plan.workspaces:
        for binding in workspace.bindings:
            if binding.key in wanted:
                status = ready_status(workspace.deployment_name, workspace.replicas)
                del status["replicas"]
                out[binding.key] = status
    for binding in plan.expired:
        if binding.key in wanted:
            out[binding.key] = expired_status()
    for invalid in plan.invalid:
        if invalid.addressable and invalid.key in wanted and invalid.key not in out:
            out[invalid.key] = invalid_status(invalid.field, invalid.reason)
    return out


def error_status(message: str, *, attempt: int, retry_in: float | None) -> dict[str, Any]:
    """``statusText`` naming the failure, the attempt and when the next one comes."""
    first_line = next((line.strip() for line in message.splitlines() if line.strip()), "failed")
    retry = f"retry in {retry_in:.0f}s" if retry_in is not None else "not retried"
    suffix = f" (attempt {attempt}, {retry})"
    room = max(0, STATUS_TEXT_MAX - len(ERROR_PREFIX) - len(suffix))
    return {"statusText": f"{ERROR_PREFIX}{neutralise(first_line, room)}{suffix}"}


def has_error_status(manifest: Mapping[str, Any]) -> bool:
    """Whether a binding still shows a failure this watcher (or a previous one) reported."""
    status = manifest.get("status")
    text = status.get("statusText") if isinstance(status, Mapping) else None
    return isinstance(text, str) and text.startswith(ERROR_PREFIX)
