"""Kubernetes Events on AnalyticsWorkspaceBindings, so ``kubectl describe awsb`` tells the story.

The legacy operator reported its work through ``kopf.info`` events on the binding; this program
does the same with core/v1 Events whose ``involvedObject`` is the binding (uid included, which is
how ``kubectl describe`` finds them), ``source.component``/``reportingComponent`` naming this
program. Reasons:

* ``Created`` / ``Adopted``: the binding's browser workspace and Guacamole login were provisioned,
  or taken over from whoever provisioned them before (the recorded status already named them);
* ``Scaled``: the browser's replicas followed ``spec.replicas``;
* ``Revoked``: the binding expired, its browser workspace and login are removed;
* ``Refused`` (Warning): the binding is invalid, with the field and the reason;
* ``Failed`` (Warning): a run that concerns the binding failed (the watcher reports it);
* ``IdleStopped`` / ``IdleStopPending``: the idle reaper scaled the browser to 0 (or, in dry-run,
  would have).

Which event a status change deserves is decided where the status is written
(:mod:`components.binding_status`, :mod:`components.watch.status_writer`); :func:`post` is the
I/O here, best effort: an event that cannot be posted is logged and dropped, never a failure of
the run. Messages pass through :func:`components.inert.neutralise`, so binding text escaped when
the message was composed stays escaped and nothing else can break a line.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from components.bindings import API_VERSION, KIND
from components.inert import neutralise
from components.kube_client import client

log = logging.getLogger(__name__)

COMPONENT = "awms-browser-workspaces"
MESSAGE_MAX = 1024
_NAME_MAX = 253
_REQUEST_TIMEOUT = (5, 15)


class Reason(StrEnum):
    CREATED = "Created"
    ADOPTED = "Adopted"
    SCALED = "Scaled"
    REVOKED = "Revoked"
    REFUSED = "Refused"
    FAILED = "Failed"
    IDLE_STOPPED = "IdleStopped"
    IDLE_STOP_PENDING = "IdleStopPending"


_WARNINGS = frozenset({Reason.REFUSED, Reason.FAILED})


@dataclass(frozen=True)
class BindingEvent:
    reason: Reason
    message: str

    @property
    def type(self) -> str:
        return "Warning" if self.reason in _WARNINGS else "Normal"


def event_body(
    namespace: str, name: str, uid: str | None, event: BindingEvent, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about the binding ``namespace/name`` (pure, for tests)."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    involved: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "namespace": namespace,
        "name": name,
    }
    if uid:
        involved["uid"] = uid
    suffix = f".{uuid.uuid4().hex[:16]}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name[: _NAME_MAX - len(suffix)] + suffix, "namespace": namespace},
        "involvedObject": involved,
        "reason": str(event.reason),
        "message": neutralise(event.message, MESSAGE_MAX),
        "type": event.type,
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname()[:128],
    }


def post(
    events: client.CoreV1Api,
    namespace: str,
    name: str,
    uid: str | None,
    event: BindingEvent,
) -> bool:
    """Create the Event; False (and a log line) if the API refused or could not be reached."""
    body = event_body(namespace, name, uid, event, datetime.now(UTC))
    try:
        events.create_namespaced_event(namespace, body, _request_timeout=_REQUEST_TIMEOUT)
    except Exception as error:  # best effort: an event never fails a run
        log.warning(
            "cannot post %s event on binding %s/%s: %s",
            event.reason,
            namespace,
            name,
            neutralise(getattr(error, "reason", None) or error, 200),
        )
        return False
    return True


def uid_of(body: Any) -> str | None:
    """The uid in an object returned by the API (a dict from the custom objects client)."""
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    uid = metadata.get("uid") if isinstance(metadata, Mapping) else None
    return uid if isinstance(uid, str) and uid else None
