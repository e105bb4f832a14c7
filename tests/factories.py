"""The one builder of binding manifests the unit and integration tests share."""

from __future__ import annotations

from typing import Any


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
