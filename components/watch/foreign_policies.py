"""NetworkPolicies the program does not own that select a browser pod and allow it traffic.

Why: NetworkPolicies add up. A pod selected by several may do whatever any of them allows, so a
policy created by hand in the browsers' namespace (an ``allow-all`` left from debugging, a broad
egress rule meant for another app with ``podSelector: {}``) opens every browser it selects,
however tight the workspace's own policy is. It is not the program's to delete (it may serve
other pods), so the drift check names it in a warning at every check until it is gone or no
longer selects a browser. A policy that only denies (no rule for a direction it lists) narrows
the fence and is not named. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from components.inert import escape

_SHOWN = 3
"""Browsers named per policy; the rest are counted."""


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector selects ``labels``; an empty one selects every pod.

    An operator this code does not know selects nothing (the API server refuses one anyway).
    """
    selector = selector or {}
    wanted = selector.get("matchLabels") or {}
    if any(labels.get(key) != value for key, value in wanted.items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key = expression.get("key")
        values = expression.get("values") or []
        present = key in labels
        chosen = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(str(expression.get("operator")), False)
        if not chosen:
            return False
    return True


def allowed_directions(spec: Mapping[str, Any]) -> list[str]:
    """``ingress``/``egress`` where the policy allows something (pure).

    Without ``policyTypes`` a policy is an ingress policy, and an egress one too when it has
    egress rules (the API server's own default).
    """
    types = spec.get("policyTypes") or ["Ingress", *(["Egress"] if spec.get("egress") else [])]
    return [
        direction
        for direction, kind in (("ingress", "Ingress"), ("egress", "Egress"))
        if kind in types and spec.get(direction)
    ]


def widening_policies(
    policies: Iterable[Mapping[str, Any]], templates: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """A warning for each policy that allows traffic to or from a browser it selects.

    ``policies`` are the ones the program does not own; ``templates`` maps a Deployment's
    ``namespace/name`` to its live pod template's labels (what its pods carry).
    """
    warnings: list[str] = []
    for policy in policies:
        metadata = policy.get("metadata") or {}
        spec = policy.get("spec") or {}
        namespace = str(metadata.get("namespace", ""))
        directions = allowed_directions(spec)
        if not directions:
            continue
        chosen = sorted(
            key
            for key, labels in templates.items()
            if key.startswith(f"{namespace}/") and selects(spec.get("podSelector"), labels)
        )
        if not chosen:
            continue
        shown = ", ".join(escape(key.partition("/")[2], 80) for key in chosen[:_SHOWN])
        more = f" and {len(chosen) - _SHOWN} more" if len(chosen) > _SHOWN else ""
        warnings.append(
            f"NetworkPolicy {escape(namespace, 80)}/{escape(metadata.get('name'), 120)} is not "
            f"this program's, selects {len(chosen)} browser(s) ({shown}{more}) and allows "
            f"{' and '.join(directions)} traffic beside their workspace's policy: remove it or "
            "narrow its podSelector"
        )
    return warnings
