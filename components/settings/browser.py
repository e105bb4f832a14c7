"""The browser's own settings: its pod's resources and hardening, its network policy, and the
Firefox lock-down. Sub-keys are named by their path (``networkPolicy.egress[0].cidr``)."""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.settings.readers import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    SettingsError,
    read_bool,
    read_labels,
    read_optional_int,
    read_string,
    read_string_list,
)

_SECCOMP = {"RuntimeDefault", "Unconfined", ""}
_PROTOCOLS = {"TCP", "UDP", "SCTP"}


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


def read_resources(raw: Mapping[str, Any]) -> ResourceSettings:
    return ResourceSettings(
        requests=_quantities(raw["requests"], "resources.requests"),
        limits=_quantities(raw["limits"], "resources.limits"),
    )


def read_pod_security(raw: Mapping[str, Any]) -> PodSecurity:
    path = "podSecurity"
    seccomp = raw["seccompProfile"]
    if seccomp not in _SECCOMP:
        raise SettingsError(
            f"{path}.seccompProfile: must be RuntimeDefault, Unconfined or '' (unset), "
            f"got {seccomp!r}"
        )
    flags = {
        key: read_bool(raw, key)
        for key in (
            "runAsNonRoot",
            "allowPrivilegeEscalation",
            "readOnlyRootFilesystem",
            "automountServiceAccountToken",
        )
    }
    return PodSecurity(
        run_as_non_root=flags["runAsNonRoot"],
        run_as_user=read_optional_int(raw, "runAsUser", path),
        run_as_group=read_optional_int(raw, "runAsGroup", path),
        allow_privilege_escalation=flags["allowPrivilegeEscalation"],
        read_only_root_filesystem=flags["readOnlyRootFilesystem"],
        capabilities_drop=read_string_list(raw["capabilitiesDrop"], f"{path}.capabilitiesDrop"),
        capabilities_add=read_string_list(raw["capabilitiesAdd"], f"{path}.capabilitiesAdd"),
        seccomp_profile=seccomp,
        automount_service_account_token=flags["automountServiceAccountToken"],
    )


def read_network_policy(raw: Mapping[str, Any], namespace: str) -> NetworkPolicySettings:
    path = "networkPolicy"
    guacd_namespace = raw["guacdNamespace"] or namespace
    if not isinstance(guacd_namespace, str) or not DNS1123_LABEL.match(guacd_namespace):
        raise SettingsError(f"{path}.guacdNamespace: {guacd_namespace!r} is not a namespace name")
    dns_namespace = raw["dnsNamespace"]
    if not isinstance(dns_namespace, str) or not DNS1123_LABEL.match(dns_namespace):
        raise SettingsError(f"{path}.dnsNamespace: {dns_namespace!r} is not a namespace name")
    egress = raw["egress"]
    if not isinstance(egress, list):
        raise SettingsError(f"{path}.egress: must be a list, got {egress!r}")
    return NetworkPolicySettings(
        enabled=read_bool(raw, "enabled"),
        guacd_namespace=guacd_namespace,
        guacd_pod_labels=read_labels(raw["guacdPodLabels"], f"{path}.guacdPodLabels"),
        dns_namespace=dns_namespace,
        dns_pod_labels=read_labels(raw["dnsPodLabels"], f"{path}.dnsPodLabels"),
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
    except_cidrs = read_string_list(raw.get("except", []), f"{path}.except")
    for index, block in enumerate(except_cidrs):
        _cidr(block, f"{path}.except[{index}]")
    return EgressDestination(
        cidr=cidr,
        except_cidrs=except_cidrs,
        namespace_labels=(
            None
            if namespace_labels is None
            else read_labels(namespace_labels, f"{path}.namespaceSelector")
        ),
        pod_labels=None if pod_labels is None else read_labels(pod_labels, f"{path}.podSelector"),
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


def read_firefox_policy_declared(values: Mapping[str, Any]) -> bool:
    """Declared only where it is mounted: an empty ``firefoxPolicyConfigMap`` turns both off."""
    declared = read_bool(values, "declareFirefoxPolicy") and bool(
        read_string(values, "firefoxPolicyConfigMap")
    )
    if declared and not DNS1123_SUBDOMAIN.match(values["firefoxPolicyConfigMap"]):
        raise SettingsError(
            f"firefoxPolicyConfigMap: {values['firefoxPolicyConfigMap']!r} is not a valid "
            "ConfigMap name"
        )
    return declared


def read_allowed_urls(values: Mapping[str, Any]) -> tuple[str, ...]:
    """Each entry an http(s) origin or match pattern (Firefox's WebsiteFilter syntax)."""
    urls = read_string_list(values["firefoxAllowedUrls"], "firefoxAllowedUrls")
    for index, url in enumerate(urls):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or url != url.strip():
            raise SettingsError(
                f"firefoxAllowedUrls[{index}]: {url!r} is not an http(s) origin or URL pattern "
                "(for example https://jupyter.example.org or https://ohdsi.example.org/atlas/*)"
            )
    browser_url = read_string(values, "browserUrl")
    if browser_url:
        parsed = urllib.parse.urlsplit(browser_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError(f"browserUrl: {browser_url!r} is not an http(s) URL")
    return urls
