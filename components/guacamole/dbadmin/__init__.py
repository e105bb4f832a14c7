"""Bootstrap of Guacamole's PostgreSQL database: roles, database, schema and grants.

Public API::

    PostgresRole(resource_name, *, name, login=False, password=None, member_of=(),
                 drop_on_delete=False, opts=None)
    PostgresDatabase(resource_name, *, name, owner, drop_on_delete=False, opts=None)
    GuacamoleSchema(resource_name, *, database, owner, version="1.5", seed_admin=True, opts=None)
    PostgresGrants(resource_name, *, database, role, owner, revoke_on_delete=False, opts=None)

The providers connect with the administrator DSN read at run time from the secret stack config
key ``awms-browser-workspaces:guacamoleAdminDatabaseUrl``, falling back to the environment
variable ``AWMS_GUACAMOLE_ADMIN_DATABASE_URL``. Written on psycopg 3 because no PostgreSQL
provider plugin can be installed where this program runs.
"""

from .resources import GuacamoleSchema, PostgresDatabase, PostgresGrants, PostgresRole
from .settings import ADMIN_CONFIG_KEY, ADMIN_ENV_VAR

__all__ = [
    "ADMIN_CONFIG_KEY",
    "ADMIN_ENV_VAR",
    "GuacamoleSchema",
    "PostgresDatabase",
    "PostgresGrants",
    "PostgresRole",
]
