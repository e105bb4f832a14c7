"""The idle check's wiring with fakes at the I/O edges (the real thing runs in
tests/integration/test_idle_shutdown.py): what is read, what is scaled, what is only reported."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from pulumi.automation import CommandError

from components.binding_events import Reason as EventReason
from components.bindings import API_VERSION, KIND
from components.settings import IdleSettings
from components.watch import reaper
from components.watch.idle import Reason, Session, Verdict
from components.watch.session_history import SessionRecords

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SETTINGS = IdleSettings(
    timeout=60, startup_grace=60, max_session_age=3600, check_interval=1, dry_run=False
)


def manifest(name: str, workspace: str, username: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "7"},
        "spec": {
            "workspace": workspace,
            "username": username,
            "expires": "2099-01-01",
            "replicas": replicas,
        },
    }


class Fakes:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads: list[list[tuple[str, str]]] = []
        self.sessions: dict[tuple[str, str], tuple[Session, ...]] = {}
        self.now = NOW
        self.scaled: list[str] = []
        self.events: list[tuple[str, str, str]] = []
        self.conflict: set[str] = set()
        monkeypatch.setattr(reaper, "read_sessions", self.read_sessions)
        monkeypatch.setattr(reaper, "scale_to_zero", self.scale_to_zero)
        monkeypatch.setattr(reaper, "record_event", self.record_event)

    def read_sessions(
        self, database: object, wanted: Sequence[tuple[str, str]], window: timedelta
    ) -> SessionRecords:
        self.reads.append(list(wanted))
        return SessionRecords(self.now, tuple(self.sessions.get(w, ()) for w in wanted))

    def scale_to_zero(self, api: object, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        if name in self.conflict:
            raise ApiException(status=409)
        self.scaled.append(name)

    def record_event(
        self, api: object, body: Mapping[str, Any], reason: EventReason, text: str
    ) -> None:
        self.events.append((body["metadata"]["name"], reason, text))


def make(
    fakes: Fakes, bindings: dict[str, dict[str, Any]], settings: IdleSettings = SETTINGS
) -> reaper.Reaper:
    return reaper.Reaper(
        settings,
        database=object(),  # type: ignore[arg-type]
        api_client=lambda: object(),
        snapshot=lambda: bindings,
        today=lambda: date(2026, 11, 30),
    )


def test_nothing_running_costs_no_query(monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = Fakes(monkeypatch)
    check = make(fakes, {"ns/a": manifest("a", "w", "u1", 0)})
    report = check.cycle()
    assert (report.running, report.statements, fakes.reads) == (0, 0, [])


def test_one_read_for_all_running_browsers_and_a_stop_after_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fakes = Fakes(monkeypatch)
    bindings = {
        f"ns/b{i}": manifest(f"b{i}", "w", f"user{i}@x.org", 1 if i % 2 else 0) for i in range(10)
    }
    fakes.sessions[("w", "user1@x.org")] = (Session(NOW, None),)
    check = make(fakes, bindings)
    first = check.cycle()
    assert first.running == 5 and first.statements == 1 and len(fakes.reads) == 1
    assert fakes.scaled == []
    fakes.now = NOW + timedelta(seconds=60)
    second = check.cycle()
    assert second.statements == 1
    assert sorted(fakes.scaled) == ["b3", "b5", "b7", "b9"]  # b1 has an open session
    assert {reason for _, reason, _ in fakes.events} == {EventReason.IDLE_STOPPED}
    assert [d.verdict for d in second.decisions.values()].count(Verdict.KEEP) == 1


def test_dry_run_only_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = Fakes(monkeypatch)
    settings = IdleSettings(60, 60, 3600, 1, dry_run=True)
    check = make(fakes, {"ns/a": manifest("a", "w", "u", 1)}, settings)
    check.cycle()
    fakes.now += timedelta(minutes=5)
    report = check.cycle()
    assert report.stopped == ["ns/a"]
    assert check.cycle().stopped == []  # reported once per browser run, not every check
    assert fakes.scaled == []
    assert [(name, reason) for name, reason, _ in fakes.events] == [
        ("a", EventReason.IDLE_STOP_PENDING)
    ]


def test_a_binding_changed_meanwhile_is_left_for_the_next_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fakes = Fakes(monkeypatch)
    fakes.conflict.add("a")
    check = make(fakes, {"ns/a": manifest("a", "w", "u", 1), "ns/b": manifest("b", "w", "v", 1)})
    check.cycle()
    fakes.now += timedelta(minutes=5)
    report = check.cycle()
    assert report.skipped == ["ns/a"] and fakes.scaled == ["b"]


def test_every_binding_of_a_shared_browser_is_scaled(monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = Fakes(monkeypatch)
    bindings = {"ns/a": manifest("a", "w", "u", 1), "ns/b": manifest("b", "w", "u", 1)}
    check = make(fakes, bindings)
    check.cycle()
    fakes.now += timedelta(minutes=5)
    report = check.cycle()
    assert sorted(fakes.scaled) == ["a", "b"]
    (decision,) = report.decisions.values()
    assert decision.reason is Reason.NEVER_CONNECTED


def test_an_outage_delays_and_never_ends_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = Fakes(monkeypatch)
    calls: list[int] = []

    def failing(*args: object) -> SessionRecords:
        calls.append(1)
        if len(calls) >= 3:
            stop.set()
        raise OSError("connection refused\n2026 ERROR forged")

    stop = threading.Event()
    monkeypatch.setattr(reaper, "read_sessions", failing)
    settings = IdleSettings(60, 60, 3600, check_interval=0, dry_run=False)
    check = make(fakes, {"ns/a": manifest("a", "w", "u", 1)}, settings)
    check.run(stop)
    assert len(calls) == 3


def test_database_url_prefers_the_secret_setting() -> None:
    def stored(args: Sequence[str]) -> str:
        assert list(args) == ["config", "get", "guacamoleDatabaseUrl"]
        return "postgresql://from-stack\n"

    def missing(args: Sequence[str]) -> str:
        raise CommandError(None)  # type: ignore[arg-type]

    env = {"AWMS_GUACAMOLE_DATABASE_URL": "postgresql://from-env"}
    assert reaper.database_url(stored, env) == "postgresql://from-stack"
    assert reaper.database_url(missing, env) == "postgresql://from-env"
    assert reaper.database_url(missing, {}) is None
