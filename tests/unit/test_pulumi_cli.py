"""The sandbox's CLI driver: a run past its deadline takes its plugins down with it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from sandbox.pulumi_cli import PulumiCli


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_a_timed_out_run_kills_the_plugins_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "plugin.pid"
    stand_in = tmp_path / "bin" / "pulumi"
    stand_in.parent.mkdir()
    # A CLI stand-in that starts a long-lived "plugin" and hangs, as a run stuck on an await does.
    stand_in.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pidfile}\nwait\n")
    stand_in.chmod(0o755)
    env = {**os.environ, "PATH": f"{stand_in.parent}:{os.environ['PATH']}"}
    cli = PulumiCli(tmp_path, "dev", env, timeout=2.0)

    with pytest.raises(subprocess.TimeoutExpired):
        cli.run("up")

    plugin = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(plugin) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(plugin), "the stand-in's child outlived the timed-out run"
