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

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

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
}
"""Every program setting with its default."""

SECRET_KEYS: tuple[str, ...] = ("guacamoleDatabaseUrl", "guacamoleAdminDatabaseUrl")
"""Optional secret keys read by the dynamic providers (and, for the bootstrap, by the program):
the login DSN (else ``AWMS_GUACAMOLE_DATABASE_URL``) and the administrator DSN (else
``AWMS_GUACAMOLE_ADMIN_DATABASE_URL``). Declared in Pulumi.yaml with an empty default."""

IDENTIFIER_MAX_BYTES = 63
"""PostgreSQL truncates longer identifiers (NAMEDATALEN - 1)."""

_RESERVED_ROLES = {"public", "none", "current_user", "session_user", "current_role"}

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_SECCOMP = {"RuntimeDefault", "Unconfined", ""}
_PROTOCOLS = {"TCP", "UDP", "SCTP"}


class SettingsError(ValueError):
    """A stack setting is missing, mistyped or inconsistent; the message names the key."""


@dataclass(frozen=True)
class ResourceSettings:
    requests: Mapping[str, str]
    limits: Mapping[str, str]


@dataclass(frozen=True)
class PodSecurity:
    """Hardening for the browser pod.

    ``run_as_non_root`` defaults to False because the legacy image runs as root and writes
    ``~/.vnc/passwd`` at start; everything else is locked down by default.
    """

    run_as_non_root: bool
    run_as_user: int | None
    run_as_group: int | None
    allow_privilege_escalation: bool
    read_only_root_filesystem: bool
    capabilities_drop: tuple[str, ...]
    capabilities_add: tuple[str, ...]
    seccomp_profile: str
    automount_service_account_token: bool


@dataclass(frozen=True)
class PortSpec:
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class EgressDestination:
    """Where a browser may connect: an IP block, or pods picked by namespace/pod labels."""

    cidr: str | None
    except_cidrs: tuple[str, ...]
    namespace_labels: Mapping[str, str] | None
    pod_labels: Mapping[str, str] | None
    ports: tuple[PortSpec, ...]


@dataclass(frozen=True)
class NetworkPolicySettings:
    enabled: bool
    guacd_namespace: str
    guacd_pod_labels: Mapping[str, str]
    dns_namespace: str
    dns_pod_labels: Mapping[str, str]
    egress: tuple[EgressDestination, ...]


@dataclass(frozen=True)
class DatabaseBootstrapSettings:
    """What the optional database bootstrap creates (``bootstrapDatabase`` and friends)."""

    enabled: bool
    database_name: str
    owner_role: str
    login_role: str
    schema_version: Literal["1.5", "1.6"]
    drop_on_delete: bool
    seed_admin: bool


@dataclass(frozen=True)
class IdleSettings:
    """When the watcher stops a browser nobody uses (seconds; ``timeout`` 0 turns it off).

    ``max_session_age`` caps how long a session row left open counts as active: Guacamole closes
    a row when the tunnel ends, so a row open for longer was left behind by a crash.
    """

    timeout: int
    startup_grace: int
    max_session_age: int
    check_interval: int
    dry_run: bool

    @property
    def enabled(self) -> bool:
        return self.timeout > 0


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
    idle: IdleSettings = IdleSettings(1800, 900, 86400, 60, False)


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
    merged = {key: _merge(key, DEFAULTS[key], values.get(key)) for key in DEFAULTS}

    source = _choice(merged, "bindingsSource", {"cluster", "file"})
    bindings_file = _string(merged, "bindingsFile")
    if source == "file" and not bindings_file:
        raise SettingsError("bindingsFile: required when bindingsSource is 'file'")
    namespace = _label(merged, "namespace")
    bindings_namespace = _string(merged, "bindingsNamespace")
    if bindings_namespace:
        _label(merged, "bindingsNamespace")
    return Settings(
        bindings_source="file" if source == "file" else "cluster",
        bindings_file=bindings_file,
        bindings_namespace=bindings_namespace,
        kubeconfig=_string(merged, "kubeconfig"),
        namespace=namespace,
        cluster_domain=_nonempty(merged, "clusterDomain"),
        image=_nonempty(merged, "image"),
        browser_url=_string(merged, "browserUrl"),
        firefox_policy_config_map=_string(merged, "firefoxPolicyConfigMap"),
        enterprise_ca_config_map=_string(merged, "enterpriseCaConfigMap"),
        resources=_resources(merged["resources"]),
        pod_security=_pod_security(merged["podSecurity"]),
        disable_copy=_bool(merged, "disableCopy"),
        disable_paste=_bool(merged, "disablePaste"),
        network_policy=_network_policy(merged["networkPolicy"], namespace),
        await_deployments=_bool(merged, "awaitDeployments"),
        write_binding_status=_bool(merged, "writeBindingStatus"),
        database_bootstrap=_database_bootstrap(merged),
        remove_legacy_orphans=_choice(merged, "legacyOrphans", {"report", "remove"}) == "remove",
        legacy_scan=_bool(merged, "legacyScan"),
        declare_firefox_policy=_firefox_policy_declared(merged),
        firefox_allowed_urls=_allowed_urls(merged),
        idle=_idle(merged),
    )


def _firefox_policy_declared(values: Mapping[str, Any]) -> bool:
    """Declared only where it is mounted: an empty ``firefoxPolicyConfigMap`` turns both off."""
    declared = _bool(values, "declareFirefoxPolicy") and bool(
        _string(values, "firefoxPolicyConfigMap")
    )
    if declared and not _DNS1123_SUBDOMAIN.match(values["firefoxPolicyConfigMap"]):
        raise SettingsError(
            f"firefoxPolicyConfigMap: {values['firefoxPolicyConfigMap']!r} is not a valid "
            "ConfigMap name"
        )
    return declared


def _allowed_urls(values: Mapping[str, Any]) -> tuple[str, ...]:
    """Each entry an http(s) origin or match pattern (Firefox's WebsiteFilter syntax)."""
    urls = _string_list(values["firefoxAllowedUrls"], "firefoxAllowedUrls")
    for index, url in enumerate(urls):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or url != url.strip():
            raise SettingsError(
                f"firefoxAllowedUrls[{index}]: {url!r} is not an http(s) origin or URL pattern "
                "(for example https://jupyter.example.org or https://ohdsi.example.org/atlas/*)"
            )
    browser_url = _string(values, "browserUrl")
    if browser_url:
        parsed = urllib.parse.urlsplit(browser_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError(f"browserUrl: {browser_url!r} is not an http(s) URL")
    return urls


def _idle(values: Mapping[str, Any]) -> IdleSettings:
    seconds = {
        key: _seconds(values, key)
        for key in ("idleTimeout", "idleStartupGrace", "idleMaxSessionAge", "idleCheckInterval")
    }
    for key in ("idleStartupGrace", "idleMaxSessionAge", "idleCheckInterval"):
        if seconds[key] < 1:
            raise SettingsError(f"{key}: must be at least 1 second, got {seconds[key]}")
    return IdleSettings(
        timeout=seconds["idleTimeout"],
        startup_grace=seconds["idleStartupGrace"],
        max_session_age=seconds["idleMaxSessionAge"],
        check_interval=seconds["idleCheckInterval"],
        dry_run=_bool(values, "idleDryRun"),
    )


def _seconds(values: Mapping[str, Any], key: str) -> int:
    value = values[key]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**8:
        raise SettingsError(f"{key}: must be whole seconds (0-100000000), got {value!r}")
    return value


def _database_bootstrap(values: Mapping[str, Any]) -> DatabaseBootstrapSettings:
    owner = _identifier(values, "guacamoleOwnerRole", role=True)
    login = _identifier(values, "guacamoleLoginRole", role=True)
    if owner == login:
        raise SettingsError(
            f"guacamoleLoginRole: must differ from guacamoleOwnerRole ({owner!r}); the login role "
            "must not own the schema, or it could drop it"
        )
    version = _choice(values, "guacamoleSchemaVersion", {"1.5", "1.6"})
    return DatabaseBootstrapSettings(
        enabled=_bool(values, "bootstrapDatabase"),
        database_name=_identifier(values, "guacamoleDatabaseName", role=False),
        owner_role=owner,
        login_role=login,
        schema_version="1.6" if version == "1.6" else "1.5",
        drop_on_delete=_bool(values, "guacamoleDropOnDelete"),
        seed_admin=_bool(values, "guacamoleSeedAdmin"),
    )


def _identifier(values: Mapping[str, Any], key: str, *, role: bool) -> str:
    """A PostgreSQL database or role name: non-empty, at most 63 bytes, not reserved."""
    value = _nonempty(values, key)
    if "\x00" in value:
        raise SettingsError(f"{key}: must not contain NUL characters")
    if len(value.encode("utf-8")) > IDENTIFIER_MAX_BYTES:
        raise SettingsError(
            f"{key}: {value!r} is longer than {IDENTIFIER_MAX_BYTES} bytes, which PostgreSQL "
            "would silently truncate"
        )
    if role and (value.lower() in _RESERVED_ROLES or value.startswith("pg_")):
        raise SettingsError(f"{key}: {value!r} is reserved by PostgreSQL and cannot name a role")
    return value


def _merge(key: str, default: Any, value: Any) -> Any:
    if value is None:
        return default
    if isinstance(default, dict):
        if not isinstance(value, Mapping):
            raise SettingsError(f"{key}: must be an object, got {value!r}")
        extra = sorted(set(value) - set(default)) if default else []
        if extra:
            raise SettingsError(f"{key}: unknown keys {', '.join(extra)}")
        return {**default, **value}
    return value


def _string(values: Mapping[str, Any], key: str) -> str:
    value = values[key]
    if not isinstance(value, str):
        raise SettingsError(f"{key}: must be a string, got {value!r}")
    return value


def _nonempty(values: Mapping[str, Any], key: str) -> str:
    value = _string(values, key)
    if not value:
        raise SettingsError(f"{key}: must not be empty")
    return value


def _label(values: Mapping[str, Any], key: str) -> str:
    value = _string(values, key)
    if not _DNS1123_LABEL.match(value):
        raise SettingsError(f"{key}: {value!r} is not a valid namespace name")
    return value


def _choice(values: Mapping[str, Any], key: str, allowed: set[str]) -> str:
    value = _string(values, key)
    if value not in allowed:
        raise SettingsError(f"{key}: must be one of {', '.join(sorted(allowed))}, got {value!r}")
    return value


def _bool(values: Mapping[str, Any], key: str) -> bool:
    value = values[key]
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise SettingsError(f"{key}: must be true or false, got {value!r}")
    return value


def _optional_int(values: Mapping[str, Any], key: str, path: str) -> int | None:
    value = values[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(f"{path}.{key}: must be a non-negative integer, got {value!r}")
    return value


def _string_list(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{path}: must be a list of strings, got {value!r}")
    return tuple(value)


def _labels(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise SettingsError(f"{path}: must be a map of label names to strings, got {value!r}")
    return dict(value)


def _quantities(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SettingsError(f"{path}: must be an object, got {value!r}")
    out: dict[str, str] = {}
    for name, quantity in value.items():
        if isinstance(quantity, bool) or not isinstance(quantity, str | int | float):
            raise SettingsError(f"{path}.{name}: must be a quantity, got {quantity!r}")
        out[str(name)] = str(quantity)
    return out


def _resources(raw: Mapping[str, Any]) -> ResourceSettings:
    return ResourceSettings(
        requests=_quantities(raw["requests"], "resources.requests"),
        limits=_quantities(raw["limits"], "resources.limits"),
    )


def _pod_security(raw: Mapping[str, Any]) -> PodSecurity:
    path = "podSecurity"
    seccomp = raw["seccompProfile"]
    if seccomp not in _SECCOMP:
        raise SettingsError(
            f"{path}.seccompProfile: must be RuntimeDefault, Unconfined or '' (unset), "
            f"got {seccomp!r}"
        )
    flags = {
        key: _bool(raw, key)
        for key in (
            "runAsNonRoot",
            "allowPrivilegeEscalation",
            "readOnlyRootFilesystem",
            "automountServiceAccountToken",
        )
    }
    return PodSecurity(
        run_as_non_root=flags["runAsNonRoot"],
        run_as_user=_optional_int(raw, "runAsUser", path),
        run_as_group=_optional_int(raw, "runAsGroup", path),
        allow_privilege_escalation=flags["allowPrivilegeEscalation"],
        read_only_root_filesystem=flags["readOnlyRootFilesystem"],
        capabilities_drop=_string_list(raw["capabilitiesDrop"], f"{path}.capabilitiesDrop"),
        capabilities_add=_string_list(raw["capabilitiesAdd"], f"{path}.capabilitiesAdd"),
        seccomp_profile=seccomp,
        automount_service_account_token=flags["automountServiceAccountToken"],
    )


def _network_policy(raw: Mapping[str, Any], namespace: str) -> NetworkPolicySettings:
    path = "networkPolicy"
    guacd_namespace = raw["guacdNamespace"] or namespace
    if not isinstance(guacd_namespace, str) or not _DNS1123_LABEL.match(guacd_namespace):
        raise SettingsError(f"{path}.guacdNamespace: {guacd_namespace!r} is not a namespace name")
    dns_namespace = raw["dnsNamespace"]
    if not isinstance(dns_namespace, str) or not _DNS1123_LABEL.match(dns_namespace):
        raise SettingsError(f"{path}.dnsNamespace: {dns_namespace!r} is not a namespace name")
    egress = raw["egress"]
    if not isinstance(egress, list):
        raise SettingsError(f"{path}.egress: must be a list, got {egress!r}")
    return NetworkPolicySettings(
        enabled=_bool(raw, "enabled"),
        guacd_namespace=guacd_namespace,
        guacd_pod_labels=_labels(raw["guacdPodLabels"], f"{path}.guacdPodLabels"),
        dns_namespace=dns_namespace,
        dns_pod_labels=_labels(raw["dnsPodLabels"], f"{path}.dnsPodLabels"),
        egress=tuple(
            _egress(entry, f"{path}.egress[{index}]") for index, entry in enumerate(egress)
        ),
    )


_EGRESS_KEYS = {"cidr", "except", "namespaceSelector", "podSelector", "ports"}


def _egress(raw: Any, path: str) -> EgressDestination:
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{path}: must be an object, got {raw!r}")
    extra = sorted(set(raw) - _EGRESS_KEYS)
    if extra:
        raise SettingsError(f"{path}: unknown keys {', '.join(extra)}")
    cidr = raw.get("cidr")
    namespace_labels = raw.get("namespaceSelector")
    pod_labels = raw.get("podSelector")
    if (cidr is None) == (namespace_labels is None and pod_labels is None):
        raise SettingsError(f"{path}: give either cidr or namespaceSelector/podSelector")
    if cidr is not None:
        _cidr(cidr, f"{path}.cidr")
    except_cidrs = _string_list(raw.get("except", []), f"{path}.except")
    for index, block in enumerate(except_cidrs):
        _cidr(block, f"{path}.except[{index}]")
    return EgressDestination(
        cidr=cidr,
        except_cidrs=except_cidrs,
        namespace_labels=(
            None
            if namespace_labels is None
            else _labels(namespace_labels, f"{path}.namespaceSelector")
        ),
        pod_labels=None if pod_labels is None else _labels(pod_labels, f"{path}.podSelector"),
        ports=tuple(
            _port(port, f"{path}.ports[{index}]")
            for index, port in enumerate(raw.get("ports") or [])
        ),
    )


def _cidr(value: Any, path: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError) as error:
        raise SettingsError(f"{path}: {value!r} is not a CIDR block") from error


def _port(raw: Any, path: str) -> PortSpec:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"port": raw}
    if not isinstance(raw, Mapping) or set(raw) - {"port", "protocol"}:
        raise SettingsError(f"{path}: must be a port number or {{port, protocol}}, got {raw!r}")
    port = raw.get("port")
    protocol = raw.get("protocol", "TCP")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise SettingsError(f"{path}.port: must be 1-65535, got {port!r}")
    if protocol not in _PROTOCOLS:
        raise SettingsError(f"{path}.protocol: must be TCP, UDP or SCTP, got {protocol!r}")
    return PortSpec(port=port, protocol=protocol)
