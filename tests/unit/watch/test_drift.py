"""The watch-side drift check: what it reads from a state, when it runs, and that it never raises.

The comparison itself runs against a real database in ``tests/guacamole/test_drift.py`` and end
to end in ``tests/integration/test_drift_and_kills.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.watch.drift import DriftCheck, recorded_rows
from components.watch.exported_state import SECRET_SIGNATURE

GROUP_TYPE = "pulumi-python:dynamic/guacamole:ConnectionGroup"
CONNECTION_TYPE = "pulumi-python:dynamic/guacamole:Connection"


def secret(text: str) -> dict[str, str]:
    """A secret as ``pulumi stack export --show-secrets`` writes it."""
    return {SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270", "plaintext": f'"{text}"'}


DEPLOYMENT: dict[str, Any] = {
    "resources": [
        {"urn": "urn:stack", "type": "pulumi:pulumi:Stack"},
        {"urn": "urn:group", "type": GROUP_TYPE, "id": "7", "outputs": {"group_id": 7}},
        {
            "urn": "urn:connection",
            "type": CONNECTION_TYPE,
            "id": "9",
            "outputs": {"password": secret("s3cr3t"), "port": 5900, "flags": [secret("x")]},
        },
        {"urn": "urn:old", "type": CONNECTION_TYPE, "id": "8", "delete": True, "outputs": {}},
        {"urn": "urn:pending", "type": CONNECTION_TYPE, "outputs": {}},
        {"urn": "urn:deployment", "type": "kubernetes:apps/v1:Deployment", "id": "ns/d"},
    ]
}


def test_recorded_rows_are_the_live_guacamole_resources_with_plain_secrets() -> None:
    rows = recorded_rows(DEPLOYMENT)
    assert [(r.urn, r.kind, r.id) for r in rows] == [
        ("urn:group", "ConnectionGroup", "7"),
        ("urn:connection", "Connection", "9"),
    ]
    assert rows[1].outputs == {"password": "s3cr3t", "port": 5900, "flags": ["x"]}
    assert "s3cr3t" not in repr(rows)
    assert recorded_rows(None) == []


class FakeRunner:
    def __init__(self, *, dsn: str | None = "postgresql://u:pw@127.0.0.1:1/x") -> None:
        self.dsn = dsn
        self.exports: list[bool] = []
        self.refreshed: list[list[str]] = []

    def export(self, *, show_secrets: bool = False) -> dict[str, Any]:
        self.exports.append(show_secrets)
        return {"deployment": {"resources": []}}

    def database_url(self) -> str | None:
        return self.dsn

    def refresh(self, targets: list[str]) -> str:
        self.refreshed.append(targets)
        return ""


def test_due_at_start_then_once_per_interval() -> None:
    now = [100.0]
    check = DriftCheck(FakeRunner(), every=60.0, clock=lambda: now[0], environ={})
    assert check.run_if_due() is not None
    now[0] += 59
    assert check.run_if_due() is None
    now[0] += 2
    assert check.run_if_due() is not None


def test_every_zero_means_before_each_run() -> None:
    runner = FakeRunner()
    check = DriftCheck(runner, every=0.0, environ={})
    check.run_if_due()
    check.run_if_due()
    assert runner.exports == [True, True]


def test_no_database_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = FakeRunner(dsn=None)
    monkeypatch.setattr(runner, "export", lambda **_: {"deployment": DEPLOYMENT})
    report = DriftCheck(runner, environ={}).run()
    assert "no Guacamole database URL" in report.error


def test_an_unreachable_database_never_raises_nor_leaks_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = FakeRunner(dsn="postgresql://u:hunter2@127.0.0.1:1/x?connect_timeout=1")

    def export(*, show_secrets: bool = False) -> dict[str, Any]:
        return {"deployment": DEPLOYMENT}

    monkeypatch.setattr(runner, "export", export)
    report = DriftCheck(runner, environ={}).run()
    assert report.error and "hunter2" not in report.error
    assert runner.refreshed == []
