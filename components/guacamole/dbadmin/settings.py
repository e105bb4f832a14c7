"""Where the administrator connection comes from, and DSNs derived from it.

Why a separate key from ``guacamoleDatabaseUrl``: bootstrapping needs a superuser (or a role
with CREATEROLE and CREATEDB) while everything else runs as the least-privileged login role, so
the two credentials must never be the same setting. Like the application DSN, the administrator
DSN is read only at run time, in a provider's ``configure()``, from the secret stack config key
``guacamoleAdminDatabaseUrl``, falling back to the environment variable
``AWMS_GUACAMOLE_ADMIN_DATABASE_URL``; it is never a resource input, so it is neither pickled nor
stored in the state.

Pure functions only; the configuration and the environment are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import psycopg
import psycopg.conninfo

from ..settings import PROJECT_NAME

ADMIN_CONFIG_KEY = "guacamoleAdminDatabaseUrl"
ADMIN_ENV_VAR = "AWMS_GUACAMOLE_ADMIN_DATABASE_URL"


def resolve_admin_dsn(
    config_get: Callable[[str], Any] | None,
    environ: Mapping[str, str],
) -> str | None:
    """The administrator DSN from stack config (qualified key, then short key), else the env var.

    ``config_get`` is ``ConfigureRequest.config.get`` (or ``pulumi.Config().get``); empty values
    count as unset so a stack may declare the key with an empty default.
    """
    if config_get is not None:
        for key in (f"{PROJECT_NAME}:{ADMIN_CONFIG_KEY}", ADMIN_CONFIG_KEY):
            value = config_get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    value = environ.get(ADMIN_ENV_VAR, "").strip()
    return value or None


def missing_admin_dsn_message() -> str:
    """The error text shown when the bootstrap has no administrator connection."""
    return (
        "no administrator connection for the Guacamole database bootstrap: set the secret stack "
        f"config `pulumi config set --secret {ADMIN_CONFIG_KEY} <libpq URL of a superuser or a "
        f"role with CREATEROLE and CREATEDB>` ({PROJECT_NAME}:{ADMIN_CONFIG_KEY}) or the "
        f"environment variable {ADMIN_ENV_VAR}"
    )


def dsn_for_database(dsn: str, dbname: str) -> str:
    """``dsn`` pointed at database ``dbname`` (same host, user, password and options)."""
    return psycopg.conninfo.make_conninfo(dsn, dbname=dbname)
