"""Guacamole PostgreSQL layer of awms-browser-workspaces.

Public API (all keyword-only after the resource name)::

    GuacamoleConnectionGroup(resource_name, *, group_name, max_connections=1000,
                             max_connections_per_user=1000, enable_session_affinity=True,
                             opts=None)
        -> group_id: Output[int], group_name, duplicate_group_ids, adopted, ...

    GuacamoleConnection(resource_name, *, group_id, username, connection_name, hostname,
                        password, port=5900, disable_copy=True, disable_paste=True, opts=None)
        -> connection_id: Output[int], group_id, entity_id, username, connection_name, adopted

    apply_schema(conn, version="1.5", *, seed_admin=True) -> SchemaOutcome

The providers read the database DSN at run time from the secret stack config key
``awms-browser-workspaces:guacamoleDatabaseUrl`` (``pulumi config set --secret
guacamoleDatabaseUrl postgresql://…``), falling back to the environment variable
``AWMS_GUACAMOLE_DATABASE_URL``. Additions to the constructors above (the three group limits)
are optional keywords with the legacy operator's values as defaults.
"""

from .resources import GuacamoleConnection, GuacamoleConnectionGroup
from .schema import SchemaOutcome, apply_schema, schema_sql
from .settings import CONFIG_KEY, ENV_VAR

__all__ = [
    "CONFIG_KEY",
    "ENV_VAR",
    "GuacamoleConnection",
    "GuacamoleConnectionGroup",
    "SchemaOutcome",
    "apply_schema",
    "schema_sql",
]
