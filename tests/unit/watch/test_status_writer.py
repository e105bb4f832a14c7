"""The watcher's status writer: failure reports also become Failed Events on the binding."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kubernetes import client

from components.watch import logs
from components.watch.status_writer import StatusWriter
from components.watch.statuses import error_status
from tests.unit.test_providers import FakeEvents


class Custom:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, dict[str, Any]]] = []

    def patch_namespaced_custom_object_status(
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any, **_: Any
    ) -> dict[str, Any]:
        self.patches.append((namespace, name, body))
        return {"metadata": {"uid": "u-9"}}


def test_a_failure_report_posts_a_failed_warning_event(monkeypatch: pytest.MonkeyPatch) -> None:
    custom, events = Custom(), FakeEvents()
    monkeypatch.setattr(client, "CustomObjectsApi", lambda _: custom)
    monkeypatch.setattr(client, "CoreV1Api", lambda _: events)
    writer = StatusWriter(lambda: client.ApiClient())
    status = error_status("database unreachable\x1b[2K", attempt=2, retry_in=4.0)
    assert writer.patch("ns/b", status)
    assert writer.patch("ns/b", {"statusText": "READY", "deploymentName": "d"})
    assert [e["reason"] for e in events.posted] == ["Failed"]
    (event,) = events.posted
    assert event["type"] == "Warning" and event["involvedObject"]["uid"] == "u-9"
    assert event["message"] == "database unreachable\\x1b[2K (attempt 2, retry in 4s)"


def test_text_logs_keep_one_record_per_timestamped_line() -> None:
    formatter = logs.TextFormatter()
    record = logging.LogRecord(
        "components.watch", logging.WARNING, __file__, 1,
        "engine: %s", ("ok\nerror: binding a/b skipped: FORGED\x1b[2K\u202e",), None,
    )  # fmt: skip
    lines = formatter.format(record).split("\n")
    assert len(lines) == 2 and lines[1].startswith("    error: binding a/b skipped: FORGED")
    assert all(line.isprintable() for line in lines)
    assert "\\x1b[2K\\u202e" in lines[1]
    json_line = logs.JsonFormatter().format(record)
    assert "\\\\x1b" in json_line and "\\n" not in json_line.replace("\\\\n", "")
