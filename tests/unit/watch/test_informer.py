"""List, watch, bookmarks, 410 Gone and re-list, fatal list errors; against a fake API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from components.watch.informer import Informer, WatchedKind

KIND = WatchedKind("xlscsde.nhs.uk", "v1", "analyticsworkspacebindings")


def obj(name: str, rv: str, replicas: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "spec": {"replicas": replicas},
    }


class FakeResponse:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def stream(self, amt: Any = None, decode_content: Any = None) -> Iterator[bytes]:
        for event in self.events:
            yield (json.dumps(event) + "\n").encode()

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class FakeApi:
    """Scripted list pages and watch responses; stops the informer when the script ends."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.lists: list[Any] = []
        self.watches: list[Any] = []
        self.watch_versions: list[str] = []

    def list_cluster_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        """Docstring read by kubernetes.watch to find the return type.

        :return: object
        """
        if kwargs.get("watch"):
            self.watch_versions.append(kwargs["resource_version"])
            if not self.watches:
                self.stop.set()
                return FakeResponse([])
            item = self.watches.pop(0)
            if isinstance(item, Exception):
                raise item
            return FakeResponse(item)
        item = self.lists.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def run_informer(api: FakeApi, stop: threading.Event) -> tuple[Informer, list[tuple[Any, ...]]]:
    seen: list[tuple[Any, ...]] = []
    informer = Informer(
        KIND, lambda: None, lambda k, o, n: seen.append((k, o, n)), stop, watch_timeout=5
    )
    informer._api = api
    informer._backoff = type(informer._backoff)(initial=0.0, maximum=0.0, jitter=0.0)
    thread = threading.Thread(target=informer.run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    return informer, seen


def test_list_then_watch_with_bookmarks_and_relist_after_gone() -> None:
    stop = threading.Event()
    api = FakeApi(stop)
    api.lists = [
        {"items": [obj("a", "1")], "metadata": {"resourceVersion": "10", "continue": "t"}},
        {"items": [obj("b", "2")], "metadata": {"resourceVersion": "10"}},
        # after 410: a changed, b deleted, c added while the watch was gone
        {"items": [obj("a", "30", 1), obj("c", "31")], "metadata": {"resourceVersion": "40"}},
    ]
    api.watches = [
        [
            {"type": "MODIFIED", "object": obj("a", "11", 1)},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
        ],
        [{"type": "ERROR", "object": {"code": 410, "reason": "Gone", "message": "too old"}}],
    ]
    informer, seen = run_informer(api, stop)
    assert informer.synced.is_set() and informer.error is None
    assert api.watch_versions == ["10", "20", "40"]
    keys = [(k, o is None, n is None) for k, o, n in seen]
    assert keys == [
        ("ns/a", False, False),  # the watched MODIFIED
        ("ns/a", False, False),  # re-list: a changed again
        ("ns/b", False, True),  # re-list: b deleted
        ("ns/c", True, False),  # re-list: c added
    ]
    assert set(informer.snapshot()) == {"ns/a", "ns/c"}


def test_transient_watch_errors_resume_from_the_last_version() -> None:
    stop = threading.Event()
    api = FakeApi(stop)
    api.lists = [{"items": [], "metadata": {"resourceVersion": "5"}}]
    api.watches = [
        ApiException(status=500, reason="Internal"),
        [{"type": "ADDED", "object": obj("a", "6")}],
    ]
    _, seen = run_informer(api, stop)
    assert api.watch_versions == ["5", "5", "6"]
    assert [(k, o) for k, o, _ in seen] == [("ns/a", None)]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_listing_forbidden_or_missing_kinds_is_fatal(status: int) -> None:
    stop = threading.Event()
    api = FakeApi(stop)
    api.lists = [ApiException(status=status, reason="No")]
    informer, _ = run_informer(api, stop)
    assert informer.error is not None and not informer.synced.is_set()
    assert f"HTTP {status}" in str(informer.error)
