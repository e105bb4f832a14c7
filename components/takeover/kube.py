"""Kubernetes access for the take-over providers, and the diff rule they share.

The client is built from the ``kubeconfig`` setting (or the environment) in the provider
process, never pickled (see :mod:`components.dynamic_provider`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi.dynamic import ConfigureRequest, CreateResult, UpdateResult

from components.kube_client import client, new_api_client

PROJECT = "awms-browser-workspaces"
REQUEST_TIMEOUT = (10, 30)


class KubeAccess:
    """Mixin: a lazily built ``ApiClient`` for the configured cluster, shared by threads."""

    _kubeconfig: str | None = None
    _api_client: client.ApiClient | None = None
    _api_lock = threading.Lock()

    def configure_kube(self, req: ConfigureRequest) -> None:
        value = req.config.get(f"{PROJECT}:kubeconfig") or req.config.get("kubeconfig")
        self.__dict__["_kubeconfig"] = value if isinstance(value, str) and value else None
        self.__dict__["_api_client"] = None

    def api_client(self) -> client.ApiClient:
        with self._api_lock:
            api = self.__dict__.get("_api_client")
            if api is None:
                api = new_api_client(self.__dict__.get("_kubeconfig"))
                self.__dict__["_api_client"] = api
            return api


class ConvergingProvider:
    """Mixin: create and update both converge to the inputs; delete has nothing to undo.

    The take-over resources describe what must be true of the cluster and database (absent,
    owned by us), not an object they own, so there is one id and one piece of work.
    """

    RESOURCE_ID: str = ""

    def _converge(self, props: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(self.RESOURCE_ID, self._converge(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._converge(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo: an absence, or ownership once moved, stays as it is."""


def has_new_work(
    wanted: Iterable[str],
    done: Iterable[str] | None,
    present: Iterable[str] | None,
) -> bool:
    """The take-over diff: a change only when something listed is not done yet or came back.

    Why not an exact diff: the lists are what the program found this run. Once an item is dealt
    with it disappears from the next run's list; that must not read as a change (the state
    stays true: the item is gone), or no preview after a hand-over would ever be clean.
    """
    wanted_set = set(wanted)
    return bool(wanted_set - set(done or ())) or bool(wanted_set & set(present or ()))


def plain_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def plain_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
