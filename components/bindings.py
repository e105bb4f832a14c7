"""The AnalyticsWorkspaceBinding model: parse and validate one manifest, without I/O.

A binding reaches the program as a plain ``dict`` (from the API server or from a YAML file).
Parsing turns it into either a frozen :class:`Binding` or an :class:`InvalidBinding` that names
the culprit (``namespace/name``) and the offending field. Returning the failure as data rather
than raising lets one bad binding be skipped while every other binding still converges, which the
legacy operator could not do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from components import naming
from components.inert import escape, unsafe_characters

GROUP = "xlscsde.nhs.uk"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "AnalyticsWorkspaceBinding"
PLURAL = "analyticsworkspacebindings"

_DNS1123_LABEL_PART = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
# fullmatch, never ``$``: ``$`` also matches before a trailing newline.
_DNS1123_LABEL = re.compile(_DNS1123_LABEL_PART)
_DNS1123_LABEL_MAX = 63
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL_PART}(\.{_DNS1123_LABEL_PART})*")
_DNS1123_SUBDOMAIN_MAX = 253
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
REPLICAS_MAX = 2**31 - 1
"""``spec.replicas`` ends up in a Deployment's ``int32`` replicas field."""
WORKSPACE_MAX = naming.GUACAMOLE_NAME_MAX - 2
"""The login ``{workspace}@{username}`` fits ``varchar(128)`` only if the workspace leaves room
for ``@`` and at least one character of username."""


@dataclass(frozen=True)
class Binding:
    """A valid binding: user ``username`` may use workspace ``workspace`` until ``expires``."""

    namespace: str
    name: str
    workspace: str
    username: str
    expires: date
    replicas: int = 0
    comments: str = ""
    status_deployment_name: str | None = None
    status_text: str | None = None
    origin: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        """``namespace/name``: how every message and stack output refers to this binding."""
        return f"{self.namespace}/{self.name}"

    @property
    def identity(self) -> tuple[str, str]:
        """Bindings with the same identity share one browser workspace (legacy behaviour)."""
        return (self.workspace, self.username)

    def is_expired(self, today: date) -> bool:
        """A binding is valid through its expiry date, so it lapses the day after."""
        return self.expires < today


@dataclass(frozen=True)
class InvalidBinding:
    """A manifest that cannot be provisioned, with enough detail to fix it.

    ``namespace``, ``name`` and ``reason`` may quote the manifest's own text verbatim, so print
    them only through :attr:`message` or :func:`components.inert.escape`.
    """

    namespace: str | None
    name: str | None
    field: str
    reason: str
    origin: str = ""

    @property
    def key(self) -> str:
        """``namespace/name`` when the metadata was readable, otherwise where it came from."""
        if self.namespace and self.name:
            return f"{self.namespace}/{self.name}"
        return self.origin or "<unnamed binding>"

    @property
    def addressable(self) -> bool:
        """Whether the binding's status can be written back (it names a possible object)."""
        return is_object_name(self.namespace, self.name)

    @property
    def message(self) -> str:
        """One printable line: which binding, where it came from, which field and why."""
        where = f" (from {escape(self.origin)})" if self.origin and self.addressable else ""
        subject = f"{escape(self.field)}: " if self.field else ""
        return f"binding {escape(self.key)}{where} refused: {subject}{escape(self.reason)}"


def is_object_name(namespace: str | None, name: str | None) -> bool:
    """Whether ``namespace/name`` can name a binding in the API (so its status can be written)."""
    return (
        namespace is not None
        and name is not None
        and len(namespace) <= _DNS1123_LABEL_MAX
        and bool(_DNS1123_LABEL.fullmatch(namespace))
        and _is_subdomain(name)
    )


def _is_subdomain(value: str) -> bool:
    return len(value) <= _DNS1123_SUBDOMAIN_MAX and bool(_DNS1123_SUBDOMAIN.fullmatch(value))


class _RejectedError(Exception):
    """Internal: carries the field and reason of the first validation failure."""

    def __init__(self, field_path: str, reason: str) -> None:
        super().__init__(f"{field_path}: {reason}")
        self.field_path = field_path
        self.reason = reason


def parse_binding(manifest: Any, origin: str = "") -> Binding | InvalidBinding:
    """Validate one AnalyticsWorkspaceBinding manifest.

    Checks what the CRD schema and the API server check (object names, a real date, replicas
    within a Deployment's ``int32``) even when the manifest comes from a file that no API server
    has seen, plus what the program relies on: the workspace is an object name (so the legacy
    name hash is injective), the Guacamole group name and login fit ``varchar(128)``, the
    username holds no control or format characters (they would forge log lines and never
    survive a round trip unchanged), and claims-only bindings are refused explicitly because
    claim matching was never implemented.
    """
    if not isinstance(manifest, Mapping):
        return InvalidBinding(None, None, "", "manifest is not a mapping", origin)
    metadata = manifest.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    namespace = metadata.get("namespace")
    name = metadata.get("name")
    namespace = namespace if isinstance(namespace, str) and namespace else None
    name = name if isinstance(name, str) and name else None
    try:
        if manifest.get("kind") != KIND:
            raise _RejectedError("kind", f"must be {KIND}, got {manifest.get('kind')!r}")
        if manifest.get("apiVersion") != API_VERSION:
            raise _RejectedError(
                "apiVersion", f"must be {API_VERSION}, got {manifest.get('apiVersion')!r}"
            )
        if name is None:
            raise _RejectedError("metadata.name", "is required")
        if namespace is None:
            raise _RejectedError("metadata.namespace", "is required")
        if len(namespace) > _DNS1123_LABEL_MAX or not _DNS1123_LABEL.fullmatch(namespace):
            raise _RejectedError(
                "metadata.namespace",
                f"'{namespace}' is not a namespace name "
                "(lowercase letters, digits and '-'; at most 63 characters)",
            )
        if not _is_subdomain(name):
            raise _RejectedError(
                "metadata.name",
                f"'{name}' is not an object name "
                "(lowercase letters, digits, '-' and '.'; at most 253 characters)",
            )
        return _parse_valid(manifest, namespace, name, origin)
    except _RejectedError as rejected:
        return InvalidBinding(namespace, name, rejected.field_path, rejected.reason, origin)


def _parse_valid(manifest: Mapping[str, Any], namespace: str, name: str, origin: str) -> Binding:
    spec = manifest.get("spec")
    if not isinstance(spec, Mapping):
        raise _RejectedError("spec", "is required")
    workspace = _workspace(spec.get("workspace"))
    username = _username(spec.get("username"), spec.get("claims"))
    login = naming.guacamole_username(workspace, username)
    if len(login) > naming.GUACAMOLE_NAME_MAX:
        # The workspace fits on its own (checked above), so the username is what is too long.
        room = naming.GUACAMOLE_NAME_MAX - len(workspace) - 1
        raise _RejectedError(
            "spec.username",
            f"is {len(username)} characters: the Guacamole login '{login}' would be "
            f"{len(login)}, Guacamole stores at most {naming.GUACAMOLE_NAME_MAX}, which leaves "
            f"{room} for a username in workspace {workspace}",
        )
    status = manifest.get("status")
    status = status if isinstance(status, Mapping) else {}
    return Binding(
        namespace=namespace,
        name=name,
        workspace=workspace,
        username=username,
        expires=_expires(spec.get("expires")),
        replicas=_replicas(spec.get("replicas")),
        comments=_comments(spec.get("comments")),
        status_deployment_name=_optional_str(status.get("deploymentName")),
        status_text=_optional_str(status.get("statusText")),
        origin=origin,
    )


def _workspace(value: Any) -> str:
    if value is None or value == "":
        raise _RejectedError("spec.workspace", "is required")
    if not isinstance(value, str):
        raise _RejectedError("spec.workspace", f"must be a string, got {type(value).__name__}")
    if not _is_subdomain(value):
        raise _RejectedError(
            "spec.workspace",
            f"'{value}' is not the name of an AnalyticsWorkspace "
            "(lowercase letters, digits, '-' and '.'; at most 253 characters)",
        )
    if len(value) > WORKSPACE_MAX:
        raise _RejectedError(
            "spec.workspace",
            f"is {len(value)} characters; Guacamole stores the workspace as a connection group "
            f"name and in the login '<workspace>@<username>' (varchar({naming.GUACAMOLE_NAME_MAX})"
            f"), so a workspace may have at most {WORKSPACE_MAX}",
        )
    return value


def _username(value: Any, claims: Any) -> str:
    if value is None or value == "":
        if claims:
            raise _RejectedError(
                "spec.claims",
                "claims-only bindings are not supported (claim matching is not implemented); "
                "set spec.username",
            )
        raise _RejectedError("spec.username", "is required (spec.claims is not supported)")
    if not isinstance(value, str):
        raise _RejectedError("spec.username", f"must be a string, got {type(value).__name__}")
    unsafe = unsafe_characters(value)
    if unsafe:
        raise _RejectedError(
            "spec.username",
            "must not contain control or format characters, found "
            + ", ".join(dict.fromkeys(unsafe)),
        )
    return value


def _expires(value: Any) -> date:
    # PyYAML turns an unquoted 2025-01-31 into a date; the API server always sends a string.
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if value is None or value == "":
        raise _RejectedError("spec.expires", "is required")
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _RejectedError("spec.expires", f"must be a date (YYYY-MM-DD), got {value!r}")


def _replicas(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise _RejectedError("spec.replicas", f"must be an integer, got {value!r}")
    if value < 0:
        raise _RejectedError("spec.replicas", f"must not be negative, got {value}")
    if value > REPLICAS_MAX:
        raise _RejectedError(
            "spec.replicas", f"must be at most {REPLICAS_MAX} (a Deployment's limit), got {value}"
        )
    return value


def _comments(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _RejectedError("spec.comments", f"must be a string, got {type(value).__name__}")
    return value


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
