"""What several bindings share: per workspace, its connection group and NetworkPolicy; per
environment, the Firefox policy ConfigMap.

Declared once and passed to each ``BrowserWorkspace``, so a binding costs only its own objects,
and a shared object's delete waits for the last binding that used it (each binding depends on it).
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi
import pulumi_kubernetes as k8s

from components import manifests
from components.firefox_policy import allowed_patterns
from components.guacamole import GuacamoleConnectionGroup
from components.settings import Settings


def connection_groups(
    workspaces: Iterable[str], after: list[pulumi.Resource]
) -> dict[str, GuacamoleConnectionGroup]:
    """One Guacamole connection group per workspace, named after it."""
    return {
        workspace: GuacamoleConnectionGroup(
            f"group-{workspace}",
            group_name=workspace,
            opts=pulumi.ResourceOptions(depends_on=after) if after else None,
        )
        for workspace in sorted(set(workspaces))
    }


def network_policies(
    workspaces: Iterable[str], settings: Settings, provider: k8s.Provider
) -> dict[str, k8s.networking.v1.NetworkPolicy]:
    """One NetworkPolicy per workspace fencing all its browser pods (none when switched off).

    Why per workspace and not per binding: the rules are the same for every binding, and each
    Kubernetes object in the state costs its inputs twice and the live object once (some 5 kB
    for a policy), written at every checkpoint of a file backend.
    """
    if not settings.network_policy.enabled:
        return {}
    return {
        workspace: k8s.networking.v1.NetworkPolicy(
            f"network-policy-{workspace}",
            **manifests.network_policy_args(workspace, settings),
            opts=pulumi.ResourceOptions(provider=provider),
        )
        for workspace in sorted(set(workspaces))
    }


def firefox_policy(settings: Settings) -> k8s.core.v1.ConfigMap | None:
    """The browsers' lock-down policy, once per environment; an existing ConfigMap is adopted.

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
