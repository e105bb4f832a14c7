"""The Kubernetes objects of one browser workspace, as plain resource arguments.

Pure functions of a :class:`WorkspacePlan` and the :class:`Settings`; the component only feeds
them to pulumi-kubernetes. Keys are the SDK's snake_case names (``match_labels``), which the SDK
translates to the API's camelCase. Labels, selector, pod annotations, container name, port and the
Service are the legacy operator's (fact sheet 1.6) so existing objects are adopted in place;
the program only adds labels and annotations of its own. The VNC password Secret, resources,
hardening and the per-workspace NetworkPolicy are new.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pulumi

from components import firefox_policy, naming
from components.planning import WorkspacePlan
from components.settings import EgressDestination, NetworkPolicySettings, PortSpec, Settings

PURPOSE_LABEL = "xlscsde.nhs.uk/purpose"
PURPOSE = "workspace-client"
DEPLOYMENT_LABEL = "xlscsde.nhs.uk/deployment-name"
WORKSPACE_ANNOTATION = "xlscsde.nhs.uk/workspace"
USERNAME_ANNOTATION = "xlscsde.nhs.uk/username"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
WORKSPACE_LABEL = "awms-browser-workspaces/workspace"
"""On the program's Deployments and Services: lets a shard list only its own workspaces' objects.

Why a label when the workspace is already annotated: annotations cannot be selected on, so
without it every run of every shard would list the whole fleet's objects to find its leftovers
(seconds at thousands of bindings). The legacy operator's objects never carry it; they are
listed as the objects *without* it (see ``components.takeover.inventory``).
"""
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")

SKIP_AWAIT = "pulumi.com/skipAwait"
PATCH_FORCE = "pulumi.com/patchForce"
"""Take over fields the legacy operator owned when adopting its Deployment and Service."""
PATCH_FIELD_MANAGER = "pulumi.com/patchFieldManager"
FIELD_MANAGER = "awms-browser-workspaces"
"""One fixed server-side-apply field manager for every object the program applies.

Why fixed: pulumi-kubernetes otherwise picks a random manager per resource creation, so a run that
was killed after creating an object leaves fields owned by a manager no later run uses, and the
next apply conflicts with it. A stable name also lets a hand-over move the legacy operator's field
ownership to this manager, and lets other writers (the login fast path) be told apart.
"""
APPLY_ANNOTATIONS = {PATCH_FORCE: "true", PATCH_FIELD_MANAGER: FIELD_MANAGER}

DELETION_PROPAGATION = "pulumi.com/deletionPropagationPolicy"
BACKGROUND_DELETION = {DELETION_PROPAGATION: "background"}
"""Delete the Secret, Service and NetworkPolicy at once instead of through the garbage collector.

Why: pulumi-kubernetes deletes with foreground propagation unless told otherwise. The API server
then keeps each object, with a ``foregroundDeletion`` finalizer, until kube-controller-manager's
garbage collector has looked at it, and the run waits for that: about 0.6 s per object, and
the collector handles only about 14 a second, so removing 1,000 bindings waited minutes on it.
While kube-controller-manager is down, such a run waits ten minutes and fails. None of these
three objects has a dependent worth waiting for (a Service's EndpointSlices are collected after
it). The Deployment keeps foreground propagation: its pods are gone before it is.
"""

PASSWORD_DIGEST_ANNOTATION = "awms-browser-workspaces/vnc-password-digest"  # noqa: S105
"""Pod-template annotation carrying a digest of the VNC password.

Why: the container reads ``VNC_PASSWORD`` from the Secret once, at start. When the password
changes (a rotation, or a run killed before its state was saved that generated a new one), the
Secret and the Guacamole connection get the new value but a running pod would keep the old one and
refuse guacd. A changed digest changes the pod template, so the Deployment rolls the pod. The
digest is a truncated SHA-256 of a 192-bit random value: it tells nothing about the password.
"""
DIGEST_LENGTH = 16

VNC_PASSWORD_KEY = "password"  # noqa: S105 - the Secret key name, not a password
CERTS_VOLUME = "guacamole-certificates"
CERTS_PATH = "/usr/lib/firefox/distribution/certs"
FIREFOX_VOLUME = "firefox-config"
FIREFOX_PATH = "/usr/lib/firefox/distribution"
FIREFOX_POLICY_DIGEST = "awms-browser-workspaces/firefox-policy-sha256"
"""Pod-template annotation: the declared policy's digest, so a policy change restarts browsers
(Firefox reads its policies only at start-up)."""


def workspace_label_value(workspace: str) -> str:
    """The :data:`WORKSPACE_LABEL` value: the workspace itself when it is a valid label value
    (so ``kubectl get -l`` reads naturally), else a digest of it. Two workspaces sharing a value
    only widen a shard's list; its objects are still told apart by their annotations."""
    if _LABEL_VALUE.match(workspace):
        return workspace
    return "sha256-" + hashlib.sha256(workspace.encode("utf-8", "surrogatepass")).hexdigest()[:48]


def _labels(plan: WorkspacePlan) -> dict[str, str]:
    """Labels of a Deployment's or Service's own metadata."""
    return {PURPOSE_LABEL: PURPOSE, WORKSPACE_LABEL: workspace_label_value(plan.workspace)}


def _annotations(plan: WorkspacePlan) -> dict[str, str]:
    return {WORKSPACE_ANNOTATION: plan.workspace, USERNAME_ANNOTATION: plan.username}


def password_digest(password: str) -> str:
    """The value of :data:`PASSWORD_DIGEST_ANNOTATION` for ``password`` (pure)."""
    return hashlib.sha256(password.encode()).hexdigest()[:DIGEST_LENGTH]


def deployment_args(
    plan: WorkspacePlan, settings: Settings, digest: pulumi.Input[str] | None = None
) -> dict[str, Any]:
    """Deployment named after the legacy hash; replicas follow the binding (0 until login).

    ``digest`` (:func:`password_digest` of the VNC password) goes into the pod template so that
    a changed password restarts the browser with it.
    """
    name = plan.deployment_name
    annotations = dict(APPLY_ANNOTATIONS)
    if not settings.await_deployments:
        annotations[SKIP_AWAIT] = "true"
    pod_annotations: dict[str, Any] = dict(_annotations(plan))
    if digest is not None:
        pod_annotations[PASSWORD_DIGEST_ANNOTATION] = digest
    return {
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": _labels(plan),
            "annotations": annotations,
        },
        "spec": {
            "replicas": plan.replicas,
            "selector": {"match_labels": {DEPLOYMENT_LABEL: name}},
            "template": {
                "metadata": {
                    # The workspace label puts the pod under its workspace's NetworkPolicy.
                    "labels": {DEPLOYMENT_LABEL: name, **pod_fence_labels(plan.workspace)},
                    "annotations": {**pod_annotations, **_policy_annotation(settings)},
                },
                "spec": _pod_spec(name, settings),
            },
        },
    }


def _policy_annotation(settings: Settings) -> dict[str, str]:
    if not settings.declare_firefox_policy:
        return {}
    return {FIREFOX_POLICY_DIGEST: firefox_policy.digest(settings)}


def firefox_policy_args(settings: Settings) -> dict[str, Any]:
    """The lock-down ConfigMap mounted at the Firefox distribution directory (one per stack)."""
    return {
        "metadata": {
            "name": settings.firefox_policy_config_map,
            "namespace": settings.namespace,
            # Not the workspace-client purpose label: this object belongs to no one binding.
            "labels": {MANAGED_BY_LABEL: FIELD_MANAGER},
            "annotations": dict(APPLY_ANNOTATIONS),
        },
        "data": firefox_policy.config_map_data(settings),
    }


def _pod_spec(name: str, settings: Settings) -> dict[str, Any]:
    security = settings.pod_security
    pod_security: dict[str, Any] = {}
    if security.run_as_non_root:
        pod_security["run_as_non_root"] = True
    if security.run_as_user is not None:
        pod_security["run_as_user"] = security.run_as_user
    if security.run_as_group is not None:
        pod_security["run_as_group"] = security.run_as_group
    if security.seccomp_profile:
        pod_security["seccomp_profile"] = {"type": security.seccomp_profile}
    volumes, mounts = _volumes(settings)
    container: dict[str, Any] = {
        "name": name,
        "image": settings.image,
        "ports": [{"container_port": naming.VNC_PORT}],
        "env": _env(name, settings),
        "resources": {
            "requests": dict(settings.resources.requests),
            "limits": dict(settings.resources.limits),
        },
        "security_context": {
            "allow_privilege_escalation": security.allow_privilege_escalation,
            "read_only_root_filesystem": security.read_only_root_filesystem,
            "capabilities": {
                "drop": list(security.capabilities_drop),
                "add": list(security.capabilities_add),
            },
        },
    }
    if mounts:
        container["volume_mounts"] = mounts
    spec: dict[str, Any] = {
        "automount_service_account_token": security.automount_service_account_token,
        "enable_service_links": False,
        "security_context": pod_security,
        "containers": [container],
    }
    if volumes:
        spec["volumes"] = volumes
    return spec


def _env(name: str, settings: Settings) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    if settings.browser_url:
        env.append({"name": "BROWSER_URL", "value": settings.browser_url})
    env.append(
        {
            "name": "VNC_PASSWORD",
            "value_from": {
                "secret_key_ref": {"name": naming.vnc_secret_name(name), "key": VNC_PASSWORD_KEY}
            },
        }
    )
    return env


def _volumes(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The legacy mounts (certificates nested inside the Firefox distribution directory)."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if settings.enterprise_ca_config_map:
        volumes.append(
            {"name": CERTS_VOLUME, "config_map": {"name": settings.enterprise_ca_config_map}}
        )
        mounts.append({"name": CERTS_VOLUME, "mount_path": CERTS_PATH, "read_only": True})
    if settings.firefox_policy_config_map:
        volumes.append(
            {"name": FIREFOX_VOLUME, "config_map": {"name": settings.firefox_policy_config_map}}
        )
        mounts.append({"name": FIREFOX_VOLUME, "mount_path": FIREFOX_PATH, "read_only": True})
    return volumes, mounts


def service_args(plan: WorkspacePlan, settings: Settings) -> dict[str, Any]:
    """Headless Service ``client-<name>``: its DNS name is the Guacamole connection hostname."""
    name = plan.deployment_name
    return {
        "metadata": {
            "name": naming.service_name(name),
            "namespace": settings.namespace,
            "labels": _labels(plan),
            # Never awaited: nothing is ready before a login, and the provider's Service await
            # can record the object as it was before an adopting apply (then every preview
            # shows our annotations being added until a refresh); the apply's own answer is
            # recorded instead.
            "annotations": {
                **_annotations(plan),
                **APPLY_ANNOTATIONS,
                SKIP_AWAIT: "true",
                **BACKGROUND_DELETION,
            },
        },
        "spec": {
            "type": "ClusterIP",
            "cluster_ip": "None",
            "selector": {DEPLOYMENT_LABEL: name},
            "ports": [{"port": naming.VNC_PORT, "target_port": naming.VNC_PORT}],
        },
    }


def vnc_secret_args(
    plan: WorkspacePlan, settings: Settings, password: pulumi.Input[str]
) -> dict[str, Any]:
    """Secret the container reads ``VNC_PASSWORD`` from (``x11vnc -storepasswd`` at start)."""
    name = plan.deployment_name
    return {
        "metadata": {
            "name": naming.vnc_secret_name(name),
            "namespace": settings.namespace,
            "labels": {PURPOSE_LABEL: PURPOSE, DEPLOYMENT_LABEL: name},
            "annotations": {**_annotations(plan), **APPLY_ANNOTATIONS, **BACKGROUND_DELETION},
        },
        "type": "Opaque",
        "string_data": {VNC_PASSWORD_KEY: password},
    }


def network_policy_args(workspace: str, settings: Settings) -> dict[str, Any]:
    """Default-deny for every browser pod of ``workspace``, opened only for guacd in and DNS
    plus the allow-list out: one policy per workspace, since its rules are the same for each
    of the workspace's bindings.

    It selects the pods by :data:`WORKSPACE_LABEL`, which the pod template carries; a Deployment
    waits for its workspace's policy, and the policy is deleted after the workspace's last
    Deployment, so no browser pod runs unselected.
    """
    policy = settings.network_policy
    return {
        "metadata": {
            "name": naming.workspace_network_policy_name(workspace),
            "namespace": settings.namespace,
            # Not the workspace-client purpose label: this object belongs to no one binding.
            "labels": {
                MANAGED_BY_LABEL: FIELD_MANAGER,
                WORKSPACE_LABEL: workspace_label_value(workspace),
            },
            "annotations": {
                WORKSPACE_ANNOTATION: workspace,
                **APPLY_ANNOTATIONS,
                **BACKGROUND_DELETION,
            },
        },
        "spec": {
            "pod_selector": {"match_labels": pod_fence_labels(workspace)},
            "policy_types": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from_": [
                        {
                            "namespace_selector": _namespace_selector(policy.guacd_namespace),
                            "pod_selector": {"match_labels": dict(policy.guacd_pod_labels)},
                        }
                    ],
                    "ports": [{"port": naming.VNC_PORT, "protocol": "TCP"}],
                }
            ],
            "egress": [_dns_rule(policy), *(_egress_rule(dest) for dest in policy.egress)],
        },
    }


def pod_fence_labels(workspace: str) -> dict[str, str]:
    """The pod labels a workspace's NetworkPolicy selects (and every pod template carries)."""
    return {WORKSPACE_LABEL: workspace_label_value(workspace)}


def _namespace_selector(namespace: str) -> dict[str, Any]:
    return {"match_labels": {NAMESPACE_NAME_LABEL: namespace}}


def _dns_rule(policy: NetworkPolicySettings) -> dict[str, Any]:
    return {
        "to": [
            {
                "namespace_selector": _namespace_selector(policy.dns_namespace),
                "pod_selector": {"match_labels": dict(policy.dns_pod_labels)},
            }
        ],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
    }


def _egress_rule(destination: EgressDestination) -> dict[str, Any]:
    peer: dict[str, Any] = {}
    if destination.cidr is not None:
        block: dict[str, Any] = {"cidr": destination.cidr}
        if destination.except_cidrs:
            block["except_"] = list(destination.except_cidrs)
        peer["ip_block"] = block
    if destination.namespace_labels is not None:
        peer["namespace_selector"] = {"match_labels": dict(destination.namespace_labels)}
    if destination.pod_labels is not None:
        peer["pod_selector"] = {"match_labels": dict(destination.pod_labels)}
    rule: dict[str, Any] = {"to": [peer]}
    if destination.ports:
        rule["ports"] = [_port(port) for port in destination.ports]
    return rule


def _port(port: PortSpec) -> dict[str, Any]:
    return {"port": port.port, "protocol": port.protocol}
