"""Names shared with the legacy AWMS Guacamole operator.

Every name here is part of a running platform's contract: Guacamole rows store the hostname,
Keycloak hands Guacamole the ``{workspace}@{username}`` login, and existing Deployments and
Services carry the legacy hash. Changing any function in this module orphans live objects, so
each one reproduces the legacy operator exactly and is pinned by known vectors in the tests.

All functions are pure: no Pulumi, no Kubernetes client, no I/O.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from urllib.parse import quote

LEGACY_URL_BASE = "https://workspaces.xlscsde.nhs.uk"
"""Prefix of the URL whose UUIDv5 is the legacy deployment name."""

GUACAMOLE_NAME_MAX = 128
"""Guacamole stores entity, group and connection names in ``varchar(128)`` columns."""

VNC_PORT = 5900

_LABEL_UNSAFE = re.compile(r"[^0-9a-z.]+")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_MAX = 63
_FENCE_PREFIX = "browsers-"


def deployment_name(workspace: str, username: str) -> str:
    """The legacy per-(workspace, username) name: 32 lowercase hex characters.

    ``quote`` keeps its default ``safe='/'`` because the legacy operator did; as a consequence a
    ``/`` inside the workspace would make ``("a/b", "c")`` and ``("a", "b/c")`` share a name. A
    workspace names a Kubernetes object and can never contain ``/``, so it is refused here to
    keep the mapping injective.
    """
    if "/" in workspace:
        raise ValueError(f"workspace {workspace!r} must not contain '/'")
    url = f"{LEGACY_URL_BASE}/{quote(workspace)}/{quote(username)}"
    return uuid.uuid5(uuid.NAMESPACE_URL, url).hex


def service_name(name: str) -> str:
    """Headless Service in front of the browser pod (legacy: ``client-<name>``)."""
    return f"client-{name}"


def vnc_secret_name(name: str) -> str:
    """Secret holding the per-connection VNC password (new: the legacy used a fixed 1234)."""
    return f"client-{name}-vnc"


def network_policy_name(name: str) -> str:
    """The per-binding NetworkPolicy of earlier versions, named like the Service it protected
    (the upgrade deletes it; tests and the raw baseline still name it)."""
    return f"client-{name}"


def workspace_network_policy_name(workspace: str) -> str:
    """NetworkPolicy fencing every browser pod of one workspace: ``browsers-<workspace>``, or
    ``browsers-sha256-<digest>`` when the workspace is not itself a short DNS label, so that
    any workspace string yields a valid name and two workspaces never share one."""
    if _DNS_LABEL.match(workspace) and len(workspace) <= _DNS_LABEL_MAX - len(_FENCE_PREFIX):
        return _FENCE_PREFIX + workspace
    digest = hashlib.sha256(workspace.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_FENCE_PREFIX}sha256-{digest[:40]}"


def guacamole_username(workspace: str, username: str) -> str:
    """The Guacamole login Keycloak emits in the ``workspace_id`` claim for the guacamole client."""
    return f"{workspace}@{username}"


def connection_hostname(name: str, namespace: str, cluster_domain: str = "cluster.local") -> str:
    """The in-cluster DNS name guacd dials: the headless Service's FQDN."""
    return f"{service_name(name)}.{namespace}.svc.{cluster_domain}"


def username_label(username: str) -> str:
    """AWMS's label form of a username (``xlscsde.nhs.uk/username``), used by Keycloak lookups.

    Mirrors ``KubernetesHelper.format_as_label``: casefold, then every run of characters outside
    ``[0-9a-z.]`` becomes ``___``. ``jane.doe@x.org`` -> ``jane.doe___x.org``.
    """
    return _LABEL_UNSAFE.sub("___", username.casefold())
