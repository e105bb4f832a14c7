"""Patch a binding's status subresource (failure reports, and their removal after success).

Best effort by design: a status write that fails is logged and dropped, because it must never
stop or delay the run that provisions the browser. The next report or run corrects it. A failure
report also posts a ``Failed`` Warning Event on the binding (:mod:`components.binding_events`),
so ``kubectl describe awsb`` keeps the history the status text overwrites.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from components import binding_events
from components.binding_events import BindingEvent, Reason
from components.bindings import GROUP, PLURAL, VERSION
from components.inert import neutralise
from components.watch.statuses import ERROR_PREFIX

log = logging.getLogger(__name__)

_REQUEST_TIMEOUT = (5, 15)


class StatusWriter:
    def __init__(self, api_client_factory: Callable[[], client.ApiClient]) -> None:
        self._factory = api_client_factory
        self._api: client.CustomObjectsApi | None = None
        self._events: client.CoreV1Api | None = None

    def patch(self, key: str, status: Mapping[str, Any]) -> bool:
        """Merge ``status`` into the binding ``namespace/name``; False if it could not."""
        namespace, _, name = key.partition("/")
        try:
            if self._api is None or self._events is None:
                api_client = self._factory()
                self._api = client.CustomObjectsApi(api_client)
                self._events = client.CoreV1Api(api_client)
            body = self._api.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": dict(status)},
                _request_timeout=_REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if error.status != 404:
                log.warning("cannot write status of binding %s: HTTP %s", key, error.status)
            return False
        except Exception as error:  # network, config: reported, never fatal
            log.warning("cannot write status of binding %s: %s", key, neutralise(error))
            return False
        text = str(status.get("statusText") or "")
        if text.startswith(ERROR_PREFIX):
            failed = BindingEvent(Reason.FAILED, text.removeprefix(ERROR_PREFIX))
            binding_events.post(self._events, namespace, name, binding_events.uid_of(body), failed)
        return True
