"""Exceptions raised by the Guacamole database layer.

Why separate classes: the provider turns each into a message that tells the operator what to do
(refresh, remove the unmanaged connections, fix the DSN) instead of a bare SQL error.
"""

from __future__ import annotations


class GuacamoleError(RuntimeError):
    """Base class for every error of this package."""


class ConfigurationError(GuacamoleError):
    """The database connection settings are missing or unusable."""


class DatabaseUnavailableError(GuacamoleError):
    """The Guacamole database could not be reached (the message never contains the password)."""


class RowGoneError(GuacamoleError):
    """A row this program manages was deleted out of band; ``pulumi refresh`` resolves it."""


class MissingReferenceError(GuacamoleError):
    """A row points at a group or entity that does not exist."""
