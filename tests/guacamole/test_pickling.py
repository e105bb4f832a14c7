"""The serialised provider never contains the DSN and is stable (pickled by reference)."""

from __future__ import annotations

import base64

import dill
from pulumi.dynamic.dynamic import serialize_provider

from components.guacamole.providers import (
    ConnectionGroupProvider,
    ConnectionProvider,
    UserProvider,
)

from .conftest import GuacDb, configure_request
from .helpers import checked


def test_configured_provider_pickle_has_no_dsn(guac_db: GuacDb):
    for cls in (ConnectionGroupProvider, UserProvider, ConnectionProvider):
        fresh = serialize_provider(cls())
        provider = cls()
        provider.configure(configure_request(guac_db.dsn))
        provider._db()  # make sure the lazily built Database exists as well
        serialized = serialize_provider(provider)
        raw = base64.b64decode(serialized)
        assert guac_db.dsn.encode() not in raw
        assert b"app-pw" not in raw and b"127.0.0.1" not in raw
        assert serialized == fresh  # instance state is empty: identical pickle
        assert b"components.guacamole.providers" in raw  # by reference, not by value
        assert cls.__name__.encode() in raw  # states name the class: it must keep its name
        assert len(raw) < 300
        restored = dill.loads(raw)  # noqa: S301 - our own bytes
        assert type(restored) is cls and "_database" not in restored.__dict__


def test_provider_used_after_create_still_pickles_clean(guac_db: GuacDb):
    provider = ConnectionGroupProvider()
    provider.configure(configure_request(guac_db.dsn))
    provider.create(checked(provider, {"group_name": "ws"}))
    assert guac_db.dsn.encode() not in base64.b64decode(serialize_provider(provider))


def test_secret_flag_not_forced():
    # Nothing secret is captured, so the __provider property need not be a secret.
    assert ConnectionProvider.serialize_as_secret_always is False
