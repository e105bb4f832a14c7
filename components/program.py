"""The whole program: read bindings, plan, declare, report.

``declare`` is everything ``__main__`` does except reading the stack configuration and exporting,
so unit tests drive it with in-memory sources and Pulumi mocks. A source that cannot be read
raises and fails the run (nothing is deleted); a binding that cannot be provisioned is reported
and skipped while all the others converge.

With ``bootstrapDatabase`` on, the Guacamole database itself is declared first (roles, database,
schema, grants; see ``components.guacamole.bootstrap``) and every Guacamole row waits for it: the
connection groups through ``depends_on``, the users and connections inside each BrowserWorkspace
through a transformation that adds the same dependency to them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import shared_objects
from components.binding_source import BindingSource
from components.binding_status import (
    READY,
    BindingStatus,
    expired_status,
    invalid_status,
    ready_status,
)
from components.bindings import Binding, InvalidBinding, parse_binding
from components.browser_workspace import BrowserWorkspace
from components.guacamole import GuacamoleConnection, GuacamoleConnectionGroup
from components.guacamole.bootstrap import (
    DatabaseBootstrap,
    declare_database_bootstrap,
    read_app_login,
    require_admin_dsn,
)
from components.guacamole.settings import resolve_dsn
from components.inert import escape, neutralise
from components.manifests import FIELD_MANAGER
from components.placement import unplaced_workspaces
from components.planning import Plan, plan_workspaces
from components.settings import Settings
from components.shard_digest import CONTEXT_ENV, input_digest
from components.sharding import WHOLE, ShardScope, size_warning, workspace_named
from components.takeover.field_owner import FieldOwnerTakeover
from components.takeover.inventory import (
    LEGACY_MANAGERS,
    Inventory,
    object_selectors,
    read_inventory,
    scoped,
)
from components.takeover.leftovers import Leftovers, manifest_identity, plan_leftovers
from components.takeover.report import leftover_outputs, log_leftovers
from components.takeover.revocation import AccessRevocation

InventoryReader = Callable[[Settings, ShardScope], Inventory]


@dataclass(frozen=True)
class Declared:
    """What ``declare`` created, for stack outputs and tests."""

    plan: Plan
    groups: Mapping[str, GuacamoleConnectionGroup]
    network_policies: Mapping[str, k8s.networking.v1.NetworkPolicy]
    workspaces: Mapping[str, BrowserWorkspace]
    statuses: Mapping[str, BindingStatus]
    bootstrap: DatabaseBootstrap | None = None
    leftovers: Leftovers = field(default_factory=Leftovers)
    firefox_policy: k8s.core.v1.ConfigMap | None = None
    scope: ShardScope = WHOLE
    input_digest: str = ""
    """What this run was given (``components.shard_digest``); exported once all is applied."""

    def outputs(self) -> dict[str, Any]:
        """Stack outputs: per-binding names and connection ids, counts, and every problem."""
        by_binding: dict[str, Any] = {}
        for plan in self.plan.workspaces:
            workspace = self.workspaces[plan.deployment_name]
            for binding in plan.bindings:
                # Who and until when, so a later review can say what a change takes away.
                by_binding[binding.key] = {
                    **workspace.summary(),
                    "workspace": binding.workspace,
                    "username": binding.username,
                    "expires": binding.expires.isoformat(),
                }
        outputs: dict[str, Any] = {
            "workspaces": by_binding,
            "summary": self.plan.summary(),
            "problems": [
                {
                    "kind": str(problem.kind),
                    "bindings": list(problem.bindings),
                    "field": problem.field,
                    "message": problem.message,
                }
                for problem in self.plan.problems
            ],
        }
        if self.input_digest:
            outputs["inputDigest"] = self._after_everything(self.input_digest)
        if not self.scope.whole:
            outputs["shard"] = {"index": self.scope.index, "count": self.scope.count}
        if self.bootstrap is not None:
            outputs["databaseBootstrap"] = self.bootstrap.summary()
        outputs.update(leftover_outputs(self.leftovers))
        return outputs

    def _after_everything(self, value: str) -> pulumi.Output[str]:
        """``value`` once every resource is applied (never, if one of them failed)."""
        ids: list[pulumi.Output[Any]] = [g.id for g in self.groups.values()]
        ids += [s.id for s in self.statuses.values()]
        for workspace in self.workspaces.values():
            ids += [workspace.deployment.id, workspace.connection.id]
        return pulumi.Output.all(*ids).apply(lambda _: value)


def declare(
    settings: Settings,
    source: BindingSource,
    *,
    today: date | None = None,
    inventory: InventoryReader | None = None,
    scope: ShardScope = WHOLE,
) -> Declared:
    """Declare one connection group per workspace and one BrowserWorkspace per planned workspace,
    plus the take-over resources: legacy field ownership moved before any apply, and the access
    of every identity no binding grants any more revoked (see ``components.takeover``).

    A shard stack (``scope``) declares only its own workspaces' bindings and looks for leftovers
    only in its own workspaces' groups and objects: another shard's users are that shard's to
    revoke, and a binding moved to a workspace of another shard is revoked here as deleted.
    """
    sourced = source.load()
    parsed = [
        (item, parse_binding(item.manifest, item.origin))
        for item in sourced
        if scope.owns(workspace_named(item.manifest))
    ]
    plan = plan_workspaces((entry for _, entry in parsed), today or datetime.now(UTC).date())
    _report(plan, settings, source, scope)
    too_large = size_warning(pulumi.get_stack(), len(parsed), len(sourced), scope)
    if too_large:
        pulumi.log.warn(too_large)
    waiting = unplaced_workspaces(scope, (item.manifest for item in sourced))
    if waiting and scope.first:
        pulumi.log.warn(
            f"{len(waiting)} workspace(s) with bindings have no shard yet and are declared by "
            f"none until the next `scripts/watch up` or watcher run places them: "
            + ", ".join(escape(w) for w in waiting[:10])
        )
    leftovers = plan_leftovers(
        plan,
        _identities(parsed),
        scoped((inventory or read_live_inventory)(settings, scope), scope.scans)
        if settings.legacy_scan
        else Inventory(),
        namespace=settings.namespace,
        remove_orphans=settings.remove_legacy_orphans,
    )
    log_leftovers(leftovers)

    # Roles, database and schema are the environment's, declared once (shard 0 runs first).
    bootstrap = (
        _bootstrap(settings) if settings.database_bootstrap.enabled and scope.first else None
    )
    after: list[pulumi.Resource] = bootstrap.ready if bootstrap else []

    kubernetes = k8s.Provider("kubernetes", kubeconfig=settings.kubeconfig or None)
    takeover = FieldOwnerTakeover(
        "field-owner-takeover",
        namespace=settings.namespace,
        field_manager=FIELD_MANAGER,
        legacy_managers=LEGACY_MANAGERS,
        pending=leftovers.takeover,
        selectors=object_selectors(scope.listed_workspaces()),
    )
    # Registered before anything else that can fail, so access ends even if the rest does not.
    revocation = AccessRevocation(
        "access-revocations",
        namespace=settings.namespace,
        entries=[r.entry() for r in leftovers.revocations],
        opts=pulumi.ResourceOptions(depends_on=after) if after else None,
    )
    firefox_policy = shared_objects.firefox_policy(settings) if scope.first else None
    names = [p.workspace for p in plan.workspaces]
    groups = shared_objects.connection_groups(names, after)
    network_policies = shared_objects.network_policies(names, settings, kubernetes)
    workspace_opts = pulumi.ResourceOptions(
        providers=[kubernetes],
        transformations=[_guacamole_rows_after(after)] if after else None,
    )
    workspaces = {
        p.deployment_name: BrowserWorkspace(
            p.deployment_name,
            plan=p,
            settings=settings,
            group_id=groups[p.workspace].group_id,
            network_policy=network_policies.get(p.workspace),
            adopt_after=takeover,
            opts=workspace_opts,
        )
        for p in plan.workspaces
    }
    statuses = (
        _statuses(plan, workspaces, settings.namespace, revocation)
        if settings.write_binding_status
        else {}
    )
    digest = input_digest(
        os.environ.get(CONTEXT_ENV, ""),
        scope,
        [item.manifest for item, _ in parsed],
        [binding.key for binding in plan.expired],
    )
    return Declared(
        plan,
        groups,
        network_policies,
        workspaces,
        statuses,
        bootstrap,
        leftovers,
        firefox_policy,
        scope,
        digest,
    )


def read_live_inventory(settings: Settings, scope: ShardScope) -> Inventory:
    """The live objects (of ``scope``'s own workspaces, where it can name them) and
    connections, read with the program's own credentials."""
    dsn = resolve_dsn(pulumi.Config().get, os.environ)
    return read_inventory(
        settings.kubeconfig,
        settings.namespace,
        dsn,
        scope.listed_workspaces(),
        scope.placed_elsewhere(),
    )


def _identities(
    parsed: list[tuple[Any, Binding | InvalidBinding]],
) -> dict[str, tuple[str, str]]:
    """Binding key -> (workspace, username) for every manifest that names them, even invalid."""
    identities: dict[str, tuple[str, str]] = {}
    for item, entry in parsed:
        identity = (
            entry.identity if isinstance(entry, Binding) else manifest_identity(item.manifest)
        )
        if identity is not None:
            identities.setdefault(entry.key, identity)
    return identities


def _bootstrap(settings: Settings) -> DatabaseBootstrap:
    """Declare the database bootstrap; the credentials come from stack config or environment."""
    config = pulumi.Config()
    require_admin_dsn(config.get, os.environ)
    login = read_app_login(config.get, os.environ)
    return declare_database_bootstrap(settings.database_bootstrap, login)


def _guacamole_rows_after(
    resources: list[pulumi.Resource],
) -> pulumi.ResourceTransformation:
    """A transformation making the Guacamole connections (with their users) wait for ``resources``.

    Why a transformation: they are children of BrowserWorkspace, and a component's
    ``depends_on`` does not reach its children; a transformation on the component does.
    """

    def transformation(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if not isinstance(args.resource, GuacamoleConnection):
            return None
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=resources))
        return pulumi.ResourceTransformationResult(args.props, opts)

    return transformation


def _statuses(
    plan: Plan,
    workspaces: Mapping[str, BrowserWorkspace],
    namespace: str,
    revoked: pulumi.Resource | None = None,
) -> dict[str, BindingStatus]:
    """One status writer per binding; shared workspaces write the same status to each binding.

    A READY status mirrors the Deployment's observed replicas (the provider reads them after the
    Deployment is applied); each write posts an Event on the binding worded from ``note``. An
    expired or invalid binding's status is written once ``revoked`` has removed its access.
    """
    statuses: dict[str, BindingStatus] = {}
    after_revocation = pulumi.ResourceOptions(depends_on=[revoked]) if revoked else None
    for workspace_plan in plan.workspaces:
        workspace = workspaces[workspace_plan.deployment_name]
        name = workspace_plan.deployment_name
        after = pulumi.ResourceOptions(depends_on=[workspace.deployment, workspace.connection])
        note = (
            f"browser workspace {name} for {escape(workspace_plan.username)} in workspace "
            f"{escape(workspace_plan.workspace)} (Guacamole login "
            f"{escape(workspace_plan.guacamole_username)})"
        )
        for binding in workspace_plan.bindings:
            statuses[binding.key] = BindingStatus(
                binding.key,
                binding_namespace=binding.namespace,
                binding_name=binding.name,
                status=ready_status(name, workspace_plan.replicas),
                deployment={"namespace": namespace, "name": name},
                note=note,
                taken_over=binding.status_text == READY and binding.status_deployment_name == name,
                opts=after,
            )
    for binding in plan.expired:
        statuses[binding.key] = BindingStatus(
            binding.key,
            binding_namespace=binding.namespace,
            binding_name=binding.name,
            status=expired_status(),
            note=f"binding expired on {binding.expires.isoformat()}; its browser workspace and "
            "Guacamole login are removed",
            opts=after_revocation,
        )
    for invalid in plan.invalid:
        if invalid.addressable and invalid.key not in statuses:
            assert invalid.namespace is not None and invalid.name is not None
            statuses[invalid.key] = BindingStatus(
                invalid.key,
                binding_namespace=invalid.namespace,
                binding_name=invalid.name,
                status=invalid_status(invalid.field, invalid.reason),
                note=f"{escape(invalid.field)}: {escape(invalid.reason)}",
                opts=after_revocation,
            )
    return statuses


def _report(plan: Plan, settings: Settings, source: BindingSource, scope: ShardScope) -> None:
    """Name every culprit in the run log, as warnings.

    A refused binding is that binding's error, not the run's: logged as an error diagnostic it
    makes the engine report the update as failed ("failed N errors") while every other binding
    converged and deletions ran. Refusals are counted in the ``problems`` and ``summary``
    outputs instead, and the pipeline entry points exit non-zero on them (see the README).
    Messages are escaped where they are composed (``components.planning``).
    """
    for problem in plan.problems:
        pulumi.log.warn(problem.message)
    if settings.network_policy.enabled and not settings.network_policy.egress and plan.workspaces:
        pulumi.log.warn(
            "networkPolicy.egress is empty: browsers can resolve DNS but reach nothing else; "
            "list the JupyterHub ingress (browserUrl) there"
        )
    counts = ", ".join(f"{key} {value}" for key, value in plan.summary().items())
    where = "" if scope.whole else f" ({scope.describe()})"
    pulumi.log.info(f"{neutralise(source.describe())}{where}: {counts}")
