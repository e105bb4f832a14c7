"""Pulumi mocks that record every registration (type, name, parent, dependencies, inputs)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

PROJECT = "awms-browser-workspaces"
STACK = "test"


@dataclass
class Registered:
    urn: str
    typ: str
    name: str
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]
    additional_secret_outputs: list[str]
    provider: str = ""


class RecordingMocks(pulumi.runtime.Mocks):
    """Echoes inputs and adds the outputs each resource type is expected to produce.

    Guacamole resources use the row's primary key as their resource id (the classes derive
    ``group_id``/``entity_id``/``connection_id`` from it), so they get numeric ids here.
    """

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = args.inputs
        outputs = dict(args.inputs)
        typ = args.typ
        if "dynamic/guacamole:" in typ:
            row_id = next(self.ids)
            key = {
                "ConnectionGroup": "group_id",
                "User": "entity_id",
                "Connection": "connection_id",
            }[typ.rsplit(":", 1)[1]]
            outputs[key] = row_id
            if key == "entity_id":
                outputs["user_id"] = next(self.ids)
            return str(row_id), outputs
        if typ.endswith("awms:GeneratedPassword"):
            outputs["password"] = f"generated-{args.name}"
        elif typ.endswith("awms:BindingStatus"):
            outputs["patched"] = True
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording_mocks = mocks
        self.registered: list[Registered] = []
        self.outputs_registered: list[str] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(
                Registered(
                    urn=response.urn,
                    typ=request.type,
                    name=request.name,
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    inputs=self.recording_mocks.inputs.get((request.type, request.name), {}),
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    provider=request.provider,
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self.outputs_registered.append(request.urn)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


class ListLogHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@dataclass
class PulumiHarness:
    monitor: RecordingMonitor
    log: ListLogHandler

    def run(self, program: Callable[[], Any]) -> Any:
        """Run ``program`` like a Pulumi program and wait for every registration to finish."""
        result: list[Any] = []

        @pulumi.runtime.test  # type: ignore[untyped-decorator]
        def body() -> Any:
            value = program()
            result.append(value)
            return None

        body()
        return result[0]

    def of_type(self, suffix: str) -> list[Registered]:
        return [r for r in self.monitor.registered if r.typ.endswith(suffix)]

    def one(self, suffix: str, name: str) -> Registered:
        (found,) = [r for r in self.of_type(suffix) if r.name == name]
        return found

    def by_urn(self, urn: str) -> Registered:
        (found,) = [r for r in self.monitor.registered if r.urn == urn]
        return found

    def reaches(self, resource: Registered) -> set[str]:
        """The URNs ``resource`` depends on, directly or through others: what the engine
        creates before it and deletes after it."""
        by_urn = {r.urn: r for r in self.monitor.registered}
        found: set[str] = set()
        pending = list(resource.dependencies)
        while pending:
            urn = pending.pop()
            if urn not in found:
                found.add(urn)
                pending.extend(by_urn[urn].dependencies if urn in by_urn else [])
        return found


@pytest.fixture
def harness() -> Iterator[PulumiHarness]:
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    logger = logging.getLogger(f"pulumi-mocks-{id(monitor)}")
    logger.propagate = False
    handler = ListLogHandler()
    logger.addHandler(handler)
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=STACK, preview=False, logger=logger, monitor=monitor
    )
    yield PulumiHarness(monitor, handler)
    logger.removeHandler(handler)


def unsecret(value: Any) -> Any:
    """The plain value of a mock input, and whether it travelled as a secret."""
    if isinstance(value, dict) and value.get("4dabf18193072939515e22adb298388d") == (
        "1b47061264138c4ac30d75fd1eb44270"
    ):
        return value["value"]
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get("4dabf18193072939515e22adb298388d") == (
        "1b47061264138c4ac30d75fd1eb44270"
    )
