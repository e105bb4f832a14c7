"""The placement map's ConfigMap: read by the program, written by the runner and the watcher.

One ConfigMap per environment in the browser namespace holds the map
(:mod:`components.placement`). It is bookkeeping of the runner, not a resource of any stack:
every shard reads it and none may delete it. Writes are compare-and-swap on
``metadata.resourceVersion``, so a pipeline run and a watcher placing new workspaces at the same
time never overwrite each other's entries: the loser re-reads and places again.

The program reads the map inside its run, that is while it holds its shard stack's lock: a
workspace another runner places and creates in this shard is either in the map it reads or not
yet in this shard's state, never in the state but missing from the map.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from components.inert import escape
from components.kube_client import new_api_client
from components.placement import Placement, parse_placement, placement_json, require_within
from components.sharding import ShardScope, split_stack_name

log = logging.getLogger(__name__)

DATA_KEY = "placement.json"
PLACEMENT_FILE_ENV = "AWMS_PLACEMENT_FILE"
"""A file holding a map the runner computed but may not write (a merge-request preview)."""
_REQUEST_TIMEOUT = 30
_ATTEMPTS = 8
_LABEL = re.compile(r"[^a-z0-9-]+")


class PlacementStoreError(RuntimeError):
    """The map cannot be read or written; the message names the ConfigMap and the cause."""


def map_name(environment: str) -> str:
    """``prod`` -> ``awms-browser-placement-prod``: a valid object name for any stack name,
    distinct for distinct names (a name changed by the cleaning gets a digest suffix)."""
    short = environment.rsplit("/", 1)[-1]
    cleaned = _LABEL.sub("-", short.lower()).strip("-")[:40] or "environment"
    if cleaned != short:
        cleaned += "-" + hashlib.sha256(short.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"awms-browser-placement-{cleaned}"


@dataclass(frozen=True)
class StoredPlacement:
    placement: Placement
    resource_version: str | None
    """``None``: no map is stored yet."""


class PlacementStore:
    """The map of one environment, in its ConfigMap."""

    def __init__(
        self, api_client: Callable[[], client.ApiClient], namespace: str, environment: str
    ) -> None:
        self._factory = api_client
        self._api: client.CoreV1Api | None = None
        self.namespace = namespace
        self.name = map_name(environment)

    @property
    def where(self) -> str:
        return f"ConfigMap {escape(self.namespace)}/{escape(self.name)} ({DATA_KEY})"

    def _core(self) -> client.CoreV1Api:
        if self._api is None:
            self._api = client.CoreV1Api(self._factory())
        return self._api

    def read(self) -> StoredPlacement:
        """The stored map; an empty one with no version when none is stored."""
        try:
            found = self._core().read_namespaced_config_map(
                self.name, self.namespace, _request_timeout=_REQUEST_TIMEOUT
            )
        except ApiException as error:
            if error.status == 404:
                return StoredPlacement(Placement(), None)
            raise self._failed("read", error) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise self._failed("read", error) from error
        text = (found.data or {}).get(DATA_KEY)
        if text is None:
            raise PlacementStoreError(f"{self.where}: the key {DATA_KEY} is missing")
        return StoredPlacement(parse_placement(text, self.where), found.metadata.resource_version)

    def write(self, placement: Placement, shards: int, resource_version: str | None) -> bool:
        """Store ``placement`` if the map is still at ``resource_version``; ``False`` if
        another writer got there first (re-read and place again)."""
        body = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                resource_version=resource_version,
                labels={"app.kubernetes.io/managed-by": "awms-browser-workspaces"},
                annotations={
                    "xlscsde.nhs.uk/purpose": "shard placement of the browser workspaces; "
                    "entries are never removed, see README, Sharded environments"
                },
            ),
            data={DATA_KEY: placement_json(placement, shards)},
        )
        core = self._core()
        try:
            if resource_version is None:
                core.create_namespaced_config_map(
                    self.namespace, body, _request_timeout=_REQUEST_TIMEOUT
                )
            else:
                core.replace_namespaced_config_map(
                    self.name, self.namespace, body, _request_timeout=_REQUEST_TIMEOUT
                )
        except ApiException as error:
            if error.status == 409:
                return False
            raise self._failed("write", error) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise self._failed("write", error) from error
        return True

    def update(self, change: Callable[[StoredPlacement], Placement], shards: int) -> Placement:
        """Apply ``change`` to the stored map and store the result, again on a conflict."""
        for _ in range(_ATTEMPTS):
            stored = self.read()
            wanted = change(stored)
            if stored.resource_version is not None and wanted == stored.placement:
                return wanted
            if self.write(wanted, shards, stored.resource_version):
                log.info(
                    "%s: %d workspace(s) placed (%d new)",
                    self.where,
                    len(wanted),
                    len(wanted) - len(stored.placement),
                )
                return wanted
        raise PlacementStoreError(
            f"{self.where}: changed by another writer {_ATTEMPTS} times in a row; run again"
        )

    def _failed(self, what: str, error: Exception) -> PlacementStoreError:
        if isinstance(error, ApiException):
            cause = f"HTTP {error.status} {error.reason}"
            if error.status in (401, 403):
                verbs = "get" if what == "read" else "get, create and update"
                cause += f" (the identity in use needs {verbs} on configmaps there)"
        else:
            cause = str(error)
        return PlacementStoreError(f"cannot {what} the shard placement map {self.where}: {cause}")


def read_placement_file(path: str) -> Placement:
    """A map the runner handed over in a file (:data:`PLACEMENT_FILE_ENV`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise PlacementStoreError(
            f"cannot read {PLACEMENT_FILE_ENV}={escape(path)}: {error}"
        ) from error
    return parse_placement(text, f"{PLACEMENT_FILE_ENV}={escape(path)}")


def program_placement(
    environ: Mapping[str, str], store: Callable[[], PlacementStore], *, dry_run: bool
) -> tuple[Placement, str]:
    """The map a shard's program runs with, and where it came from.

    A map stored nowhere yet is refused: the program cannot tell a new environment from one
    whose map was lost, and running without would move or delete workspaces. The runner
    writes (or rebuilds) the map before any shard runs. A handed-over file is for previews
    only: an update that followed one would create what the stored map does not place.
    """
    path = environ.get(PLACEMENT_FILE_ENV)
    if path:
        if not dry_run:
            raise PlacementStoreError(
                f"{PLACEMENT_FILE_ENV} is set, but it only serves previews; an update runs "
                "with the stored placement map (unset it)"
            )
        return read_placement_file(path), f"{PLACEMENT_FILE_ENV}={escape(path)}"
    found = store()
    stored = found.read()
    if stored.resource_version is None:
        raise PlacementStoreError(
            f"{found.where} does not exist: a sharded environment's shards run only with it; "
            "run `scripts/watch up --stack <environment>`, which writes it (from the shards' "
            "own state when they already hold workspaces)"
        )
    return stored.placement, found.where


def placed_scope(
    scope: ShardScope, kubeconfig: str, namespace: str, stack: str, *, dry_run: bool
) -> ShardScope:
    """``scope`` with the map its shard runs with (unchanged for a whole environment)."""
    if scope.whole:
        return scope
    environment, _ = split_stack_name(stack.rsplit("/", 1)[-1])
    placement, where = program_placement(
        os.environ,
        lambda: PlacementStore(lambda: new_api_client(kubeconfig or None), namespace, environment),
        dry_run=dry_run,
    )
    require_within(placement, scope.count, where)
    return scope.placed(placement)
