"""DSN from stack config or environment; errors never reveal the password."""

from __future__ import annotations

import pytest

from components.guacamole.errors import ConfigurationError, DatabaseUnavailableError
from components.guacamole.providers import (
    ConnectionGroupProvider,
    ConnectionProvider,
    UserProvider,
)
from components.guacamole.settings import (
    ENV_VAR,
    describe_dsn,
    redact,
    resolve_dsn,
)

from .conftest import GuacDb, configure_request
from .helpers import checked


def test_resolution_order():
    config: dict[str, str] = {"awms-browser-workspaces:guacamoleDatabaseUrl": "from-config"}
    assert resolve_dsn(lambda key: config.get(key), {ENV_VAR: "from-env"}) == "from-config"
    short: dict[str, str] = {"guacamoleDatabaseUrl": "short"}
    assert resolve_dsn(lambda key: short.get(key), {}) == "short"
    assert resolve_dsn(lambda key: None, {ENV_VAR: " from-env "}) == "from-env"
    assert resolve_dsn(None, {}) is None
    assert resolve_dsn(lambda key: None, {ENV_VAR: ""}) is None


def test_configure_reads_the_namespaced_stack_config(guac_db: GuacDb, monkeypatch):
    monkeypatch.delenv(ENV_VAR)
    provider = ConnectionGroupProvider()
    provider.configure(configure_request(guac_db.dsn))
    assert provider.create(checked(provider, {"group_name": "ws"})).id


def test_environment_fallback_without_configure(guac_db: GuacDb):
    # as in tests or `pulumi refresh` scripts: env var only
    group = ConnectionGroupProvider()
    group_id = group.create(checked(group, {"group_name": "ws"})).id
    provider = ConnectionProvider()
    news = {
        "group_id": float(group_id),
        "username": "ws@env",
        "connection_name": "env",
        "hostname": "h",
        "password": "p",
    }
    created = provider.create(checked(provider, news))
    assert created.outs is not None
    entity_id = created.outs["entity_id"]
    rows = guac_db.rows("SELECT entity_id FROM guacamole_entity WHERE name = 'ws@env'")
    assert rows == [(entity_id,)]
    assert UserProvider().read(str(entity_id), {}).id == str(entity_id)


def test_missing_configuration_is_explained(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    provider = ConnectionGroupProvider()
    provider.configure(configure_request(None))
    with pytest.raises(ConfigurationError) as info:
        provider.create(checked(provider, {"group_name": "ws"}))
    assert "guacamoleDatabaseUrl" in str(info.value) and ENV_VAR in str(info.value)


@pytest.mark.parametrize(
    "form",
    ["url", "conninfo"],
)
def test_connection_errors_redact_the_password(guac_db: GuacDb, form: str, monkeypatch):
    monkeypatch.delenv(ENV_VAR)
    port = guac_db.dsn.rsplit(":", 1)[1].split("/")[0]
    secret = "Wr0ng-S3cret'pw"
    dsn = (
        f"postgresql://guacamole_app:Wr0ng-S3cret%27pw@127.0.0.1:{port}/{guac_db.name}"
        if form == "url"
        else f"host=127.0.0.1 port={port} dbname={guac_db.name} user=guacamole_app "
        f"password='Wr0ng-S3cret\\'pw'"
    )
    provider = ConnectionGroupProvider()
    provider.configure(configure_request(dsn))
    with pytest.raises(DatabaseUnavailableError) as info:
        provider.create(checked(provider, {"group_name": "ws"}))
    message = str(info.value)
    assert secret not in message and "Wr0ng" not in message
    assert "127.0.0.1" in message and "guacamole_app" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_describe_and_redact():
    url = "postgresql://app:p%40ss@db:5432/guac?sslmode=require"
    assert describe_dsn(url) == (
        "host=db port=5432 dbname=guac user=app sslmode=require password=********"
    )
    text = f"failed for {url} with p@ss and p%40ss"
    cleaned = redact(text, url)
    assert "p@ss" not in cleaned and "p%40ss" not in cleaned
    assert describe_dsn("not a = valid 'conninfo") == "<unparseable database connection string>"
    assert redact("x", None) == "x"


def test_providers_share_one_pool_per_dsn(guac_db: GuacDb):
    group, user = ConnectionGroupProvider(), UserProvider()
    group.configure(configure_request(guac_db.dsn))
    user.configure(configure_request(guac_db.dsn))
    assert group._db() is user._db()
    assert "app-pw" not in repr(group._db())
