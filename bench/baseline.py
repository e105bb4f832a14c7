"""The raw baseline: a minimal reconciler with no engine, the floor the program is measured against.

Every step is the same loop a hand-written script would run: list the bindings, plan them with
the program's own pure code (:mod:`components.planning`), read what exists (5 LISTs, 3 SELECTs),
and do only the missing work, ``WORKERS`` bindings at a time (the dynamic-provider host's limit,
so both sides get the same parallelism). A preview is the same minus the writes; a destroy is a
reconcile towards nothing. It keeps no state file: the cluster and the database are its state.
"""

from __future__ import annotations

import queue
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from kubernetes import client

from bench import baseline_sql
from bench.baseline_kube import KubeObjects, KubeState
from bench.baseline_sql import Rows, RowSpec
from components import naming
from components.binding_source import ClusterBindingSource
from components.binding_status import normalise_status, ready_status
from components.bindings import parse_binding
from components.planning import WorkspacePlan, plan_workspaces
from components.settings import Settings

WORKERS = 4
T = TypeVar("T")


@dataclass
class Actions:
    """What one reconcile has to do; ``count`` is the baseline's "resources changed"."""

    groups: list[str] = field(default_factory=list)
    network_policies: list[str] = field(default_factory=list)
    """Workspaces whose NetworkPolicy is missing."""
    create: list[WorkspacePlan] = field(default_factory=list)
    scale: list[WorkspacePlan] = field(default_factory=list)
    status: list[WorkspacePlan] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    delete_rows: list[tuple[int | None, int | None]] = field(default_factory=list)
    delete_groups: list[int] = field(default_factory=list)
    delete_network_policies: list[str] = field(default_factory=list)
    kube_state: KubeState | None = None
    rows: Rows | None = None

    @property
    def count(self) -> int:
        return (
            len(self.groups)
            + len(self.network_policies)
            + len(self.delete_network_policies)
            + len(self.create)
            + len(self.scale)
            + len(self.status)
            + len(self.delete)
            + len(self.delete_rows)
            + len(self.delete_groups)
        )


class _Connections:
    """One psycopg connection per worker thread, all closed when the step ends."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._idle: queue.SimpleQueue[psycopg.Connection[Any]] = queue.SimpleQueue()
        self._all: list[psycopg.Connection[Any]] = []

    @contextmanager
    def get(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(self._dsn, autocommit=True, application_name="bench-baseline")
            self._all.append(conn)
        try:
            yield conn
        finally:
            self._idle.put(conn)

    def close(self) -> None:
        for conn in self._all:
            conn.close()


class Baseline:
    """Reconciles the bindings of ``bindings_namespace`` with plain clients."""

    def __init__(
        self,
        api: client.ApiClient,
        database_url: str,
        settings: Settings,
        bindings_namespace: str,
    ) -> None:
        self._api = api
        self._dsn = database_url
        self._settings = settings
        self._bindings_namespace = bindings_namespace
        self._kube = KubeObjects(api, settings.namespace)

    # -- steps -------------------------------------------------------------------------------
    def preview(self) -> int:
        """Work out what an up would do; write nothing."""
        connections = _Connections(self._dsn)
        try:
            return self._plan(connections, self._desired()).count
        finally:
            connections.close()

    def up(self) -> int:
        connections = _Connections(self._dsn)
        try:
            actions = self._plan(connections, self._desired())
            self._apply(connections, actions)
            return actions.count
        finally:
            connections.close()

    def destroy(self) -> int:
        connections = _Connections(self._dsn)
        try:
            actions = self._plan(connections, [])
            self._apply(connections, actions)
            return actions.count
        finally:
            connections.close()

    # -- planning ------------------------------------------------------------------------------
    def _desired(self) -> list[WorkspacePlan]:
        source = ClusterBindingSource(self._bindings_namespace, lambda: self._api)
        plan = plan_workspaces(
            (parse_binding(item.manifest, item.origin) for item in source.load()),
            datetime.now(UTC).date(),
        )
        return list(plan.workspaces)

    def _plan(self, connections: _Connections, desired: list[WorkspacePlan]) -> Actions:
        state = self._kube.read(self._bindings_namespace)
        with connections.get() as conn:
            rows = baseline_sql.read_rows(conn)
        actions = Actions(kube_state=state, rows=rows)
        wanted_groups = sorted({p.workspace for p in desired})
        actions.groups = [g for g in wanted_groups if g not in rows.groups]
        if self._settings.network_policy.enabled:
            fences = {naming.workspace_network_policy_name(g): g for g in wanted_groups}
            actions.network_policies = [
                g for name, g in fences.items() if name not in state.network_policies
            ]
            actions.delete_network_policies = sorted(
                n for n in state.network_policies if n not in fences
            )
        wanted_names = {p.deployment_name for p in desired}
        for plan in desired:
            self._plan_one(plan, state, rows, actions)
        actions.delete = sorted(
            set(state.deployments) - wanted_names
            | {n.removeprefix("client-") for n in state.services} - wanted_names
        )
        self._plan_row_removals(desired, rows, actions)
        return actions

    def _plan_one(
        self, plan: WorkspacePlan, state: KubeState, rows: Rows, actions: Actions
    ) -> None:
        name = plan.deployment_name
        has_rows = (
            plan.guacamole_username in rows.users
            and (plan.workspace, plan.username) in rows.connections
        )
        if name not in state.deployments or not has_rows:
            actions.create.append(plan)
            return
        if state.deployments[name] != plan.replicas:
            actions.scale.append(plan)  # writes the status too
            return
        wanted = normalise_status(ready_status(name, plan.replicas))
        if any(
            {k: state.statuses.get(b.key, {}).get(k) for k in wanted} != wanted
            for b in plan.bindings
        ):
            actions.status.append(plan)

    def _plan_row_removals(
        self, desired: list[WorkspacePlan], rows: Rows, actions: Actions
    ) -> None:
        """Rows of managed groups (``<group>@...`` users, their connections) nobody wants."""
        wanted_users = {p.guacamole_username for p in desired}
        wanted_connections = {(p.workspace, p.username) for p in desired}
        wanted_groups = {p.workspace for p in desired}
        for user, entity_id in rows.users.items():
            group, _, login = user.partition("@")
            if group not in rows.groups or user in wanted_users:
                continue
            connection_id = rows.connections.get((group, login))
            if (group, login) in wanted_connections:
                connection_id = None
            actions.delete_rows.append((entity_id, connection_id))
        actions.delete_groups = [
            group_id
            for name, group_id in rows.groups.items()
            if name not in wanted_groups
            and any(user.partition("@")[0] == name for user in rows.users)
        ]

    # -- applying ------------------------------------------------------------------------------
    def _apply(self, connections: _Connections, actions: Actions) -> None:
        assert actions.rows is not None and actions.kube_state is not None
        state = actions.kube_state
        group_ids = dict(actions.rows.groups)
        with connections.get() as conn:
            for group in actions.groups:
                group_ids[group] = baseline_sql.create_group(conn, group)

        def fence(workspace: str) -> None:
            self._kube.create_network_policy(workspace, self._settings)

        def create(plan: WorkspacePlan) -> None:
            self._create(connections, plan, group_ids[plan.workspace])

        def scale(plan: WorkspacePlan) -> None:
            self._kube.scale(plan.deployment_name, plan.replicas)
            self._kube.write_status(plan)

        def delete(name: str) -> None:
            self._kube.delete(name, state)

        def delete_rows(ids: tuple[int | None, int | None]) -> None:
            with connections.get() as conn:
                baseline_sql.delete_binding_rows(conn, *ids)

        _parallel(fence, actions.network_policies)
        _parallel(create, actions.create)
        _parallel(scale, actions.scale)
        _parallel(self._kube.write_status, actions.status)
        _parallel(delete, actions.delete)
        _parallel(delete_rows, actions.delete_rows)
        with connections.get() as conn:
            baseline_sql.delete_groups(conn, actions.delete_groups)
        _parallel(self._kube.delete_network_policy, actions.delete_network_policies)

    def _create(self, connections: _Connections, plan: WorkspacePlan, group_id: int) -> None:
        password = secrets.token_urlsafe(24)
        settings = self._settings
        self._kube.create(plan, settings, password)
        spec = RowSpec(
            group=plan.workspace,
            username=plan.guacamole_username,
            connection=plan.username,
            hostname=naming.connection_hostname(
                plan.deployment_name, settings.namespace, settings.cluster_domain
            ),
            password=password,
        )
        with connections.get() as conn:
            baseline_sql.create_binding_rows(conn, spec, group_id)
        self._kube.write_status(plan)


def _parallel(work: Callable[[T], None], items: list[T]) -> None:
    """Run ``work`` over ``items`` on ``WORKERS`` threads; the first failure is raised."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for future in [pool.submit(work, item) for item in items]:
            future.result()
