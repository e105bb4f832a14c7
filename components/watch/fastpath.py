"""The login fast path: scale a browser the moment its binding's ``spec.replicas`` changes.

A login is a runtime event, not a configuration change, so it must not wait for an engine run
(seconds, growing with the state). When Keycloak patches a binding's ``spec.replicas``, the
watcher scales the Deployment the stack manages for it straight away, through the ``scale``
subresource under its own field manager (``awms-login``), writes the binding's
``status.replicas``, and still queues the targeted ``pulumi up`` as before, which records the
same value in the state, so the state stays the truth and the next ``preview`` shows nothing.

How the two writers share ``spec.replicas`` (tested on a real kube-apiserver):

* Both write the value the program plans for the binding (the largest replicas among bindings
  sharing the workspace and user, :mod:`components.watch.login_plan`), so they never disagree
  about the current value; they only differ in when they write it.
* The scale subresource is an update, not an apply: it never conflicts; it takes ownership of
  ``spec.replicas`` from the program's field manager when it changes the value. The program
  applies with ``pulumi.com/patchForce``, so its next apply takes it back (shared when the values
  are equal) without a conflict error. Neither writer ever sees a conflict.
* The engine writes a Deployment only when the declared replicas differ from the state's, i.e.
  only to record a change; the value it writes is the binding's as read when its run started.
  If the same user's binding changes again while a run carrying the older value is applying
  that Deployment, that apply can briefly put the older value back; the fast path therefore
  re-asserts every Deployment it scaled during a run as soon as the run ends
  (:class:`FastPathRunner`), and the targeted run queued for the newer change records it.

The fast path never creates anything: a Deployment is scaled only when the stack's state names
it (:mod:`components.watch.managed`), and the scale patch carries a JSON-patch ``test`` of the
recorded uid, so a Deployment deleted and re-created by someone else is refused by the API
server. A binding that maps to no managed Deployment, an invalid or expired binding, or a
Deployment that is gone is logged and left to the run. If the follow-up run fails, nothing is
undone: the browser keeps the fast path's replicas and the run is retried as before.

Requests go through a small thread pool (bounded parallelism) with at most one request in flight
per Deployment, so a burst of logins is scaled in parallel and two quick changes of one binding
are applied in order (the later one always last).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from components.inert import escape
from components.watch.login_plan import Skip, plan_login, replicas_changed
from components.watch.managed import ManagedDeployment, managed_deployments
from components.watch.runner import RunOutcome

log = logging.getLogger(__name__)

FIELD_MANAGER = "awms-login"
"""The fast path's field manager (the program applies as ``awms-browser-workspaces``)."""
WORKERS = 8
BURST_FIRST = 2.0
"""Longest a run waits for the fast path's scale requests in flight before it starts."""
_REQUEST_TIMEOUT = (5, 15)

Bindings = Mapping[str, Mapping[str, Any]]


class StatusSink(Protocol):
    def patch(self, key: str, status: Mapping[str, Any]) -> bool: ...


class FastPath:
    def __init__(
        self,
        apps: client.AppsV1Api,
        bindings: Callable[[], Bindings],
        *,
        statuses: StatusSink | None = None,
        workers: int = WORKERS,
        executor: ThreadPoolExecutor | None = None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        """``executor``: a pool shared by the fast paths of several shard stacks (so the
        environment as a whole, not each shard, is bounded); its owner shuts it down."""
        self._apps = apps
        self._bindings = bindings
        self._statuses = statuses
        self._today = today
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="fastpath"
        )
        self._lock = threading.Lock()
        self._managed: dict[str, ManagedDeployment] | None = None
        self._pending: dict[str, str] = {}
        """Deployment name -> the binding key whose change is still to be applied."""
        self._busy: set[str] = set()
        self._generation = 0
        self._touched: dict[str, tuple[int, str]] = {}
        """Deployment name -> (generation of its last fast-path change, binding key)."""
        self._idle = threading.Condition(self._lock)

    # What the stack manages ----------------------------------------------------------------

    def update_managed(self, state_deployment: Mapping[str, Any] | None) -> None:
        """Adopt the managed set from a fresh ``stack export`` (after every full run)."""
        managed = managed_deployments(state_deployment)
        with self._lock:
            self._managed = managed

    # Events --------------------------------------------------------------------------------

    def on_binding_change(
        self, key: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        """Informer callback: a ``spec.replicas`` change is scaled at once, in the background."""
        try:
            if not replicas_changed(old, new):
                return
            target = plan_login(key, self._bindings(), self._today())
            if isinstance(target, Skip):
                log.info("fast path: %s; nothing scaled, the run decides", target.reason)
                return
            self._submit(target.deployment_name, key, record=True)
        except Exception:  # the informer thread must survive anything here
            log.exception("fast path: cannot handle the change of binding %s", escape(key))

    def generation(self) -> int:
        with self._lock:
            return self._generation

    def reassert_since(self, generation: int) -> int:
        """Scale again every Deployment changed by the fast path after ``generation``.

        Called when a run ends: a run that started before a login applies the value it read at
        its start, which may already be stale; this puts the newest one back at once.
        """
        with self._lock:
            again = {name: key for name, (gen, key) in self._touched.items() if gen > generation}
        for name, key in sorted(again.items()):
            self._submit(name, key, record=False)
        return len(again)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no scale is pending or in flight (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy and not self._pending, timeout)

    def close(self) -> None:
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # Work ----------------------------------------------------------------------------------

    def _submit(self, name: str, key: str, *, record: bool) -> None:
        with self._lock:
            if record:
                self._generation += 1
                self._touched[name] = (self._generation, key)
            self._pending[name] = key
            if name in self._busy:
                return  # the running drain picks the newest key up next
            self._busy.add(name)
        try:
            self._executor.submit(self._drain, name)
        except RuntimeError:  # shut down
            with self._lock:
                self._busy.discard(name)
                self._pending.pop(name, None)
                self._idle.notify_all()

    def _drain(self, name: str) -> None:
        while True:
            with self._lock:
                key = self._pending.pop(name, None)
                if key is None:
                    self._busy.discard(name)
                    self._idle.notify_all()
                    return
            try:
                self._apply(key)
            except Exception:  # never let one login kill the pool's thread silently
                log.exception("fast path: scaling for binding %s failed", escape(key))

    def _apply(self, key: str) -> None:
        bindings = self._bindings()
        target = plan_login(key, bindings, self._today())
        if isinstance(target, Skip):
            log.info("fast path: %s; nothing scaled", target.reason)
            return
        with self._lock:
            managed = self._managed
        if managed is None:
            log.info(
                "fast path: stack state not read yet; binding %s is scaled by its run", escape(key)
            )
            return
        deployment = managed.get(target.deployment_name)
        if deployment is None:
            log.info(
                "fast path: binding %s maps to Deployment %s, which the stack does not manage "
                "(yet); nothing scaled",
                escape(key),
                target.deployment_name,
            )
            return
        replicas = self._scale(deployment, target.replicas, key)
        if replicas is None:
            return
        log.info(
            "fast path: binding %s: Deployment %s scaled to %d",
            escape(key),
            deployment.key,
            replicas,
        )
        if self._statuses is not None:
            for binding_key in target.binding_keys:
                if binding_key in bindings:
                    self._statuses.patch(binding_key, {"replicas": replicas})

    def _scale(self, deployment: ManagedDeployment, replicas: int, key: str) -> int | None:
        """Patch the scale subresource; the Deployment's ``spec.replicas`` after it, or None."""
        body = [
            {"op": "test", "path": "/metadata/uid", "value": deployment.uid},
            {"op": "replace", "path": "/spec/replicas", "value": replicas},
        ]
        try:
            scale = self._apps.patch_namespaced_deployment_scale(
                deployment.name,
                deployment.namespace,
                body,
                field_manager=FIELD_MANAGER,
                _request_timeout=_REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 404:
                log.info(
                    "fast path: Deployment %s (binding %s) not found; nothing done, the run "
                    "re-creates it",
                    deployment.key,
                    escape(key),
                )
            elif error.status == 422:
                log.warning(
                    "fast path: Deployment %s is not the object the stack manages (uid differs "
                    "from the state); not touched",
                    deployment.key,
                )
            else:
                log.warning(
                    "fast path: cannot scale Deployment %s: HTTP %s %s; the run will",
                    deployment.key,
                    error.status,
                    escape(error.reason),
                )
            return None
        except Exception as error:  # network: the queued run still scales it
            log.warning(
                "fast path: cannot scale Deployment %s: %s; the run will",
                deployment.key,
                escape(error),
            )
            return None
        spec = scale.spec
        return int(spec.replicas or 0) if spec is not None else replicas


class FastPathRunner:
    """The stack runner as the worker sees it, with the fast path kept in step with each run.

    ``export`` refreshes the managed set (the worker exports after every full run, the only runs
    that add or remove Deployments); ``up`` re-asserts what the fast path scaled while it ran.
    """

    def __init__(self, runner: Any, fast_path: FastPath) -> None:
        self.runner = runner
        self.fast_path = fast_path
        self._since = fast_path.generation()

    def up(self, **options: Any) -> RunOutcome:
        """Run, then re-assert every fast-path change since the previous run ended (not just
        since this one started: the worker reads the bindings for a targeted run before it).

        A burst of logins is scaled before the run starts: starting the engine takes most of
        two cores for a moment, and the scales are what the users wait for.
        """
        self.fast_path.wait_idle(BURST_FIRST)
        try:
            outcome: RunOutcome = self.runner.up(**options)
        finally:
            mark = self.fast_path.generation()
            self.fast_path.reassert_since(self._since)
            self._since = mark
        return outcome

    def export(self) -> dict[str, Any]:
        state: dict[str, Any] = self.runner.export()
        self.fast_path.update_managed(state.get("deployment"))
        return state

    def import_state(self, state: Mapping[str, Any]) -> None:
        self.runner.import_state(state)

    def interrupt(self) -> bool:
        return bool(self.runner.interrupt())
