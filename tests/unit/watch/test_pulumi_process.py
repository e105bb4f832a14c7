"""The interruptible CLI wrapper, against a stand-in ``pulumi`` script."""

from __future__ import annotations

import signal
import textwrap
import threading
from pathlib import Path

import pytest
from pulumi.automation import CommandError

from components.watch.pulumi_process import InterruptiblePulumiCommand

FAKE_PULUMI = """\
#!/bin/sh
case "$*" in
  version) echo v3.259.0; exit 0 ;;
esac
if [ "$PULUMI_AUTOMATION_API" != "true" ]; then echo "not automation" >&2; exit 9; fi
case "$*" in
  *--non-interactive*fail*) echo "it failed" >&2; exit 1 ;;
  *--non-interactive*wait*)
    trap 'echo "interrupted: saving state"; exit 0' INT
    echo "started"; while :; do sleep 0.05; done ;;
  *) echo "ran: $*"; exit 0 ;;
esac
"""


@pytest.fixture
def command(tmp_path: Path) -> InterruptiblePulumiCommand:
    script = tmp_path / "bin" / "pulumi"
    script.parent.mkdir()
    script.write_text(textwrap.dedent(FAKE_PULUMI))
    script.chmod(0o755)
    return InterruptiblePulumiCommand(root=str(tmp_path))


def test_runs_non_interactive_and_reports_output(
    command: InterruptiblePulumiCommand, tmp_path: Path
) -> None:
    lines: list[str] = []
    result = command.run(["stack", "ls"], str(tmp_path), {}, on_output=lines.append)
    assert result.stdout == "ran: --non-interactive stack ls" and lines == [result.stdout]
    with pytest.raises(CommandError, match="it failed"):
        command.run(["fail"], str(tmp_path), {})
    assert not command.interrupt() and not command.running()


def test_interrupt_sends_sigint_to_every_running_cli(
    command: InterruptiblePulumiCommand, tmp_path: Path
) -> None:
    # A shell cannot trap a signal it was started with ignored, and a job started in the
    # background of a non-interactive shell (as CI may start this suite) ignores SIGINT; the
    # real CLI re-enables it itself (Go's signal.Notify). Give the stand-in the default.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    results: list[str] = []
    started = threading.Semaphore(0)

    def on_output(line: str) -> None:
        if line == "started":  # printed once the script's trap is installed
            started.release()

    # Two at once, as when an environment's missing shard stacks are created side by side.
    threads = [
        threading.Thread(
            target=lambda: results.append(
                command.run(["wait"], str(tmp_path), {}, on_output=on_output).stdout
            ),
            daemon=True,
        )
        for _ in range(2)
    ]
    try:
        for thread in threads:
            thread.start()
        assert started.acquire(timeout=30) and started.acquire(timeout=30)
        assert command.running()
        assert command.interrupt()
        for thread in threads:
            thread.join(10)
        assert len(results) == 2
        assert all(r.endswith("interrupted: saving state") for r in results)
        assert not command.running() and not command.interrupt()
    finally:
        signal.signal(signal.SIGINT, previous)
        with command._lock:  # a failed check must not leave the stand-ins looping
            for process in command._processes:
                if process.poll() is None:
                    process.kill()


def test_the_cli_version_is_checked_once_per_process(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "pulumi"
    script.parent.mkdir()
    count = tmp_path / "version-calls"
    script.write_text(f'#!/bin/sh\necho x >> "{count}"\necho v3.259.0\n')
    script.chmod(0o755)
    first = InterruptiblePulumiCommand(root=str(tmp_path))
    second = InterruptiblePulumiCommand(root=str(tmp_path))
    assert count.read_text().count("x") == 1
    assert second.command == first.command and str(second.version) == "3.259.0"
    assert second is not first and not second.running()
