"""Pulumi resource classes of the database bootstrap (type tokens under module ``guacamole-db``).

Why four resources rather than one: each has its own identity and its own failure mode (a role
the administrator may not alter, a database in use, a half-created schema, a grant made by
someone else), and a preview names exactly the one that changes. Their dependencies are the
order PostgreSQL needs: roles, then the database owned by the group, then the schema applied as
the group, then the grants on the schema's tables.

Secrets: a role password is wrapped in ``Output.secret`` here and named in
``additional_secret_outputs``, so neither copy is ever stored in plaintext, whatever the caller
passes. The administrator DSN is not an input at all (see ``providers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi import Input, Output, ResourceOptions

from .providers import (
    GuacamoleSchemaProvider,
    PostgresDatabaseProvider,
    PostgresGrantsProvider,
    PostgresRoleProvider,
)

MODULE = "guacamole-db"


class PostgresRole(pulumi.dynamic.Resource, module=MODULE, name="Role"):
    """A plain cluster role: LOGIN or not, an optional password, exact group memberships.

    Replaced when ``name`` changes. Kept on delete unless ``drop_on_delete``.
    """

    name: Output[str]
    login: Output[bool]
    member_of: Output[list[str]]
    adopted: Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        name: Input[str],
        login: Input[bool] = False,
        password: Input[str] | None = None,
        member_of: Input[Sequence[Input[str]]] = (),
        drop_on_delete: Input[bool] = False,
        opts: ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "name": name,
            "login": login,
            "password": None if password is None else Output.secret(password),
            "member_of": member_of,
            "drop_on_delete": drop_on_delete,
            "adopted": None,
        }
        secret = ResourceOptions(additional_secret_outputs=["password"])
        super().__init__(
            PostgresRoleProvider(), resource_name, props, ResourceOptions.merge(opts, secret)
        )


class PostgresDatabase(pulumi.dynamic.Resource, module=MODULE, name="Database"):
    """A database owned by ``owner``. Deleting it RETAINS it unless ``drop_on_delete``."""

    name: Output[str]
    owner: Output[str]
    adopted: Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        name: Input[str],
        owner: Input[str],
        drop_on_delete: Input[bool] = False,
        opts: ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "name": name,
            "owner": owner,
            "drop_on_delete": drop_on_delete,
            "adopted": None,
        }
        super().__init__(PostgresDatabaseProvider(), resource_name, props, opts)


class GuacamoleSchema(pulumi.dynamic.Resource, module=MODULE, name="GuacamoleSchema"):
    """Guacamole's tables in ``database``, created as (and owned by) ``owner``; never dropped."""

    database: Output[str]
    installed_version: Output[str]
    adopted: Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        database: Input[str],
        owner: Input[str],
        version: Input[str] = "1.5",
        seed_admin: Input[bool] = True,
        opts: ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "database": database,
            "owner": owner,
            "version": version,
            "seed_admin": seed_admin,
            "installed_version": None,
            "adopted": None,
        }
        super().__init__(GuacamoleSchemaProvider(), resource_name, props, opts)


class PostgresGrants(pulumi.dynamic.Resource, module=MODULE, name="Grants"):
    """The login role's least-privilege grants in ``database`` (kept on delete unless opted in)."""

    database: Output[str]
    role: Output[str]
    drift: Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        database: Input[str],
        role: Input[str],
        owner: Input[str],
        revoke_on_delete: Input[bool] = False,
        opts: ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "database": database,
            "role": role,
            "owner": owner,
            "revoke_on_delete": revoke_on_delete,
            "drift": None,
        }
        super().__init__(PostgresGrantsProvider(), resource_name, props, opts)
