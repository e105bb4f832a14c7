"""Stack configuration, read once into frozen values.

``DEFAULTS`` is the single source of truth for defaults; ``Pulumi.yaml`` declares the same keys
and values (a unit test keeps the two in step). Parsing is a pure function of a mapping so it is
testable without Pulumi, and every error names the offending key: a mistyped setting must fail the
run before anything is declared, never silently fall back to a default.

Object-valued keys (``resources``, ``podSecurity``, ``networkPolicy``) are merged one level deep
over their defaults: each sub-key given replaces that sub-key's default as a whole.

The two database URLs (``SECRET_KEYS``) are not settings of the program: the providers read them
at run time so they never enter the state. ``load_settings`` only insists that a stack stores them
encrypted, since ``Pulumi.yaml`` cannot declare them ``secret`` and still leave them optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

from components.settings.browser import (
    EgressDestination,
    NetworkPolicySettings,
    PodSecurity,
    PortSpec,
    ResourceSettings,
    read_allowed_urls,
    read_firefox_policy_declared,
    read_network_policy,
    read_pod_security,
    read_resources,
)
from components.settings.database import (
    IDENTIFIER_MAX_BYTES,
    DatabaseBootstrapSettings,
    read_database_bootstrap,
)
from components.settings.idle import IDLE_DEFAULTS, IdleSettings, read_idle
from components.settings.readers import (
    SettingsError,
    merge_default,
    read_bool,
    read_choice,
    read_label,
    read_nonempty,
    read_string,
    read_string_list,
)
from components.sharding import MAX_SHARDS

__all__ = [
    "DEFAULTS",
    "IDENTIFIER_MAX_BYTES",
    "SECRET_KEYS",
    "DatabaseBootstrapSettings",
    "EgressDestination",
    "IdleSettings",
    "NetworkPolicySettings",
    "PodSecurity",
    "PortSpec",
    "ResourceSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "settings_from_values",
]

DEFAULTS: dict[str, Any] = {
    "bindingsSource": "cluster",
    "bindingsFile": "",
    "bindingsNamespace": "",
    "kubeconfig": "",
    "namespace": "guacamole",
    "clusterDomain": "cluster.local",
    "image": "lscsde/analytics-vnc-client:0.1.5",
    "browserUrl": "",
    "firefoxPolicyConfigMap": "firefox-config",
    "enterpriseCaConfigMap": "xlscsde-enterprise-certificate",
    "resources": {
        "requests": {"cpu": "100m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    },
    "podSecurity": {
        "runAsNonRoot": False,
        "runAsUser": None,
        "runAsGroup": None,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": False,
        "capabilitiesDrop": ["ALL"],
        "capabilitiesAdd": [],
        "seccompProfile": "RuntimeDefault",
        "automountServiceAccountToken": False,
    },
    "disableCopy": True,
    "disablePaste": True,
    "networkPolicy": {
        "enabled": True,
        "guacdNamespace": "",
        "guacdPodLabels": {},
        "dnsNamespace": "kube-system",
        "dnsPodLabels": {"k8s-app": "kube-dns"},
        "egress": [],
    },
    "awaitDeployments": False,
    "writeBindingStatus": True,
    "bootstrapDatabase": False,
    "guacamoleDatabaseName": "guacamole",
    "guacamoleOwnerRole": "guacamole_owner",
    "guacamoleLoginRole": "guacamole_app",
    "guacamoleSchemaVersion": "1.5",
    "guacamoleDropOnDelete": False,
    "guacamoleSeedAdmin": False,
    "legacyOrphans": "report",
    "legacyScan": True,
    "declareFirefoxPolicy": True,
    "firefoxAllowedUrls": [],
    "idleTimeout": 1800,
    "idleStartupGrace": 900,
    "idleMaxSessionAge": 86400,
    "idleCheckInterval": 60,
    "idleDryRun": False,
    "shards": 1,
    "driftAcceptedFieldManagers": [],
}
"""Every program setting with its default."""

SECRET_KEYS: tuple[str, ...] = ("guacamoleDatabaseUrl", "guacamoleAdminDatabaseUrl")
"""Optional secret keys read by the dynamic providers (and, for the bootstrap, by the program):
the login DSN (else ``AWMS_GUACAMOLE_DATABASE_URL``) and the administrator DSN (else
``AWMS_GUACAMOLE_ADMIN_DATABASE_URL``). Declared in Pulumi.yaml with an empty default."""


@dataclass(frozen=True)
class Settings:
    bindings_source: Literal["cluster", "file"]
    bindings_file: str
    bindings_namespace: str
    kubeconfig: str
    namespace: str
    cluster_domain: str
    image: str
    browser_url: str
    firefox_policy_config_map: str
    enterprise_ca_config_map: str
    resources: ResourceSettings
    pod_security: PodSecurity
    disable_copy: bool
    disable_paste: bool
    network_policy: NetworkPolicySettings
    await_deployments: bool
    write_binding_status: bool
    database_bootstrap: DatabaseBootstrapSettings
    remove_legacy_orphans: bool = False
    legacy_scan: bool = True
    declare_firefox_policy: bool = True
    firefox_allowed_urls: tuple[str, ...] = ()
    idle: IdleSettings = IDLE_DEFAULTS
    shards: int = 1
    """Shard stacks the environment is split into (``components.sharding``); 1: this stack."""
    drift_accepted_managers: tuple[str, ...] = ()
    """Field managers whose additions to a browser's pod template or Service the drift check
    accepts and keeps (:mod:`components.watch.spec_drift`); read by the watcher, not the
    program."""


def load_settings(config: pulumi.Config | None = None) -> Settings:
    """Read every key of ``DEFAULTS`` from the stack configuration (the I/O edge)."""
    config = config or pulumi.Config()
    values: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        try:
            if isinstance(default, bool):
                value: Any = config.get_bool(key)
            elif isinstance(default, int):
                value = config.get_int(key)
            elif isinstance(default, dict | list):
                value = config.get_object(key)
            else:
                value = config.get(key)
        except pulumi.ConfigTypeError as error:
            raise SettingsError(f"{key}: {error}") from error
        if value is not None:
            values[key] = value
    for key in SECRET_KEYS:
        _require_encrypted(config, key)
    return settings_from_values(values)


def _require_encrypted(config: pulumi.Config, key: str) -> None:
    """A database URL carries a password: a stack must store it with ``--secret``."""
    value = config.get(key)
    if value and value.strip() and not pulumi.runtime.is_config_secret(config.full_key(key)):
        raise SettingsError(
            f"{key}: stored in plaintext in the stack configuration; it holds a password, so "
            f"set it again with `pulumi config set --secret {key} <libpq URL>`"
        )


def settings_from_values(values: Mapping[str, Any]) -> Settings:
    """Validate raw setting values (camelCase keys, as in Pulumi.yaml) over ``DEFAULTS``."""
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(unknown)}")
    merged = {key: merge_default(key, DEFAULTS[key], values.get(key)) for key in DEFAULTS}

    source = read_choice(merged, "bindingsSource", {"cluster", "file"})
    bindings_file = read_string(merged, "bindingsFile")
    if source == "file" and not bindings_file:
        raise SettingsError("bindingsFile: required when bindingsSource is 'file'")
    namespace = read_label(merged, "namespace")
    bindings_namespace = read_string(merged, "bindingsNamespace")
    if bindings_namespace:
        read_label(merged, "bindingsNamespace")
    return Settings(
        bindings_source="file" if source == "file" else "cluster",
        bindings_file=bindings_file,
        bindings_namespace=bindings_namespace,
        kubeconfig=read_string(merged, "kubeconfig"),
        namespace=namespace,
        cluster_domain=read_nonempty(merged, "clusterDomain"),
        image=read_nonempty(merged, "image"),
        browser_url=read_string(merged, "browserUrl"),
        firefox_policy_config_map=read_string(merged, "firefoxPolicyConfigMap"),
        enterprise_ca_config_map=read_string(merged, "enterpriseCaConfigMap"),
        resources=read_resources(merged["resources"]),
        pod_security=read_pod_security(merged["podSecurity"]),
        disable_copy=read_bool(merged, "disableCopy"),
        disable_paste=read_bool(merged, "disablePaste"),
        network_policy=read_network_policy(merged["networkPolicy"], namespace),
        await_deployments=read_bool(merged, "awaitDeployments"),
        write_binding_status=read_bool(merged, "writeBindingStatus"),
        database_bootstrap=read_database_bootstrap(merged),
        remove_legacy_orphans=read_choice(merged, "legacyOrphans", {"report", "remove"})
        == "remove",
        legacy_scan=read_bool(merged, "legacyScan"),
        declare_firefox_policy=read_firefox_policy_declared(merged),
        firefox_allowed_urls=read_allowed_urls(merged),
        idle=read_idle(merged),
        shards=read_shards(merged),
        drift_accepted_managers=read_field_managers(merged),
    )


def read_shards(values: Mapping[str, Any]) -> int:
    value = values["shards"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SHARDS:
        raise SettingsError(f"shards: must be a whole number from 1 to {MAX_SHARDS}, not {value!r}")
    return value


MANAGER_MAX_CHARS = 128
"""The API server's limit on a field manager's name."""


def read_field_managers(values: Mapping[str, Any]) -> tuple[str, ...]:
    """``driftAcceptedFieldManagers``: names as ``metadata.managedFields[].manager`` shows them."""
    key = "driftAcceptedFieldManagers"
    names = read_string_list(values.get(key, []), key)
    for index, name in enumerate(names):
        if not name or len(name) > MANAGER_MAX_CHARS or not name.isprintable():
            raise SettingsError(
                f"{key}[{index}]: {name[:80]!r} is not a field manager's name "
                f"(1 to {MANAGER_MAX_CHARS} printable characters)"
            )
    return names
