"""What is live right now: purpose-labelled objects and the browser connections in root groups.

Why at program time: ``preview`` must show leftovers (expired, invalid and deleted bindings'
objects and rows, legacy field ownership) before anything is changed, and only the program runs
during a preview. The reads are label-selected lists in the browser namespace (a shard's only
for its own workspaces and for unlabelled objects) and one read-only query; a failure of either
is reported and leaves that half of the inventory empty, so a dead API server or database never
stops the rest of the run (the revocations that can still be done, are).

A connection is a *browser* connection when its ``hostname`` parameter names a
``client-<32 hex>`` Service in the browser namespace: those are the legacy operator's and this
program's; anything else in a group (an administrator's own connection) is *foreign* and never
touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from components.guacamole.settings import redact
from components.kube_client import client, new_api_client
from components.manifests import (
    FIELD_MANAGER,
    PATCH_FIELD_MANAGER,
    PURPOSE,
    PURPOSE_LABEL,
    USERNAME_ANNOTATION,
    WORKSPACE_ANNOTATION,
    WORKSPACE_LABEL,
    workspace_label_value,
)

LEGACY_MANAGERS = ("OpenAPI-Generator",)
"""Field managers of the legacy operator (the kubernetes Python client's user agent)."""
LEGACY_PASSWORD = "1234"  # noqa: S105 - the legacy operator's fixed value, recognised, never set
_REQUEST_TIMEOUT = (5, 30)
WHOLE_NAMESPACE = f"{PURPOSE_LABEL}={PURPOSE}"
"""The selector of every purpose-labelled object in the browser namespace."""
_PER_SELECTOR = 100
"""Workspaces per label selector: a request line stays a few kilobytes whatever the shard."""


@dataclass(frozen=True)
class LiveObject:
    """A purpose-labelled Deployment or Service in the browser namespace."""

    kind: str
    name: str
    workspace: str | None
    username: str | None
    ours: bool
    """Applied by this program (its apply annotation names our field manager): the engine owns
    its fate. Not the managedFields: a take-over hands our manager fields it never applied."""
    legacy_owned: bool
    """A legacy ``Update`` entry still owns some of its fields."""


@dataclass(frozen=True)
class LiveConnection:
    """A connection in a root group, with what tells a browser connection from a foreign one."""

    group: str
    name: str
    connection_id: int
    hostname: str | None
    legacy_password: bool


@dataclass(frozen=True)
class Inventory:
    objects: tuple[LiveObject, ...] = ()
    connections: tuple[LiveConnection, ...] = ()
    kubernetes_read: bool = False
    database_read: bool = False
    problems: tuple[str, ...] = field(default=())


def scoped(inventory: Inventory, owns: Callable[[str | None], bool]) -> Inventory:
    """The part of ``inventory`` in the workspaces ``owns`` accepts (a shard's own).

    Connections belong to their group's workspace; objects to their annotated workspace (one
    without annotations is never an orphan, see ``components.takeover.leftovers``, and is left
    to shard 0).
    """
    return replace(
        inventory,
        objects=tuple(o for o in inventory.objects if owns(o.workspace)),
        connections=tuple(c for c in inventory.connections if owns(c.group)),
    )


def browser_hostname(namespace: str) -> re.Pattern[str]:
    """Hostnames of browser Services in ``namespace`` (any cluster domain)."""
    return re.compile(rf"^client-([0-9a-f]{{32}})\.{re.escape(namespace)}\.svc\.")


def read_inventory(
    kubeconfig: str,
    namespace: str,
    dsn: str | None,
    workspaces: Collection[str] | None = None,
    elsewhere: Collection[str] = (),
) -> Inventory:
    """Both halves of the inventory; each failure is a problem, never an exception.

    ``workspaces`` narrows the Kubernetes half to those workspaces' objects plus every object
    without the workspace label (``None``: the whole namespace); see :func:`read_objects`.
    ``elsewhere`` (workspaces placed on other shards) narrows the database half; see
    :func:`read_connections`.
    """
    problems: list[str] = []
    objects: tuple[LiveObject, ...] = ()
    connections: tuple[LiveConnection, ...] = ()
    kube_ok = db_ok = False
    try:
        objects = tuple(read_objects(new_api_client(kubeconfig or None), namespace, workspaces))
        kube_ok = True
    except Exception as error:  # any failure only narrows the inventory
        problems.append(f"cannot list objects in namespace {namespace}: {_first_line(error)}")
    if dsn:
        try:
            connections = tuple(read_connections(dsn, elsewhere))
            db_ok = True
        except psycopg.Error as error:
            problems.append(f"cannot read Guacamole connections: {redact(_first_line(error), dsn)}")
    else:
        problems.append("no Guacamole database configured for the program: connections not read")
    return Inventory(objects, connections, kube_ok, db_ok, tuple(problems))


def object_selectors(workspaces: Collection[str] | None) -> list[str]:
    """The label selectors that list the purpose-labelled objects of ``workspaces``.

    ``None``: one selector for the whole namespace. Otherwise the objects labelled with one of
    those workspaces (in chunks, to keep each request line short) and every object without the
    label: the legacy operator's, and the program's own from before it labelled them. After the
    first run that adopts them the last list is empty, so a shard's cost follows the size of its
    own workspaces, not the fleet's.
    """
    if workspaces is None:
        return [WHOLE_NAMESPACE]
    values = sorted({workspace_label_value(w) for w in workspaces})
    selectors = [
        f"{WHOLE_NAMESPACE},{WORKSPACE_LABEL} in ({','.join(values[i : i + _PER_SELECTOR])})"
        for i in range(0, len(values), _PER_SELECTOR)
    ]
    return [*selectors, f"{WHOLE_NAMESPACE},!{WORKSPACE_LABEL}"]


RawObject = dict[str, Any]
"""A Kubernetes object as the API's JSON (camelCase keys)."""


def list_browser_objects(
    api: client.ApiClient,
    namespace: str,
    selectors: Iterable[str],
    timeout: tuple[float, float] = _REQUEST_TIMEOUT,
) -> list[tuple[str, RawObject]]:
    """(kind, object) of every Deployment and Service one of ``selectors`` matches, each once,
    read as the API's JSON: turning thousands of Deployments into the client's model objects
    would cost seconds, while the callers need a few metadata fields."""
    calls = (
        ("Deployment", client.AppsV1Api(api).list_namespaced_deployment),
        ("Service", client.CoreV1Api(api).list_namespaced_service),
    )
    found: dict[tuple[str, str], RawObject] = {}
    for selector in selectors:
        for kind, list_call in calls:
            response = list_call(
                namespace, label_selector=selector, _request_timeout=timeout,
                _preload_content=False,
            )  # fmt: skip
            for item in raw_items(response):
                found.setdefault((kind, str((item.get("metadata") or {}).get("name"))), item)
    return [(kind, item) for (kind, _), item in found.items()]


def read_objects(
    api: client.ApiClient, namespace: str, workspaces: Collection[str] | None = None
) -> list[LiveObject]:
    """The purpose-labelled Deployments and Services (of ``workspaces``)."""
    live: list[LiveObject] = []
    for kind, item in list_browser_objects(api, namespace, object_selectors(workspaces)):
        metadata = item.get("metadata") or {}
        if kind == "Deployment":
            template = ((item.get("spec") or {}).get("template") or {}).get("metadata") or {}
            live.append(_live(kind, metadata, template.get("annotations")))
        else:
            live.append(_live(kind, metadata, metadata.get("annotations")))
    return live


def raw_items(response: Any) -> list[dict[str, Any]]:
    """The items of a list call made with ``_preload_content=False``, as the API's JSON."""
    items = json.loads(response.data).get("items") or []
    return [item for item in items if isinstance(item, dict)]


def _live(
    kind: str, metadata: Mapping[str, Any], annotations: Mapping[str, str] | None
) -> LiveObject:
    entries = metadata.get("managedFields") or []
    notes = annotations or {}
    own = metadata.get("annotations") or {}
    return LiveObject(
        kind=kind,
        name=str(metadata.get("name")),
        workspace=notes.get(WORKSPACE_ANNOTATION),
        username=notes.get(USERNAME_ANNOTATION),
        ours=applied_by_us(own),
        legacy_owned=any(is_legacy_entry(e, LEGACY_MANAGERS) for e in entries),
    )


def is_legacy_entry(entry: Mapping[str, Any], managers: Collection[str]) -> bool:
    """A ``managedFields`` entry one of the legacy ``managers`` wrote with a plain update of the
    main resource (not a status write, not an apply)."""
    return (
        entry.get("manager") in managers
        and entry.get("operation") == "Update"
        and not entry.get("subresource")
    )


def applied_by_us(annotations: Mapping[str, str] | None) -> bool:
    """Whether this program applied the object whose ``metadata.annotations`` these are (it
    writes this annotation on everything)."""
    return (annotations or {}).get(PATCH_FIELD_MANAGER) == FIELD_MANAGER


def read_connections(dsn: str, elsewhere: Collection[str] = ()) -> Iterable[LiveConnection]:
    """Every connection in a root group, except in the groups named ``elsewhere``: one
    read-only query, no secret leaves the database.

    A shard passes the workspaces placed on other shards, whose leftovers those shards scan:
    its read then grows with its own workspaces and the groups no shard holds (a legacy
    workspace no binding names, which the shard of its hash scans), not with the fleet.
    """
    with psycopg.connect(dsn, connect_timeout=10, autocommit=True) as conn:
        conn.read_only = True
        rows = conn.execute(
            "SELECT g.connection_group_name, c.connection_name, c.connection_id,"
            " (SELECT p.parameter_value FROM guacamole_connection_parameter AS p"
            "   WHERE p.connection_id = c.connection_id AND p.parameter_name = 'hostname'),"
            " EXISTS (SELECT 1 FROM guacamole_connection_parameter AS p"
            "   WHERE p.connection_id = c.connection_id AND p.parameter_name = 'password'"
            "   AND p.parameter_value = %s)"
            " FROM guacamole_connection AS c"
            " JOIN guacamole_connection_group AS g ON g.connection_group_id = c.parent_id"
            " WHERE g.parent_id IS NULL AND g.connection_group_name <> ALL(%s::text[])"
            " ORDER BY 1, 2, 3",
            (LEGACY_PASSWORD, sorted(elsewhere)),
        ).fetchall()
    for group, name, connection_id, hostname, legacy in rows:
        yield LiveConnection(group, name, int(connection_id), hostname, bool(legacy))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else error.__class__.__name__
