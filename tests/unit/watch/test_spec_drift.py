"""A browser's pod template and Service against the recorded ones: what a hand edit looks like,
what the API server adds on its own, and what a repair writes back."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components.manifests import FIELD_MANAGER
from components.watch.spec_drift import (
    POD_TEMPLATE,
    RESTARTED_AT,
    SERVICE_SPEC,
    changed_fields,
    foreign_additions,
    restored,
    spec_drift,
)

CONTAINER = "c1"
TEMPLATE: dict[str, Any] = {
    "metadata": {
        "annotations": {"xlscsde.nhs.uk/username": "ann@example.org"},
        "labels": {
            "awms-browser-workspaces/workspace": "ws",
            "xlscsde.nhs.uk/deployment-name": "d1",
        },
    },
    "spec": {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": CONTAINER,
                "image": "lscsde/analytics-vnc-client:0.1.5",
                "ports": [{"containerPort": 5900}],
                "resources": {"limits": {"cpu": "1000m", "memory": "2Gi"}, "requests": {}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": []},
                },
                "volumeMounts": [{"mountPath": "/etc/x", "name": "x", "readOnly": True}],
            }
        ],
        "volumes": [{"name": "x", "configMap": {"name": "x"}}],
    },
}
RECORDED: dict[str, Any] = {
    "metadata": {"name": "d1"},
    "spec": {"replicas": 0, "template": TEMPLATE},
}

KEY = "k:" + json.dumps({"name": CONTAINER}, separators=(",", ":"))
OURS_FIELDS = {
    "f:spec": {
        "f:replicas": {},
        "f:template": {
            "f:metadata": {
                "f:annotations": {"f:xlscsde.nhs.uk/username": {}},
                "f:labels": {
                    "f:awms-browser-workspaces/workspace": {},
                    "f:xlscsde.nhs.uk/deployment-name": {},
                },
            },
            "f:spec": {
                "f:automountServiceAccountToken": {},
                "f:containers": {
                    KEY: {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {
                            'k:{"containerPort":5900,"protocol":"TCP"}': {
                                ".": {},
                                "f:containerPort": {},
                            }
                        },
                        "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}},
                        "f:securityContext": {
                            "f:allowPrivilegeEscalation": {},
                            "f:capabilities": {"f:drop": {}},
                        },
                        "f:volumeMounts": {'k:{"mountPath":"/etc/x"}': {".": {}, "f:name": {}}},
                    }
                },
                "f:enableServiceLinks": {},
                "f:securityContext": {"f:seccompProfile": {"f:type": {}}},
                "f:volumes": {'k:{"name":"x"}': {".": {}, "f:configMap": {"f:name": {}}}},
            },
        },
    }
}


def entry(manager: str, fields: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": "Update", "fieldsV1": fields, **extra}


def template_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {"f:spec": {"f:template": fields}}


def template_drift(live: dict[str, Any]) -> tuple[str, ...]:
    return spec_drift(POD_TEMPLATE, RECORDED, live)


def live_deployment() -> dict[str, Any]:
    """The Deployment as the API server returns it after the program's apply and a login."""
    template = copy.deepcopy(TEMPLATE)
    spec = template["spec"]
    spec.update(dnsPolicy="ClusterFirst", restartPolicy="Always", schedulerName="default")
    container = spec["containers"][0]
    container["ports"][0]["protocol"] = "TCP"
    container["resources"] = {"limits": {"cpu": "1", "memory": "2Gi"}}
    container["securityContext"]["capabilities"] = {"drop": ["ALL"]}
    container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    spec["volumes"][0]["configMap"]["defaultMode"] = 420
    return {
        "metadata": {
            "name": "d1",
            "managedFields": [
                {**entry(FIELD_MANAGER, OURS_FIELDS), "operation": "Apply"},
                entry("awms-login", {"f:spec": {"f:replicas": {}}}, subresource="scale"),
                entry(
                    "kube-controller-manager",
                    {"f:status": {"f:replicas": {}}},
                    subresource="status",
                ),
            ],
        },
        "spec": {"replicas": 1, "template": template},
        "status": {"replicas": 1},
    }


def test_the_template_as_the_server_keeps_it_is_no_drift() -> None:
    assert template_drift(live_deployment()) == ()


def test_quantities_compare_by_value_and_other_strings_do_not() -> None:
    path = "spec.template.spec.containers[0].resources.limits.cpu"
    assert changed_fields("0.5", "500m", path) == []
    assert changed_fields("1Gi", "1024Mi", path) == []
    assert changed_fields("1", "2", path) == [path]
    assert changed_fields("1", "1.0", "spec.template.spec.containers[0].image") != []


def edit(live: dict[str, Any], manager: str, fields: dict[str, Any]) -> None:
    live["metadata"]["managedFields"].append(entry(manager, template_fields(fields)))


def test_a_privileged_flag_set_by_hand_is_drift_naming_the_field_and_manager() -> None:
    live = live_deployment()
    live["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    edit(
        live,
        "kubectl-edit",
        {"f:spec": {"f:containers": {KEY: {"f:securityContext": {"f:privileged": {}}}}}},
    )
    assert template_drift(live) == (
        f"spec.template.spec.containers[name={CONTAINER}].securityContext.privileged "
        "(set by kubectl-edit)",
    )


def test_a_host_path_volume_added_by_hand_is_drift_twice_over() -> None:
    live = live_deployment()
    live["spec"]["template"]["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    edit(
        live,
        "kubectl-patch",
        {"f:spec": {"f:volumes": {'k:{"name":"host"}': {".": {}, "f:hostPath": {"f:path": {}}}}}},
    )
    fields = template_drift(live)
    assert fields[0] == "spec.template.spec.volumes"
    assert "spec.template.spec.volumes[name=host] (set by kubectl-patch)" in fields


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: s["containers"][0].update(image="evil:latest"), "containers[0].image"),
        (lambda s: s.pop("automountServiceAccountToken"), "automountServiceAccountToken"),
        (lambda s: s.update(automountServiceAccountToken=True), "automountServiceAccountToken"),
        (
            lambda s: s["containers"][0]["securityContext"]["capabilities"].update(add=["NET_RAW"]),
            "containers[0].securityContext.capabilities.add",
        ),
        (
            lambda s: s["containers"][0]["securityContext"]["capabilities"].pop("drop"),
            "containers[0].securityContext.capabilities.drop",
        ),
        (lambda s: s["containers"][0]["resources"]["limits"].update(cpu="8"), "containers[0]"),
    ],
)
def test_a_recorded_field_changed_or_removed_is_drift(change: Any, field: str) -> None:
    live = live_deployment()
    change(live["spec"]["template"]["spec"])
    assert any(f.startswith(f"spec.template.spec.{field}") for f in template_drift(live))


def test_an_extra_label_is_drift_when_a_manager_set_it_and_not_when_nobody_owns_it() -> None:
    live = live_deployment()
    live["spec"]["template"]["metadata"]["labels"]["role"] = "admin"
    assert template_drift(live) == ()  # the server's own (no manager)
    edit(live, "kubectl-label", {"f:metadata": {"f:labels": {"f:role": {}}}})
    assert template_drift(live) == ("spec.template.metadata.labels.role (set by kubectl-label)",)


def test_another_manager_sharing_a_recorded_value_is_not_drift() -> None:
    live = live_deployment()
    edit(live, "kubectl", {"f:spec": {"f:containers": {KEY: {".": {}, "f:image": {}}}}})
    live["metadata"]["managedFields"][-1]["operation"] = "Apply"
    assert foreign_additions(POD_TEMPLATE, RECORDED, live) == []
    assert template_drift(live) == ()


def test_a_rollout_restart_is_allowed_and_kept_by_a_repair() -> None:
    live = live_deployment()
    annotations = live["spec"]["template"]["metadata"]["annotations"]
    annotations[RESTARTED_AT] = "2026-12-02T10:00:00Z"
    edit(live, "kubectl-rollout", {"f:metadata": {"f:annotations": {f"f:{RESTARTED_AT}": {}}}})
    assert template_drift(live) == ()
    body = restored(POD_TEMPLATE, RECORDED, live)
    assert body["metadata"]["annotations"][RESTARTED_AT] == "2026-12-02T10:00:00Z"
    assert restored(POD_TEMPLATE, RECORDED, live_deployment()) == TEMPLATE
    assert RESTARTED_AT not in TEMPLATE["metadata"]["annotations"]  # not written into the state


def test_a_hostile_manager_name_and_key_are_printed_inert() -> None:
    live = live_deployment()
    key = "x\n\x1b[31mFORGED"
    live["spec"]["template"]["metadata"]["labels"][key] = "y"
    edit(live, "evil\r\nmanager", {"f:metadata": {"f:labels": {f"f:{key}": {}}}})
    (field,) = template_drift(live)
    assert field.isprintable() and "\\n" in field and "evil\\r\\nmanager" in field


def test_fields_applied_under_another_name_are_matched_by_their_merge_keys() -> None:
    """A Deployment applied before the program named its field manager: every field is another
    manager's, and only what the state does not record counts (a port's key holds the
    ``protocol`` the server defaulted, which the recorded port leaves out)."""
    live = live_deployment()
    live["metadata"]["managedFields"][0]["manager"] = "pulumi-kubernetes-7f3a"
    assert foreign_additions(POD_TEMPLATE, RECORDED, live) == []
    other = json.dumps({"containerPort": 22, "protocol": "TCP"}, separators=(",", ":"))
    edit(live, "kubectl-edit", {"f:spec": {"f:containers": {KEY: {"f:ports": {f"k:{other}": {}}}}}})
    assert [path[-1] for _, path in foreign_additions(POD_TEMPLATE, RECORDED, live)] == [
        f"k:{other}"
    ]


SERVICE: dict[str, Any] = {
    "metadata": {"name": "client-d1"},
    "spec": {
        "type": "ClusterIP",
        "clusterIP": "None",
        "selector": {"xlscsde.nhs.uk/deployment-name": "d1"},
        "ports": [{"port": 5900, "targetPort": 5900}],
    },
}
SERVICE_FIELDS: dict[str, Any] = {
    "f:spec": {
        "f:clusterIP": {},
        "f:ports": {
            'k:{"port":5900,"protocol":"TCP"}': {".": {}, "f:port": {}, "f:targetPort": {}}
        },
        "f:selector": {},
        "f:type": {},
    }
}


def live_service() -> dict[str, Any]:
    """The Service as the API server returns it: addresses allocated, defaults filled in."""
    spec = copy.deepcopy(SERVICE["spec"])
    spec["ports"][0]["protocol"] = "TCP"
    spec.update(
        clusterIPs=["None"],
        ipFamilies=["IPv4"],
        ipFamilyPolicy="RequireDualStack",
        sessionAffinity="None",
        internalTrafficPolicy="Cluster",
    )
    entries = [{**entry(FIELD_MANAGER, SERVICE_FIELDS), "operation": "Apply"}]
    return {"metadata": {"name": "client-d1", "managedFields": entries}, "spec": spec}


def test_a_service_opened_to_the_nodes_or_an_external_address_is_drift() -> None:
    assert spec_drift(SERVICE_SPEC, SERVICE, live_service()) == ()
    live = live_service()
    live["spec"].update(type="NodePort", externalIPs=["203.0.113.9"])
    live["spec"]["ports"][0]["nodePort"] = 30900
    live["metadata"]["managedFields"].append(
        entry("kubectl-edit", {"f:spec": {"f:type": {}, "f:externalIPs": {}}})
    )
    assert spec_drift(SERVICE_SPEC, SERVICE, live) == (
        "spec.type",
        "spec.externalIPs (set by kubectl-edit)",
    )


def test_a_service_repair_writes_the_recorded_spec_with_the_allocated_addresses() -> None:
    live = live_service()
    live["spec"].update(type="NodePort", externalIPs=["203.0.113.9"])
    body = restored(SERVICE_SPEC, SERVICE, live)
    assert body == {
        **SERVICE["spec"],
        "clusterIPs": ["None"],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "RequireDualStack",
    }


def test_managed_fields_written_by_hand_with_bad_keys_are_drift_not_a_crash() -> None:
    live = live_deployment()
    edit(live, "hand", {"f:spec": {"f:containers": {"k:not json": {}, "k:[1]": {}, "v:{": {}}}})
    assert template_drift(live) == (
        "spec.template.spec.containers[not json] (set by hand)",
        "spec.template.spec.containers[[1]] (set by hand)",
        "spec.template.spec.containers[{] (set by hand)",
    )
