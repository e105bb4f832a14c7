"""The one builder of binding manifests the unit and integration tests share."""

from __future__ import annotations

from typing import Any

from components.sharding import shard_of


def manifest(
    name: str = "binding-1",
    namespace: str = "jupyterhub",
    *,
    workspace: Any = "default-generic-workspace",
    username: Any = "jane.doe@example.org",
    expires: Any = "2099-12-31",
    replicas: Any = None,
    status: dict[str, Any] | None = None,
    **spec_extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"workspace": workspace, "username": username, "expires": expires}
    if replicas is not None:
        spec["replicas"] = replicas
    spec.update(spec_extra)
    spec = {k: v for k, v in spec.items() if v is not ...}
    body: dict[str, Any] = {
        "apiVersion": "xlscsde.nhs.uk/v1",
        "kind": "AnalyticsWorkspaceBinding",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    if status is not None:
        body["status"] = status
    return body


def workspaces_by_shard(prefix: str, shards: int, each: int) -> dict[int, list[str]]:
    """``each`` workspace names ``<prefix>-<n>`` in every one of ``shards`` shards: the
    program's hash decides where a name goes, a test only picks names that land where it needs."""
    found: dict[int, list[str]] = {i: [] for i in range(shards)}
    candidate = 0
    while any(len(v) < each for v in found.values()):
        name = f"{prefix}-{candidate}"
        slot = found[shard_of(name, shards)]
        if len(slot) < each:
            slot.append(name)
        candidate += 1
    return found


def legacy_entry(fields: dict[str, Any]) -> dict[str, Any]:
    """A ``managedFields`` entry as the legacy operator's create/patch calls leave it."""
    return {
        "manager": "OpenAPI-Generator",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": "2026-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
