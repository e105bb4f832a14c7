"""The program's Kubernetes objects as plain API bodies, for the baseline to POST directly.

The baseline must create exactly what the program creates, or the comparison means nothing, so
it reuses :mod:`components.manifests` (the same pure functions the component feeds to
pulumi-kubernetes) and only does the SDK's job: snake_case keys to the API's camelCase, with
``from_``/``except_`` losing their guard underscore. Keys of free-form maps (labels, annotations,
selectors, Secret data, resource quantities) are data, not field names, and are kept verbatim.
"""

from __future__ import annotations

from typing import Any

from components import manifests
from components.planning import WorkspacePlan
from components.settings import Settings

_OPAQUE = frozenset(
    {"labels", "annotations", "match_labels", "string_data", "data", "requests", "limits"}
)


_IRREGULAR = {
    "cluster_ip": "clusterIP",
    "cluster_ips": "clusterIPs",
    "load_balancer_ip": "loadBalancerIP",
}
"""API fields whose acronym is upper case, which no spelling rule can derive."""


def camel(key: str) -> str:
    """API spelling of an SDK key: ``match_labels`` -> ``matchLabels``, ``from_`` -> ``from``."""
    if key in _IRREGULAR:
        return _IRREGULAR[key]
    head, *rest = key.rstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_api(value: Any, *, opaque: bool = False) -> Any:
    """Recursively rename SDK-style keys to API field names."""
    if isinstance(value, dict):
        if opaque:
            return {key: to_api(item) for key, item in value.items()}
        out: dict[str, Any] = {}
        for key, item in value.items():
            # A Service's ``selector`` is a label map; a workload's is a LabelSelector object.
            is_label_map = (
                key == "selector"
                and isinstance(item, dict)
                and not ({"match_labels", "match_expressions"} & set(item))
            )
            out[camel(key)] = to_api(item, opaque=key in _OPAQUE or is_label_map)
        return out
    if isinstance(value, list):
        return [to_api(item) for item in value]
    return value


def _body(api_version: str, kind: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, **to_api(args)}


def secret(plan: WorkspacePlan, settings: Settings, password: str) -> dict[str, Any]:
    return _body("v1", "Secret", manifests.vnc_secret_args(plan, settings, password))


def deployment(plan: WorkspacePlan, settings: Settings) -> dict[str, Any]:
    return _body("apps/v1", "Deployment", manifests.deployment_args(plan, settings))


def service(plan: WorkspacePlan, settings: Settings) -> dict[str, Any]:
    return _body("v1", "Service", manifests.service_args(plan, settings))


def network_policy(workspace: str, settings: Settings) -> dict[str, Any]:
    return _body(
        "networking.k8s.io/v1", "NetworkPolicy", manifests.network_policy_args(workspace, settings)
    )
