"""Kubernetes API requests of one step, from the API server's own ``/metrics``.

Why server side: the kubernetes provider is a Go plugin process and the status writer runs in the
dynamic-provider host, so only the API server sees all their requests. ``apiserver_request_total``
is a cumulative counter per (verb, group, resource, subresource, dry_run, code, ...); the
difference of two scrapes is what happened in between.

Only the resources the program writes are counted (``WATCHED``): the browser namespace's
Deployments, Services, Secrets and NetworkPolicies and the bindings' ``status`` subresource. That
leaves out the controller-manager's own traffic (ReplicaSets, Endpoints, ``deployments/status``),
which follows from the objects either way. Server-side apply shows as verb ``APPLY``; a dry-run
request (``dry_run`` label set, what a preview may send) changes nothing and is counted apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

METRIC = "apiserver_request_total"
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
READ_VERBS = frozenset({"GET", "LIST", "WATCH"})
WATCHED: frozenset[tuple[str, str]] = frozenset(
    {
        ("deployments", ""),
        ("services", ""),
        ("secrets", ""),
        ("networkpolicies", ""),
        ("analyticsworkspacebindings", "status"),
        ("analyticsworkspacebindings", ""),
    }
)
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Key = tuple[str, str, str, bool]
"""(verb, resource, subresource, dry_run)."""


def parse_requests(text: str) -> Counter[Key]:
    """Sum ``apiserver_request_total`` over the labels we do not split by."""
    totals: Counter[Key] = Counter()
    for line in text.splitlines():
        if not line.startswith(METRIC + "{"):
            continue
        match = _SAMPLE.match(line)
        if match is None or match.group("name") != METRIC:
            continue
        labels = dict(_LABEL.findall(match.group("labels")))
        key = (
            labels.get("verb", ""),
            labels.get("resource", ""),
            labels.get("subresource", ""),
            bool(labels.get("dry_run")),
        )
        totals[key] += int(float(match.group("value")))
    return totals


@dataclass
class KubeCounts:
    """Requests of one step to the watched resources."""

    writes: int = 0
    reads: int = 0
    dry_run_writes: int = 0
    by_request: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "writes": self.writes,
            "reads": self.reads,
            "dry_run_writes": self.dry_run_writes,
            "by_request": dict(sorted(self.by_request.items())),
        }


def difference(before: Mapping[Key, int], after: Mapping[Key, int]) -> KubeCounts:
    """What the watched resources received between two scrapes."""
    counts = KubeCounts()
    for key, value in after.items():
        delta = value - before.get(key, 0)
        verb, resource, subresource, dry_run = key
        if delta <= 0 or (resource, subresource) not in WATCHED:
            continue
        # Listing bindings is the program's input, not a write; creating them is set-up.
        label = f"{verb} {resource}{'/' + subresource if subresource else ''}"
        if dry_run:
            label += " (dry-run)"
        counts.by_request[label] = delta
        if verb in WRITE_VERBS:
            if dry_run:
                counts.dry_run_writes += delta
            else:
                counts.writes += delta
        elif verb in READ_VERBS:
            counts.reads += delta
    return counts


class ApiServerMetrics:
    """Scrapes ``/metrics`` with the sandbox's admin credentials."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api

    def scrape(self) -> Counter[Key]:
        response = self._api.call_api(
            "/metrics",
            "GET",
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
        )
        return parse_requests(response.data.decode())
