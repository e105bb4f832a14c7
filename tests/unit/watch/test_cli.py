"""Exit codes of the entry point for problems found before anything runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.watch.cli import main


@pytest.fixture(autouse=True)
def keep_root_logger() -> Iterator[None]:
    """``main`` configures logging for the process; give the other tests theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_missing_stack_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWMS_WATCH_STACK", raising=False)
    assert main(["watch"]) == 2
    assert "--stack" in capsys.readouterr().err


def test_a_missing_project_is_fatal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["preview", "--stack", "dev", "--project-dir", str(tmp_path),
                 "--bindings-file", str(tmp_path / "b.yaml")])  # fmt: skip
    assert code == 2
    assert "Pulumi.yaml" in capsys.readouterr().out
