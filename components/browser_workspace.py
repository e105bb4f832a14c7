"""``BrowserWorkspace``: everything one user needs to open one workspace's browser.

Children (all parented here, so ``pulumi stack`` shows one tree per workspace):

* ``GeneratedPassword`` — the per-connection VNC password, generated once;
* ``Secret client-<name>-vnc`` — that password, read by the container as ``VNC_PASSWORD``;
* ``Deployment <name>`` — the locked-down browser, replicas from the binding(s); its pod
  template carries a digest of the password, so a changed password restarts the browser;
* ``Service client-<name>`` — headless, the hostname guacd dials;
* ``GuacamoleConnection <username>`` inside the workspace's connection group (which the program
  declares once per workspace and passes in), with the user ``{workspace}@{username}`` who may
  open it: one resource, written and revoked in one transaction.

The same password ``Output`` feeds the Secret and the Guacamole connection, and the connection's
hostname is the Service's cluster DNS name, so the two sides cannot drift apart.

Order (revoke first): the Guacamole connection depends on every Kubernetes object (on the
Deployment and Service directly, the rest through the Deployment), so it is created last
(access is granted once the browser exists) and deleted first (access ends before anything else
is touched, and a Kubernetes API that is down cannot keep a removed user's connection alive).
The Deployment depends on its workspace's NetworkPolicy (declared once per workspace, like the
connection group, and passed in), so no pod of it starts before the policy exists and the policy
is deleted only after the workspace's last Deployment. The Deployment and
Service wait for ``adopt_after`` (the legacy field-ownership take-over), so their first apply
already owns, and can drop, what the legacy operator wrote.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import manifests, naming
from components.generated_secret import GeneratedPassword
from components.guacamole import GuacamoleConnection
from components.planning import WorkspacePlan
from components.settings import Settings

TYPE = "awms:index:BrowserWorkspace"


class BrowserWorkspace(pulumi.ComponentResource):
    """One browser workspace; the resource name is the legacy deployment name."""

    deployment_name: str
    hostname: str
    password: pulumi.Output[str]
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    secret: k8s.core.v1.Secret
    connection: GuacamoleConnection

    def __init__(
        self,
        resource_name: str,
        *,
        plan: WorkspacePlan,
        settings: Settings,
        group_id: pulumi.Input[int],
        network_policy: pulumi.Resource | None = None,
        adopt_after: pulumi.Resource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        name = plan.deployment_name
        child = pulumi.ResourceOptions(parent=self)
        self.deployment_name = name
        self.hostname = naming.connection_hostname(
            name, settings.namespace, settings.cluster_domain
        )

        generated = GeneratedPassword(f"{name}-vnc-password", opts=child)
        self.password = pulumi.Output.secret(generated.password)

        self.secret = k8s.core.v1.Secret(
            f"{name}-vnc", **manifests.vnc_secret_args(plan, settings, self.password), opts=child
        )
        adopted = [adopt_after] if adopt_after is not None else []
        # Not secret: a digest, so the pod template stays readable in a preview.
        digest = pulumi.Output.unsecret(self.password.apply(manifests.password_digest))
        fenced = [network_policy] if network_policy is not None else []
        self.deployment = k8s.apps.v1.Deployment(
            name,
            **manifests.deployment_args(plan, settings, digest),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.secret, *fenced, *adopted]),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            **manifests.service_args(plan, settings),
            opts=pulumi.ResourceOptions(parent=self, depends_on=adopted),
        )

        # The Deployment already waits for the Secret and the NetworkPolicy, so these two edges
        # order the rows after every Kubernetes object and delete them first; each edge is a
        # URN stored in the state. The user has no password: users sign in through OpenID
        # Connect (Keycloak).
        self.connection = GuacamoleConnection(
            f"{name}-guacamole-connection",
            group_id=group_id,
            username=plan.guacamole_username,
            connection_name=plan.username,
            hostname=self.hostname,
            port=naming.VNC_PORT,
            password=self.password,
            disable_copy=settings.disable_copy,
            disable_paste=settings.disable_paste,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deployment, self.service]),
        )

        # No ``register_outputs``: the stack's ``workspaces`` output already carries the summary,
        # and registering it would store it a second time and cost a checkpoint write (of the
        # whole state, with the file backend) for every binding an ``up`` creates.

    def summary(self) -> dict[str, Any]:
        """What the stack reports per binding of this workspace."""
        return {
            "deploymentName": self.deployment_name,
            "serviceName": naming.service_name(self.deployment_name),
            "hostname": self.hostname,
            "connectionId": self.connection.connection_id,
        }
