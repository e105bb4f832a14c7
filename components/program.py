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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import manifests
from components.binding_source import BindingSource
from components.binding_status import (
    BindingStatus,
    expired_status,
    invalid_status,
    ready_status,
)
from components.bindings import parse_binding
from components.browser_workspace import BrowserWorkspace
from components.firefox_policy import allowed_patterns
from components.guacamole import GuacamoleConnection, GuacamoleConnectionGroup, GuacamoleUser
from components.guacamole.bootstrap import (
    DatabaseBootstrap,
    declare_database_bootstrap,
    read_app_login,
    require_admin_dsn,
)
from components.planning import Plan, Severity, plan_workspaces
from components.settings import Settings


@dataclass(frozen=True)
class Declared:
    """What ``declare`` created, for stack outputs and tests."""

    plan: Plan
    groups: Mapping[str, GuacamoleConnectionGroup]
    workspaces: Mapping[str, BrowserWorkspace]
    statuses: Mapping[str, BindingStatus]
    bootstrap: DatabaseBootstrap | None = None
    firefox_policy: k8s.core.v1.ConfigMap | None = None

    def outputs(self) -> dict[str, Any]:
        """Stack outputs: per-binding names and connection ids, counts, and every problem."""
        by_binding: dict[str, Any] = {}
        for plan in self.plan.workspaces:
            workspace = self.workspaces[plan.deployment_name]
            for key in plan.binding_keys:
                by_binding[key] = workspace.summary()
        outputs: dict[str, Any] = {
            "workspaces": by_binding,
            "summary": self.plan.summary(),
            "problems": [
                {
                    "kind": str(problem.kind),
                    "bindings": list(problem.bindings),
                    "message": problem.message,
                }
                for problem in self.plan.problems
            ],
        }
        if self.bootstrap is not None:
            outputs["databaseBootstrap"] = self.bootstrap.summary()
        return outputs


def declare(settings: Settings, source: BindingSource, *, today: date | None = None) -> Declared:
    """Declare one connection group per workspace and one BrowserWorkspace per planned workspace."""
    sourced = source.load()
    plan = plan_workspaces(
        (parse_binding(item.manifest, item.origin) for item in sourced),
        today or datetime.now(UTC).date(),
    )
    _report(plan, settings, source)

    bootstrap = _bootstrap(settings) if settings.database_bootstrap.enabled else None
    after: list[pulumi.Resource] = bootstrap.ready if bootstrap else []

    kubernetes = k8s.Provider("kubernetes", kubeconfig=settings.kubeconfig or None)
    firefox_policy = _firefox_policy(settings)
    groups = {
        workspace: GuacamoleConnectionGroup(
            f"group-{workspace}",
            group_name=workspace,
            opts=pulumi.ResourceOptions(depends_on=after) if after else None,
        )
        for workspace in sorted({p.workspace for p in plan.workspaces})
    }
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
            opts=workspace_opts,
        )
        for p in plan.workspaces
    }
    statuses = _statuses(plan, workspaces) if settings.write_binding_status else {}
    return Declared(plan, groups, workspaces, statuses, bootstrap, firefox_policy)


def _firefox_policy(settings: Settings) -> k8s.core.v1.ConfigMap | None:
    """The browsers' lock-down policy, once per stack; an existing ConfigMap is adopted.

    Its own provider makes the ConfigMap mutable: by default pulumi-kubernetes replaces a
    ConfigMap on every change, which for a fixed name means deleting it first, and a browser
    starting in that gap would fail to mount its policy.
    """
    if not settings.declare_firefox_policy:
        return None
    if not allowed_patterns(settings):
        pulumi.log.warn(
            "browserUrl and firefoxAllowedUrls are empty: the Firefox policy blocks every site; "
            "set browserUrl (JupyterHub) or list the allowed sites in firefoxAllowedUrls"
        )
    return k8s.core.v1.ConfigMap(
        "firefox-policy",
        **manifests.firefox_policy_args(settings),
        opts=pulumi.ResourceOptions(
            provider=k8s.Provider(
                "kubernetes-firefox-policy",
                kubeconfig=settings.kubeconfig or None,
                enable_config_map_mutable=True,
            )
        ),
    )


def _bootstrap(settings: Settings) -> DatabaseBootstrap:
    """Declare the database bootstrap; the credentials come from stack config or environment."""
    config = pulumi.Config()
    require_admin_dsn(config.get, os.environ)
    login = read_app_login(config.get, os.environ)
    return declare_database_bootstrap(settings.database_bootstrap, login)


def _guacamole_rows_after(
    resources: list[pulumi.Resource],
) -> pulumi.ResourceTransformation:
    """A transformation making the Guacamole users and connections wait for ``resources``.

    Why a transformation: they are children of BrowserWorkspace, and a component's
    ``depends_on`` does not reach its children; a transformation on the component does.
    """

    def transformation(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if not isinstance(args.resource, GuacamoleUser | GuacamoleConnection):
            return None
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=resources))
        return pulumi.ResourceTransformationResult(args.props, opts)

    return transformation


def _statuses(plan: Plan, workspaces: Mapping[str, BrowserWorkspace]) -> dict[str, BindingStatus]:
    """One status writer per binding; shared workspaces write the same status to each binding."""
    statuses: dict[str, BindingStatus] = {}
    for workspace_plan in plan.workspaces:
        workspace = workspaces[workspace_plan.deployment_name]
        # We always set spec.replicas, so the Deployment reports back exactly what we asked for.
        replicas = workspace.deployment.spec.apply(lambda spec: int(spec.replicas or 0))
        after = pulumi.ResourceOptions(
            depends_on=[workspace.deployment, workspace.user, workspace.connection]
        )
        for binding in workspace_plan.bindings:
            statuses[binding.key] = BindingStatus(
                binding.key,
                binding_namespace=binding.namespace,
                binding_name=binding.name,
                status=ready_status(workspace_plan.deployment_name, replicas),
                opts=after,
            )
    for binding in plan.expired:
        statuses[binding.key] = BindingStatus(
            binding.key,
            binding_namespace=binding.namespace,
            binding_name=binding.name,
            status=expired_status(),
        )
    for invalid in plan.invalid:
        if invalid.namespace and invalid.name and invalid.key not in statuses:
            statuses[invalid.key] = BindingStatus(
                invalid.key,
                binding_namespace=invalid.namespace,
                binding_name=invalid.name,
                status=invalid_status(invalid.field, invalid.reason),
            )
    return statuses


def _report(plan: Plan, settings: Settings, source: BindingSource) -> None:
    """Name every culprit in the run log; errors do not stop the other bindings."""
    for problem in plan.problems:
        if problem.severity is Severity.ERROR:
            pulumi.log.error(problem.message)
        else:
            pulumi.log.warn(problem.message)
    if settings.network_policy.enabled and not settings.network_policy.egress and plan.workspaces:
        pulumi.log.warn(
            "networkPolicy.egress is empty: browsers can resolve DNS but reach nothing else; "
            "list the JupyterHub ingress (browserUrl) there"
        )
    counts = ", ".join(f"{key} {value}" for key, value in plan.summary().items())
    pulumi.log.info(f"{source.describe()}: {counts}")
