"""Settings: defaults, overrides, loud errors, and Pulumi.yaml kept in step with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pulumi
import pytest
import yaml

from components.settings import (
    DEFAULTS,
    SECRET_KEYS,
    EgressDestination,
    PortSpec,
    SettingsError,
    load_settings,
    settings_from_values,
)

PROJECT_FILE = Path(__file__).resolve().parents[2] / "Pulumi.yaml"


def test_defaults_match_the_legacy_operator():
    settings = settings_from_values({})
    assert settings.bindings_source == "cluster"
    assert settings.namespace == "guacamole"
    assert settings.cluster_domain == "cluster.local"
    assert settings.image == "lscsde/analytics-vnc-client:0.1.5"
    assert settings.firefox_policy_config_map == "firefox-config"
    assert settings.enterprise_ca_config_map == "xlscsde-enterprise-certificate"
    assert settings.disable_copy and settings.disable_paste
    assert not settings.await_deployments
    assert settings.write_binding_status
    assert settings.pod_security.run_as_non_root is False
    assert settings.pod_security.capabilities_drop == ("ALL",)
    assert settings.pod_security.automount_service_account_token is False
    assert settings.network_policy.guacd_namespace == "guacamole"


def test_project_file_declares_every_setting_with_the_same_default():
    project = yaml.safe_load(PROJECT_FILE.read_text())
    declared = project["config"]
    assert set(declared) == set(DEFAULTS) | set(SECRET_KEYS)
    for key, default in DEFAULTS.items():
        assert declared[key]["default"] == default, key
        assert declared[key]["description"], key
        if not isinstance(default, dict):
            expected = {bool: "boolean", str: "string", int: "integer", list: "array"}[
                type(default)
            ]
            assert declared[key]["type"] == expected, key
    for key in SECRET_KEYS:
        # Optional (empty default, so no stack must set them) and therefore not `secret: true`,
        # which Pulumi rejects when a defaulted secret is left unset; load_settings enforces it.
        assert declared[key]["type"] == "string" and declared[key]["default"] == "", key
        assert "secret" not in declared[key], key
        assert "--secret" in declared[key]["description"], key
    assert project["name"] == "awms-browser-workspaces"
    assert project["stackConfigDir"] == "stacks"
    assert project["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}


def test_object_settings_merge_one_level_deep():
    settings = settings_from_values({"resources": {"limits": {"memory": "4Gi"}}})
    assert settings.resources.limits == {"memory": "4Gi"}
    assert settings.resources.requests == {"cpu": "100m", "memory": "512Mi"}
    settings = settings_from_values({"networkPolicy": {"dnsPodLabels": {"app": "coredns"}}})
    assert settings.network_policy.dns_pod_labels == {"app": "coredns"}
    assert settings.network_policy.dns_namespace == "kube-system"


def test_egress_destinations_are_parsed():
    settings = settings_from_values(
        {
            "networkPolicy": {
                "egress": [
                    {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"], "ports": [443]},
                    {
                        "namespaceSelector": {"kubernetes.io/metadata.name": "jupyterhub"},
                        "podSelector": {"app": "proxy"},
                        "ports": [{"port": 8000, "protocol": "TCP"}],
                    },
                ]
            }
        }
    )
    assert settings.network_policy.egress == (
        EgressDestination("10.0.0.0/8", ("10.1.0.0/16",), None, None, (PortSpec(443),)),
        EgressDestination(
            None,
            (),
            {"kubernetes.io/metadata.name": "jupyterhub"},
            {"app": "proxy"},
            (PortSpec(8000, "TCP"),),
        ),
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"bindingsSource": "etcd"}, "bindingsSource: must be one of cluster, file"),
        ({"bindingsSource": "file"}, "bindingsFile: required"),
        ({"namespace": "Not A Namespace"}, "namespace:"),
        ({"bindingsNamespace": "a_b"}, "bindingsNamespace:"),
        ({"image": ""}, "image: must not be empty"),
        ({"disableCopy": "yes"}, "disableCopy: must be true or false"),
        ({"resources": []}, "resources: must be an object"),
        ({"resources": {"limit": {}}}, "resources: unknown keys limit"),
        ({"resources": {"limits": {"cpu": True}}}, "resources.limits.cpu"),
        ({"podSecurity": {"seccompProfile": "Strict"}}, "podSecurity.seccompProfile"),
        ({"podSecurity": {"runAsUser": -1}}, "podSecurity.runAsUser"),
        ({"podSecurity": {"capabilitiesDrop": "ALL"}}, "podSecurity.capabilitiesDrop"),
        ({"networkPolicy": {"egress": [{"ports": [443]}]}}, "networkPolicy.egress[0]: give either"),
        (
            {"networkPolicy": {"egress": [{"cidr": "10.0.0.0/8", "podSelector": {"a": "b"}}]}},
            "networkPolicy.egress[0]: give either",
        ),
        ({"networkPolicy": {"egress": [{"cidr": "nowhere"}]}}, "egress[0].cidr"),
        ({"networkPolicy": {"egress": [{"cidr": "10.0.0.0/8", "ports": [0]}]}}, "ports[0].port"),
        (
            {
                "networkPolicy": {
                    "egress": [{"cidr": "10.0.0.0/8", "ports": [{"port": 1, "protocol": "ICMP"}]}]
                }
            },
            "ports[0].protocol",
        ),
        ({"networkPolicy": {"egress": [{"cidr": "10.0.0.0/8", "to": []}]}}, "unknown keys to"),
        ({"networkPolicy": {"guacdPodLabels": {"app": 1}}}, "networkPolicy.guacdPodLabels"),
        ({"imageName": "x"}, "unknown settings: imageName"),
    ],
)
def test_bad_settings_fail_loudly_naming_the_key(values, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        settings_from_values(values)


def test_load_settings_reads_stack_config():
    project = "awms-browser-workspaces"
    pulumi.runtime.set_all_config(
        {
            f"{project}:namespace": "browsers",
            f"{project}:awaitDeployments": "true",
            f"{project}:podSecurity": json.dumps({"runAsNonRoot": True, "runAsUser": 1000}),
        }
    )
    try:
        settings = load_settings(pulumi.Config(project))
    finally:
        pulumi.runtime.set_all_config({})
    assert settings.namespace == "browsers"
    assert settings.await_deployments is True
    assert settings.pod_security.run_as_non_root is True
    assert settings.pod_security.run_as_user == 1000
    assert settings.network_policy.guacd_namespace == "browsers"


def test_database_bootstrap_is_off_by_default_with_the_documented_names():
    bootstrap = settings_from_values({}).database_bootstrap
    assert bootstrap.enabled is False
    assert (bootstrap.database_name, bootstrap.owner_role, bootstrap.login_role) == (
        "guacamole",
        "guacamole_owner",
        "guacamole_app",
    )
    assert bootstrap.schema_version == "1.5"
    assert bootstrap.drop_on_delete is False
    chosen = settings_from_values(
        {
            "bootstrapDatabase": True,
            "guacamoleSchemaVersion": "1.6",
            "guacamoleDropOnDelete": "true",
        }
    ).database_bootstrap
    assert (chosen.enabled, chosen.schema_version, chosen.drop_on_delete) == (True, "1.6", True)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"guacamoleSchemaVersion": "1.4"}, "guacamoleSchemaVersion: must be one of 1.5, 1.6"),
        ({"guacamoleSchemaVersion": 1.6}, "guacamoleSchemaVersion: must be a string"),
        ({"guacamoleLoginRole": "guacamole_owner"}, "guacamoleLoginRole: must differ"),
        ({"guacamoleOwnerRole": "pg_owner"}, "guacamoleOwnerRole: 'pg_owner' is reserved"),
        ({"guacamoleLoginRole": "public"}, "guacamoleLoginRole: 'public' is reserved"),
        ({"guacamoleDatabaseName": "d" * 64}, "guacamoleDatabaseName: 'dddd"),
        ({"guacamoleDatabaseName": ""}, "guacamoleDatabaseName: must not be empty"),
        ({"bootstrapDatabase": "on"}, "bootstrapDatabase: must be true or false"),
    ],
)
def test_bad_bootstrap_settings_name_the_key(values, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        settings_from_values(values)


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_database_urls_must_be_stored_encrypted(key: str):
    project = "awms-browser-workspaces"
    value = "postgresql://u:pw@db/guacamole"
    pulumi.runtime.set_all_config({f"{project}:{key}": value})
    try:
        with pytest.raises(SettingsError, match=f"{key}: stored in plaintext") as raised:
            load_settings(pulumi.Config(project))
        assert "pw" not in str(raised.value).replace("password", "")
        pulumi.runtime.set_all_config({f"{project}:{key}": value}, [f"{project}:{key}"])
        load_settings(pulumi.Config(project))  # encrypted: accepted
        pulumi.runtime.set_all_config({f"{project}:{key}": ""})
        load_settings(pulumi.Config(project))  # empty: unset, falls back to the environment
    finally:
        pulumi.runtime.set_all_config({})


def test_load_settings_reports_mistyped_booleans():
    project = "awms-browser-workspaces"
    pulumi.runtime.set_all_config({f"{project}:disablePaste": "maybe"})
    try:
        with pytest.raises(SettingsError, match="disablePaste"):
            load_settings(pulumi.Config(project))
    finally:
        pulumi.runtime.set_all_config({})
