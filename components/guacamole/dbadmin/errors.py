"""Exceptions of the database bootstrap.

Why separate classes: each one tells the operator what to fix (the administrator connection, a
missing privilege of the administrator, an object that blocks a drop) instead of a bare SQL error,
and every message names the role, database or setting at fault, never a password.
"""

from __future__ import annotations

from ..errors import GuacamoleError


class BootstrapError(GuacamoleError):
    """Base class for every error of the bootstrap."""


class AdminConnectionError(BootstrapError):
    """The administrator connection is missing or cannot be opened."""


class AdminPrivilegeError(BootstrapError):
    """The administrator role lacks a privilege the requested step needs."""


class BlockedError(BootstrapError):
    """An object cannot be changed or dropped because of something else in the cluster."""
