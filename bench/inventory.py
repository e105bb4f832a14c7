"""Count what exists after a step, so both sides are shown to build the same thing.

A baseline that created fewer objects or rows would be a flattering floor; the counts recorded
after each side's ``up`` (and ``destroy``) make such a mismatch visible in the JSON and fail the
run loudly.
"""

from __future__ import annotations

from typing import Any

import psycopg
from kubernetes import client

from bench.baseline_kube import KubeObjects

_ROW_COUNTS = """
SELECT
  (SELECT count(*) FROM guacamole_connection_group WHERE parent_id IS NULL) AS groups,
  (SELECT count(*) FROM guacamole_entity WHERE type = 'USER' AND name LIKE '%%@%%') AS users,
  (SELECT count(*) FROM guacamole_user_permission) AS user_permissions,
  (SELECT count(*) FROM guacamole_connection) AS connections,
  (SELECT count(*) FROM guacamole_connection_parameter) AS parameters,
  (SELECT count(*) FROM guacamole_connection_permission) AS connection_permissions,
  (SELECT count(*) FROM guacamole_connection_group_permission) AS group_permissions
"""


def inventory(
    api: client.ApiClient, database_url: str, namespace: str, bindings_namespace: str
) -> dict[str, Any]:
    """Browser objects by kind, Guacamole rows by table, and bindings showing READY."""
    state = KubeObjects(api, namespace).read(bindings_namespace)
    with psycopg.connect(database_url) as conn:
        cur = conn.execute(_ROW_COUNTS)
        values = cur.fetchone()
        assert values is not None and cur.description is not None
        names = [column.name for column in cur.description]
        rows = {name: int(value) for name, value in zip(names, values, strict=True)}
    return {
        "deployments": len(state.deployments),
        "services": len(state.services),
        "secrets": len(state.secrets),
        "network_policies": len(state.network_policies),
        "ready_bindings": sum(
            1 for status in state.statuses.values() if status.get("statusText") == "READY"
        ),
        **rows,
    }
