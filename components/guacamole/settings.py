"""Where the Guacamole database DSN comes from, and how it is shown without its password.

Why: the DSN carries the database password. It must never be pickled into the dynamic provider
(the pickle is stored in the Pulumi state), printed in a preview or echoed in an error. The
providers therefore read it only at run time, in ``configure()``, from the secret stack config
key ``awms-browser-workspaces:guacamoleDatabaseUrl``, falling back to the environment variable
``AWMS_GUACAMOLE_DATABASE_URL`` (used by ``pulumi refresh`` in scripts and by the tests). Every
message that names the database goes through ``describe_dsn``/``redact``.

Pure functions only; the environment is passed in.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import psycopg.conninfo

PROJECT_NAME = "awms-browser-workspaces"
CONFIG_KEY = "guacamoleDatabaseUrl"
ENV_VAR = "AWMS_GUACAMOLE_DATABASE_URL"
REDACTED = "********"

_SHOWN_KEYS = ("host", "hostaddr", "port", "dbname", "user", "sslmode")


def resolve_dsn(
    config_get: Callable[[str], Any] | None,
    environ: Mapping[str, str],
) -> str | None:
    """The DSN from stack config (namespaced key first, then the short key), else the env var.

    ``config_get`` is ``ConfigureRequest.config.get``; the fully qualified key is tried first
    because the dynamic provider host does not always know the project name.
    """
    if config_get is not None:
        for key in (f"{PROJECT_NAME}:{CONFIG_KEY}", CONFIG_KEY):
            value = config_get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    value = environ.get(ENV_VAR, "").strip()
    return value or None


def missing_dsn_message() -> str:
    """The error text shown when no DSN is configured."""
    return (
        "no Guacamole database configured: set the secret stack config "
        f"`pulumi config set --secret {CONFIG_KEY} <libpq URL>` "
        f"({PROJECT_NAME}:{CONFIG_KEY}) or the environment variable {ENV_VAR}"
    )


def _password_of(dsn: str) -> str | None:
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return None
    password = params.get("password")
    return str(password) if password else None


def describe_dsn(dsn: str) -> str:
    """A printable description of ``dsn`` listing host, port, database and user only."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "<unparseable database connection string>"
    shown = [f"{key}={params[key]}" for key in _SHOWN_KEYS if params.get(key)]
    if params.get("password"):
        shown.append(f"password={REDACTED}")
    return " ".join(shown) or "<default libpq connection>"


def redact(text: str, dsn: str | None) -> str:
    """Remove the DSN's password (raw and URL-encoded forms) and the DSN itself from ``text``."""
    if not dsn:
        return text
    text = text.replace(dsn, describe_dsn(dsn))
    password = _password_of(dsn)
    if password:
        for form in {password, urllib.parse.quote(password, safe=""), urllib.parse.quote(password)}:
            text = text.replace(form, REDACTED)
    return text
