"""Refused bindings: found in the program's output or the proposed manifests, turned into exit 4."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from components.watch.config import PreviewConfig, UpConfig, parse
from components.watch.refusals import EXIT_REFUSED, exit_code, from_manifests, from_outputs
from tests.factories import manifest

TODAY = date(2025, 6, 1)


def test_refusals_come_from_the_invalid_problems_of_the_output() -> None:
    problems = [
        {"kind": "invalid", "bindings": ["a/x"], "field": "spec.replicas", "message": "bad x"},
        {"kind": "expired", "bindings": ["a/y"], "message": "old y"},
        {"kind": "duplicate", "bindings": ["a/y", "a/z"], "message": "dup"},
    ]
    assert from_outputs(problems) == ["bad x"]
    assert from_outputs(None) == [] and from_outputs("garbage") == []


def test_refusals_among_proposed_manifests_are_planned_like_the_program_does() -> None:
    refused = from_manifests(
        [
            manifest("ok"),
            manifest("big", replicas=3_000_000_000),
            manifest("old", username="o@x.org", expires="2020-01-01"),
        ],
        TODAY,
    )
    assert len(refused) == 1
    assert "jupyterhub/big" in refused[0] and "spec.replicas" in refused[0]


def test_exit_code_rule(caplog: pytest.LogCaptureFixture) -> None:
    assert exit_code([], allow=False, what="up") == 0
    with caplog.at_level(logging.WARNING):
        assert exit_code(["binding a/x refused: \x1b[2K"], allow=False, what="up") == EXIT_REFUSED
    assert EXIT_REFUSED == 4
    assert all(record.getMessage().isprintable() for record in caplog.records)
    assert any("1 binding(s) refused" in record.getMessage() for record in caplog.records)
    assert exit_code(["binding a/x refused"], allow=True, what="preview") == 0


def test_allow_refused_flag_and_environment() -> None:
    up = parse(["up", "--stack", "dev"], environ={})
    assert isinstance(up, UpConfig) and up.allow_refused is False
    allowed = parse(["up", "--stack", "dev", "--allow-refused"], environ={})
    assert isinstance(allowed, UpConfig) and allowed.allow_refused
    preview = parse(
        ["preview", "--stack", "dev", "--bindings-file", "b"],
        environ={"AWMS_WATCH_ALLOW_REFUSED": "true"},
    )
    assert isinstance(preview, PreviewConfig) and preview.allow_refused
