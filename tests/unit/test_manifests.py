"""The Kubernetes objects, pinned field by field where the legacy operator fixed them (1.6)."""

from __future__ import annotations

import re
from datetime import date

from components import firefox_policy
from components.bindings import Binding
from components.manifests import (
    DELETION_PROPAGATION,
    deployment_args,
    network_policy_args,
    service_args,
    vnc_secret_args,
    workspace_label_value,
)
from components.planning import WorkspacePlan
from components.settings import settings_from_values

NAME = "1650b50f8d495d69a1ddc8453da48e53"
PLAN = WorkspacePlan(
    "test-workspace",
    "jovyan",
    (Binding("jupyterhub", "b", "test-workspace", "jovyan", date(2099, 1, 1), replicas=1),),
)
DEFAULTS = settings_from_values({})


def test_deployment_identity_is_the_legacy_one():
    args = deployment_args(PLAN, DEFAULTS)
    assert args["metadata"] == {
        "name": NAME,
        "namespace": "guacamole",
        "labels": {
            "xlscsde.nhs.uk/purpose": "workspace-client",
            "awms-browser-workspaces/workspace": "test-workspace",
        },
        "annotations": {
            "pulumi.com/patchForce": "true",
            "pulumi.com/patchFieldManager": "awms-browser-workspaces",
            "pulumi.com/skipAwait": "true",
        },
    }
    spec = args["spec"]
    assert spec["replicas"] == 1
    assert spec["selector"] == {"match_labels": {"xlscsde.nhs.uk/deployment-name": NAME}}
    assert spec["template"]["metadata"] == {
        "labels": {
            "xlscsde.nhs.uk/deployment-name": NAME,
            "awms-browser-workspaces/workspace": "test-workspace",
        },
        "annotations": {
            "xlscsde.nhs.uk/workspace": "test-workspace",
            "xlscsde.nhs.uk/username": "jovyan",
            "awms-browser-workspaces/firefox-policy-sha256": firefox_policy.digest(DEFAULTS),
        },
    }


def test_pod_spec_defaults():
    pod = deployment_args(PLAN, DEFAULTS)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == NAME
    assert container["image"] == "lscsde/analytics-vnc-client:0.1.5"
    assert container["ports"] == [{"container_port": 5900}]
    assert container["env"] == [
        {
            "name": "VNC_PASSWORD",
            "value_from": {"secret_key_ref": {"name": f"client-{NAME}-vnc", "key": "password"}},
        }
    ]
    assert container["volume_mounts"] == [
        {
            "name": "guacamole-certificates",
            "mount_path": "/usr/lib/firefox/distribution/certs",
            "read_only": True,
        },
        {
            "name": "firefox-config",
            "mount_path": "/usr/lib/firefox/distribution",
            "read_only": True,
        },
    ]
    assert pod["volumes"] == [
        {
            "name": "guacamole-certificates",
            "config_map": {"name": "xlscsde-enterprise-certificate"},
        },
        {"name": "firefox-config", "config_map": {"name": "firefox-config"}},
    ]
    assert container["security_context"] == {
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": False,
        "capabilities": {"drop": ["ALL"], "add": []},
    }
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert pod["security_context"] == {"seccomp_profile": {"type": "RuntimeDefault"}}
    assert pod["automount_service_account_token"] is False
    assert pod["enable_service_links"] is False


def test_no_config_maps_means_no_volumes():
    settings = settings_from_values({"firefoxPolicyConfigMap": "", "enterpriseCaConfigMap": ""})
    pod = deployment_args(PLAN, settings)["spec"]["template"]["spec"]
    assert "volumes" not in pod
    assert "volume_mounts" not in pod["containers"][0]


def test_service_is_the_legacy_headless_service():
    assert service_args(PLAN, DEFAULTS) == {
        "metadata": {
            "name": f"client-{NAME}",
            "namespace": "guacamole",
            "labels": {
                "xlscsde.nhs.uk/purpose": "workspace-client",
                "awms-browser-workspaces/workspace": "test-workspace",
            },
            "annotations": {
                "xlscsde.nhs.uk/workspace": "test-workspace",
                "xlscsde.nhs.uk/username": "jovyan",
                "pulumi.com/patchForce": "true",
                "pulumi.com/patchFieldManager": "awms-browser-workspaces",
                "pulumi.com/skipAwait": "true",
                "pulumi.com/deletionPropagationPolicy": "background",
            },
        },
        "spec": {
            "type": "ClusterIP",
            "cluster_ip": "None",
            "selector": {"xlscsde.nhs.uk/deployment-name": NAME},
            "ports": [{"port": 5900, "target_port": 5900}],
        },
    }


def test_secret_holds_the_password_under_the_key_the_pod_reads():
    args = vnc_secret_args(PLAN, DEFAULTS, "s3cret")
    assert args["metadata"]["name"] == f"client-{NAME}-vnc"
    assert args["type"] == "Opaque"
    assert args["string_data"] == {"password": "s3cret"}


def test_network_policy_admits_only_guacd_and_dns_by_default():
    spec = network_policy_args(PLAN.workspace, DEFAULTS)["spec"]
    assert spec["pod_selector"] == {
        "match_labels": {"awms-browser-workspaces/workspace": "test-workspace"}
    }
    assert spec["policy_types"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [
        {
            "from_": [
                {
                    "namespace_selector": {
                        "match_labels": {"kubernetes.io/metadata.name": "guacamole"}
                    },
                    "pod_selector": {"match_labels": {}},
                }
            ],
            "ports": [{"port": 5900, "protocol": "TCP"}],
        }
    ]
    assert spec["egress"] == [
        {
            "to": [
                {
                    "namespace_selector": {
                        "match_labels": {"kubernetes.io/metadata.name": "kube-system"}
                    },
                    "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ]


def test_network_policy_egress_destinations_and_guacd_labels():
    settings = settings_from_values(
        {
            "networkPolicy": {
                "guacdNamespace": "guacd",
                "guacdPodLabels": {"app.kubernetes.io/component": "daemon"},
                "egress": [
                    {"cidr": "10.0.0.0/8", "except": ["10.9.0.0/16"], "ports": [443]},
                    {"namespaceSelector": {"team": "hub"}},
                ],
            }
        }
    )
    spec = network_policy_args(PLAN.workspace, settings)["spec"]
    assert spec["ingress"][0]["from_"][0] == {
        "namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": "guacd"}},
        "pod_selector": {"match_labels": {"app.kubernetes.io/component": "daemon"}},
    }
    assert spec["egress"][1:] == [
        {
            "to": [{"ip_block": {"cidr": "10.0.0.0/8", "except_": ["10.9.0.0/16"]}}],
            "ports": [{"port": 443, "protocol": "TCP"}],
        },
        {"to": [{"namespace_selector": {"match_labels": {"team": "hub"}}}]},
    ]


def test_every_object_is_applied_by_one_fixed_field_manager():
    password = "x"
    for args in (
        deployment_args(PLAN, DEFAULTS),
        service_args(PLAN, DEFAULTS),
        vnc_secret_args(PLAN, DEFAULTS, password),
        network_policy_args(PLAN.workspace, DEFAULTS),
    ):
        annotations = args["metadata"]["annotations"]
        assert annotations["pulumi.com/patchFieldManager"] == "awms-browser-workspaces"
        assert annotations["pulumi.com/patchForce"] == "true"


def test_only_the_deployment_is_deleted_through_the_garbage_collector():
    """Foreground deletion of the others would wait on kube-controller-manager for nothing."""
    assert DELETION_PROPAGATION not in deployment_args(PLAN, DEFAULTS)["metadata"]["annotations"]
    for args in (
        service_args(PLAN, DEFAULTS),
        vnc_secret_args(PLAN, DEFAULTS, "x"),
        network_policy_args(PLAN.workspace, DEFAULTS),
    ):
        assert args["metadata"]["annotations"][DELETION_PROPAGATION] == "background"


def test_workspace_label_is_the_name_when_kubernetes_accepts_it():
    assert workspace_label_value("ws-a.b_c") == "ws-a.b_c"
    assert workspace_label_value("x" * 63) == "x" * 63


def test_workspace_label_is_a_digest_of_a_name_kubernetes_refuses():
    for workspace in ("x" * 64, "team a", "-lead", "tail-", "Ünïcode"):
        value = workspace_label_value(workspace)
        assert value.startswith("sha256-") and len(value) <= 63
        assert value != workspace_label_value(workspace + "z")


def test_every_pod_of_a_workspace_is_selected_by_its_network_policy():
    """The fence holds only if each pod template carries exactly what the policy selects."""
    for workspace in ("test-workspace", "Team A β", "x" * 80):
        plan = WorkspacePlan(
            workspace, "jovyan", (Binding("ns", "b", workspace, "jovyan", date(2099, 1, 1)),)
        )
        selector = network_policy_args(workspace, DEFAULTS)["spec"]["pod_selector"]
        pod_labels = deployment_args(plan, DEFAULTS)["spec"]["template"]["metadata"]["labels"]
        assert selector["match_labels"].items() <= pod_labels.items()
        other = network_policy_args(workspace + "z", DEFAULTS)["spec"]["pod_selector"]
        assert not other["match_labels"].items() <= pod_labels.items()


def test_workspace_network_policy_names_are_valid_and_distinct():
    names = {
        workspace: network_policy_args(workspace, DEFAULTS)["metadata"]["name"]
        for workspace in ("ws-a", "WS-A", "ws_a", "x" * 54, "x" * 55, "sha256-ab", "")
    }
    assert names["ws-a"] == "browsers-ws-a"
    assert names["x" * 54] == "browsers-" + "x" * 54
    assert len(set(names.values())) == len(names)
    for name in names.values():
        assert len(name) <= 63
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
