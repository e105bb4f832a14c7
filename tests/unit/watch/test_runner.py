"""StackRunner against a stand-in ``pulumi``: arguments, event-log summary, failures, locks."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from components.watch.overrides import Project
from components.watch.pulumi_process import InterruptiblePulumiCommand
from components.watch.runner import StackRunner

FAKE_PULUMI = r"""
#!/bin/sh
[ "$1" = version ] && { echo v3.259.0; exit 0; }
echo "$*" >> "$ARGS_LOG"
case "$*" in *" up "*|*"--non-interactive up"*) ;; *) exit 0 ;; esac
# Like the real CLI: --event-log exists only with debug commands enabled.
[ "$PULUMI_DEBUG_COMMANDS" = true ] || { echo "error: unknown flag: --event-log" >&2; exit 1; }
log=""; prev=""
for arg in "$@"; do [ "$prev" = "--event-log" ] && log="$arg"; prev="$arg"; done
case "$FAKE_MODE" in
  ok) cp "$FAKE_EVENTS" "$log"; exit 0 ;;
  fail) cp "$FAKE_EVENTS" "$log"; echo "error: update failed" >&2; exit 255 ;;
  locked) echo "error: the stack is currently locked by 1 lock(s)." >&2; exit 255 ;;
esac
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackRunner:
    root = tmp_path / "cli"
    (root / "bin").mkdir(parents=True)
    script = root / "bin" / "pulumi"
    script.write_text(textwrap.dedent(FAKE_PULUMI).lstrip())
    script.chmod(0o755)
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / "Pulumi.yaml").write_text("name: awms-browser-workspaces\n")
    monkeypatch.setenv("ARGS_LOG", str(tmp_path / "args.log"))
    command = InterruptiblePulumiCommand(root=str(root))
    return StackRunner(Project.load(project_dir), "dev", command=command)


def events(tmp_path: Path, *lines: dict[str, Any]) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"sequence": i, "timestamp": 1, **line}) + "\n"
                            for i, line in enumerate(lines)))  # fmt: skip
    return str(path)


def args_of_last_call(tmp_path: Path) -> str:
    return (tmp_path / "args.log").read_text().splitlines()[-1]


def test_targeted_up_arguments_and_summary(
    runner: StackRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "ok")
    summary = {"summaryEvent": {"resourceChanges": {"update": 2, "same": 7}}}
    monkeypatch.setenv("FAKE_EVENTS", events(tmp_path, summary))
    outcome = runner.up(
        targets=["urn:a", "urn:b"], config_file=tmp_path / "c.yaml", message="watch: x"
    )
    assert outcome.ok and outcome.operation == "targeted up"
    assert outcome.changes == {"update": 2}
    args = args_of_last_call(tmp_path)
    assert "--target urn:a --target urn:b --target-dependents" in args
    assert f"--config-file {tmp_path / 'c.yaml'}" in args
    assert "--stack dev" in args and "--skip-preview" in args and "--non-interactive" in args


def test_failures_carry_the_engine_errors_and_failed_urns(
    runner: StackRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "fail")
    diagnostic = {"message": "boom\n", "severity": "error", "urn": "urn:a"}
    failed = {"metadata": {"op": "update", "urn": "urn:a", "type": "t", "provider": ""},
              "status": 1, "steps": 1}  # fmt: skip
    monkeypatch.setenv(
        "FAKE_EVENTS",
        events(tmp_path, {"diagnosticEvent": diagnostic}, {"resOpFailedEvent": failed}),
    )
    outcome = runner.up(continue_on_error=True)
    assert not outcome.ok and not outcome.locked
    assert outcome.error == "boom" and outcome.failed_urns == ["urn:a"]


def test_a_locked_stack_is_reported_as_such(
    runner: StackRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "locked")
    outcome = runner.up()
    assert outcome.locked and "currently locked" in outcome.error


def test_drift_is_checked_before_full_runs_only(
    runner: StackRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "ok")
    monkeypatch.setenv("FAKE_EVENTS", events(tmp_path))
    monkeypatch.delenv("AWMS_GUACAMOLE_DATABASE_URL", raising=False)
    runner.check_drift()
    runner.up(targets=["urn:a"])
    assert "config get" not in (tmp_path / "args.log").read_text()
    runner.up()
    calls = (tmp_path / "args.log").read_text().splitlines()
    assert "config get awms-browser-workspaces:guacamoleDatabaseUrl" in calls[-3]
    assert "stack export" in calls[-2] and "--show-secrets" in calls[-2]
    assert " up " in f" {calls[-1]} "
    assert runner.drift is not None and runner.drift.last_report is not None
