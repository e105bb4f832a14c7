"""Pulumi resource classes for the Guacamole rows (type tokens under module ``guacamole``).

Why a group resource apart from the connection resources: a connection group is shared by every
binding of a workspace. A binding's user and connection are one resource: they are one grant,
written and revoked in one transaction (see ``access``), and one resource less per binding is
one checkpoint write and about 1.6 kB of state less for each.

Secrets: every password input is wrapped in ``Output.secret`` here and named in
``additional_secret_outputs``, so neither the input nor the output copy is ever stored in
plaintext, whatever the caller passes.

Numbers come back from the engine as floats; the ``Output[int]`` annotations make the SDK cast
them back to ``int``. The primary-key outputs (``group_id``, ``entity_id``, ``connection_id``) are
derived from the resource id, which stays known in previews of in-place updates.
``entity_id`` is an output only: the user is the connection's own.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import Input, Output, ResourceOptions

from .providers import ConnectionGroupProvider, ConnectionProvider


def _with_secret_outputs(opts: ResourceOptions | None, *names: str) -> ResourceOptions:
    """Merge ``additional_secret_outputs`` into the caller's options (pure)."""
    merged = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=list(names)))
    assert merged is not None
    return merged


def _id_as_int(resource: pulumi.CustomResource) -> Output[int]:
    """The resource id (our primary key) as an int.

    Why not the provider's output of the same value: during ``pulumi preview`` of an in-place
    update the engine keeps the id known but, for a provider without preview support, reports
    only the new inputs as outputs, so a computed ``group_id`` would turn unknown and every
    dependent connection would preview as a replacement. The id is unknown only when the
    resource is really created or replaced.
    """
    return resource.id.apply(int)


def _secret(value: Input[str] | None) -> Output[str] | None:
    return None if value is None else Output.secret(value)


class GuacamoleConnectionGroup(pulumi.dynamic.Resource, module="guacamole", name="ConnectionGroup"):
    """An ORGANIZATIONAL connection group at ROOT named after a workspace.

    Replaced when ``group_name`` changes; the limits are updated in place. Adopts (lowest id) a
    root group that already has the name, reporting other duplicates in
    ``duplicate_group_ids``. Deleting refuses while the group still holds connections.
    """

    group_id: Output[int]
    group_name: Output[str]
    max_connections: Output[int]
    max_connections_per_user: Output[int]
    enable_session_affinity: Output[bool]
    duplicate_group_ids: Output[list[int]]
    adopted: Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        group_name: Input[str],
        max_connections: Input[int] = 1000,
        max_connections_per_user: Input[int] = 1000,
        enable_session_affinity: Input[bool] = True,
        opts: ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "group_name": group_name,
            "max_connections": max_connections,
            "max_connections_per_user": max_connections_per_user,
            "enable_session_affinity": enable_session_affinity,
            "group_id": None,
            "duplicate_group_ids": None,
            "adopted": None,
        }
        super().__init__(ConnectionGroupProvider(), resource_name, props, opts)
        self.group_id = _id_as_int(self)


class GuacamoleConnection(pulumi.dynamic.Resource, module="guacamole", name="Connection"):
    """A VNC connection inside a workspace group and the one user who may see and open it.

    The user (``username`` verbatim, the caller builds ``{workspace}@{username}``) has no usable
    local password (sign-in is through single sign-on) and is written and deleted with the
    connection, in one transaction. Replaced when ``group_id`` or ``connection_name`` changes;
    everything else (host, port, password, clipboard switches, the user) is updated in place.
    """

    connection_id: Output[int]
    group_id: Output[int]
    entity_id: Output[int]
    username: Output[str]
    connection_name: Output[str]
    adopted: Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        group_id: Input[int],
        username: Input[str],
        connection_name: Input[str],
        hostname: Input[str],
        password: Input[str],
        port: Input[int] = 5900,
        disable_copy: Input[bool] = True,
        disable_paste: Input[bool] = True,
        opts: ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "group_id": group_id,
            "username": username,
            "connection_name": connection_name,
            "hostname": hostname,
            "port": port,
            "password": _secret(password),
            "disable_copy": disable_copy,
            "disable_paste": disable_paste,
            "connection_id": None,
            "entity_id": None,
            "adopted": None,
        }
        super().__init__(
            ConnectionProvider(), resource_name, props, _with_secret_outputs(opts, "password")
        )
        self.connection_id = _id_as_int(self)
