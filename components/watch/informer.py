"""Keep an up-to-date local copy of one custom resource kind and report every change.

The classic informer loop on the plain kubernetes client: list (paged, one consistent
snapshot), then watch from the list's ``resourceVersion``, following bookmarks so a quiet watch
can resume from a recent version. When the API server answers 410 Gone (the version was
compacted away), the kind is listed again and the new list is compared with the cache, so changes
made while the watch was down (including deletions) are still reported. Other failures (network,
API server restart) resume the watch after a backoff. 401/403/404 on the list are fatal: missing
RBAC or a missing CRD does not heal by retrying, and a container should exit and say so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from components.binding_source import PAGE_SIZE
from components.watch.changes import object_key
from components.watch.retry import Backoff

log = logging.getLogger(__name__)

OnChange = Callable[[str, Mapping[str, Any] | None, Mapping[str, Any] | None], None]
"""``(key, old, new)``; ``None`` means absent (added: old is None; deleted: new is None)."""

_FATAL_STATUSES = (401, 403, 404)


@dataclass(frozen=True)
class WatchedKind:
    group: str
    version: str
    plural: str

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}"


class InformerError(RuntimeError):
    """The kind cannot be listed at all (permissions, missing CRD): the watcher must stop."""


class _GoneError(Exception):
    """The watch's resourceVersion is too old; list again."""


class Informer:
    def __init__(
        self,
        kind: WatchedKind,
        api_client_factory: Callable[[], client.ApiClient],
        on_change: OnChange,
        stop: threading.Event,
        *,
        namespace: str = "",
        watch_timeout: int = 300,
        page_size: int = PAGE_SIZE,
        backoff: Backoff | None = None,
    ) -> None:
        self.kind = kind
        self._factory = api_client_factory
        self._on_change = on_change
        self._stop = stop
        self._namespace = namespace
        self._watch_timeout = watch_timeout
        self._page_size = page_size
        self._backoff = backoff or Backoff(initial=1.0, maximum=30.0)
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, Any]] = {}
        self._api: client.CustomObjectsApi | None = None
        self.synced = threading.Event()
        self.error: InformerError | None = None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A copy of every object currently known, by ``namespace/name``."""
        with self._lock:
            return dict(self._cache)

    def run(self) -> None:
        """Thread body: list/watch until ``stop`` is set or the kind cannot be listed."""
        failures = 0
        resource_version: str | None = None
        while not self._stop.is_set():
            try:
                if resource_version is None:
                    resource_version = self._relist()
                    self.synced.set()
                resource_version = self._watch(resource_version)
                failures = 0
            except _GoneError:
                log.info("%s: watch resourceVersion expired (410 Gone); listing again", self.kind)
                resource_version = None
            except InformerError as error:
                self.error = error
                log.error("%s", error)
                return
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
                failures += 1
                delay = self._backoff.delay(failures)
                log.warning(
                    "%s: watch failed (%s); retrying in %.1fs", self.kind, _brief(error), delay
                )
                self._stop.wait(delay)

    def _api_client(self) -> client.CustomObjectsApi:
        if self._api is None:
            self._api = client.CustomObjectsApi(self._factory())
        return self._api

    def _list_call(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        api = self._api_client()
        if self._namespace:
            return api.list_namespaced_custom_object, (
                self.kind.group,
                self.kind.version,
                self._namespace,
                self.kind.plural,
            )
        return api.list_cluster_custom_object, (
            self.kind.group,
            self.kind.version,
            self.kind.plural,
        )

    def _relist(self) -> str:
        """List every object; report differences from the cache (after the first list)."""
        func, args = self._list_call()
        items: dict[str, dict[str, Any]] = {}
        token: str | None = None
        resource_version = ""
        while True:
            options: dict[str, Any] = {"limit": self._page_size, "_request_timeout": (10, 60)}
            if token:
                options["_continue"] = token
            try:
                page = func(*args, **options)
            except ApiException as error:
                if error.status in _FATAL_STATUSES:
                    raise InformerError(
                        f"cannot list {self.kind}: HTTP {error.status} {error.reason} "
                        "(is the CRD installed and may this identity list/watch it?)"
                    ) from error
                if error.status == 410:  # the continue token expired mid-listing: start over
                    items, token = {}, None
                    continue
                raise
            for item in page.get("items") or []:
                key = object_key(item)
                if key is not None:
                    items[key] = item
            metadata = page.get("metadata") or {}
            resource_version = str(metadata.get("resourceVersion") or resource_version)
            token = metadata.get("continue")
            if not token:
                break
        with self._lock:
            previous, self._cache = self._cache, items
        if self.synced.is_set():
            for key in sorted(previous.keys() | items.keys()):
                old, new = previous.get(key), items.get(key)
                if old != new:
                    self._on_change(key, old, new)
        log.info(
            "%s: listed %d object(s) at resourceVersion %s", self.kind, len(items), resource_version
        )
        return resource_version

    def _watch(self, resource_version: str) -> str:
        """Stream events from ``resource_version``; return the version to resume from."""
        func, args = self._list_call()
        stream = watch.Watch()
        try:
            for event in stream.stream(
                func,
                *args,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_timeout,
                _request_timeout=(10, self._watch_timeout + 30),
            ):
                resource_version = self._handle(event, resource_version)
                if self._stop.is_set():
                    break
        except ApiException as error:
            if error.status == 410:
                raise _GoneError from error
            raise
        finally:
            stream.stop()
        return resource_version

    def _handle(self, event: Mapping[str, Any], resource_version: str) -> str:
        kind = event.get("type")
        obj = event.get("raw_object") or event.get("object")
        if not isinstance(obj, Mapping):
            return resource_version
        metadata = obj.get("metadata") or {}
        resource_version = str(metadata.get("resourceVersion") or resource_version)
        if kind == "BOOKMARK":
            return resource_version
        key = object_key(obj)
        if key is None or kind not in ("ADDED", "MODIFIED", "DELETED"):
            return resource_version
        with self._lock:
            old = self._cache.get(key)
            if kind == "DELETED":
                self._cache.pop(key, None)
                new: dict[str, Any] | None = None
            else:
                new = dict(obj)
                self._cache[key] = new
        self._on_change(key, old, new)
        return resource_version


def _brief(error: BaseException) -> str:
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"
