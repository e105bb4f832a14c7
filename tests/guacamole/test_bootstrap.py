"""The optional database bootstrap declares least-privilege roles and grants (mocked engine)."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks

from components.guacamole.bootstrap import (
    BootstrapSettings,
    app_dsn,
    declare_database_bootstrap,
)


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        return {}


class _Recorder(mocks.MockMonitor):
    def __init__(self, mocks_: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks_)
        self.registered: list[tuple[str, str, dict[str, Any]]] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        self.registered.append((request.type, request.name, inputs))
        return response


@pytest.fixture
def recorder() -> _Recorder:
    monitor = _Recorder(_Mocks())
    pulumi.runtime.set_mocks(_Mocks(), preview=False, monitor=monitor)
    return monitor


SETTINGS = BootstrapSettings(
    admin_host="db.internal",
    admin_username="admin",
    admin_password="admin-pw",
    app_password="app p@ss",
)


def test_app_dsn_is_url_encoded():
    assert app_dsn(SETTINGS, "app p@ss") == (
        "postgresql://guacamole_app:app%20p%40ss@db.internal:5432/guacamole?sslmode=prefer"
    )


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_declares_owner_group_app_login_and_dml_grants(recorder: _Recorder) -> Any:
    result = declare_database_bootstrap(SETTINGS)

    async def check() -> None:
        assert await result.app_dsn.is_secret()
        assert await result.app_dsn.future() == app_dsn(SETTINGS, "app p@ss")
        await result.database.id.future()
        for grant in result.grants:
            await grant.id.future()
        by_type: dict[str, list[dict[str, Any]]] = {}
        for typ, _, inputs in recorder.registered:
            by_type.setdefault(typ, []).append(inputs)
        roles = {r["name"]: r for r in by_type["postgresql:index/role:Role"]}
        assert roles["guacamole_owner"]["login"] is False
        assert roles["guacamole_app"]["login"] is True
        assert "roles" not in roles["guacamole_app"]  # not a member of the owner group
        [database] = by_type["postgresql:index/database:Database"]
        assert database["owner"] == "guacamole_owner"
        grants = {g["objectType"]: g for g in by_type["postgresql:index/grant:Grant"]}
        assert grants["database"]["privileges"] == ["CONNECT"]
        assert grants["schema"]["privileges"] == ["USAGE"]
        assert grants["table"]["privileges"] == ["SELECT", "INSERT", "UPDATE", "DELETE"]
        assert grants["sequence"]["privileges"] == ["USAGE", "SELECT"]
        assert all(g["role"] == "guacamole_app" for g in grants.values())
        defaults = by_type["postgresql:index/defaultPrivileges:DefaultPrivileges"]
        assert {d["objectType"] for d in defaults} == {"table", "sequence"}
        assert all(d["owner"] == "guacamole_owner" for d in defaults)

    return asyncio.ensure_future(check())
