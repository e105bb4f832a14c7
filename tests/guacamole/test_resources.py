"""Resource classes under Pulumi's mock monitor: type tokens, secrets, typed outputs."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks, rpc

import components.guacamole
from components.guacamole import GuacamoleConnection, GuacamoleConnectionGroup
from components.guacamole.settings import ENV_VAR

GROUP = "pulumi-python:dynamic/guacamole:ConnectionGroup"
CONNECTION = "pulumi-python:dynamic/guacamole:Connection"


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ.endswith(":ConnectionGroup"):
            outputs.update(group_id=4.0, duplicate_group_ids=[], adopted=False)
            return "4", outputs
        outputs.update(connection_id=9.0, entity_id=7.0, user_id=5.0, adopted=False)
        return "9", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class _RecordingMonitor(mocks.MockMonitor):
    def __init__(self, mocks_: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks_)
        self.requests: list[Any] = []

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        self.requests.append(request)
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


@pytest.fixture
def monitor(monkeypatch: pytest.MonkeyPatch) -> _RecordingMonitor:
    monkeypatch.setenv(ENV_VAR, "postgresql://app:TOPSECRET@db.example:5432/guacamole")
    recording = _RecordingMonitor(_Mocks())
    pulumi.runtime.set_mocks(_Mocks(), preview=False, monitor=recording)
    return recording


def _by_type(monitor: _RecordingMonitor) -> dict[str, Any]:
    return {r.type: r for r in monitor.requests if r.type != "pulumi:pulumi:Stack"}


def test_the_package_has_no_user_resource():
    assert not hasattr(components.guacamole, "GuacamoleUser")
    assert "GuacamoleUser" not in components.guacamole.__all__


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_type_tokens_secrets_and_typed_outputs(monitor: _RecordingMonitor):
    group = GuacamoleConnectionGroup("g", group_name="ws")
    connection = GuacamoleConnection(
        "c",
        group_id=group.group_id,
        username="ws@alice",
        connection_name="alice",
        hostname="client-x",
        password="plain-vnc-password",
    )

    def check(values: list[Any]) -> None:
        group_id, entity_id, connection_id, connection_group_id, username = values
        assert (group_id, entity_id, connection_id, connection_group_id) == (4, 7, 9, 4)
        assert all(type(v) is int for v in values[:4])  # floats from the engine are cast back
        assert username == "ws@alice"
        requests = _by_type(monitor)
        assert set(requests) == {GROUP, CONNECTION}  # no guacamole:User any more
        request = requests[CONNECTION]
        assert "password" in request.additionalSecretOutputs
        props = request.object
        assert rpc._special_sig_key in props["password"]  # the input is a secret
        assert props["password"][rpc._special_sig_key] == rpc._special_secret_sig
        assert props["username"] == "ws@alice"
        assert "entity_id" not in props or props["entity_id"] is None  # an output only
        for each in requests.values():
            provider = each.object["__provider"]
            assert b"TOPSECRET" not in base64.b64decode(provider)
            assert b"db.example" not in base64.b64decode(provider)
        assert props["port"] == 5900
        assert props["disable_copy"] is True
        assert props["disable_paste"] is True

    return pulumi.Output.all(
        group.group_id,
        connection.entity_id,
        connection.connection_id,
        connection.group_id,
        connection.username,
    ).apply(check)


class _PreviewUpdateMocks(pulumi.runtime.Mocks):
    """Mimics a preview of an in-place update: id known, outputs = new inputs only."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return "4", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        return {}


@pytest.fixture
def preview_update() -> None:
    pulumi.runtime.set_mocks(_PreviewUpdateMocks(), preview=True)


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_ids_stay_known_in_update_previews(preview_update: None) -> Any:
    group = GuacamoleConnectionGroup("g3", group_name="ws")
    connection = GuacamoleConnection(
        "c3",
        group_id=group.group_id,
        username="ws@carol",
        connection_name="carol",
        hostname="client-y",
        password="pw",
    )

    async def check() -> None:
        for output in (group.group_id, connection.connection_id):
            assert await output.is_known()  # apply() alone would silently skip unknowns
            assert await output.future() == 4

    return asyncio.ensure_future(check())
