"""Stale file-backend locks are removed with a log line; live or foreign ones are waited for."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from components.watch.locks import (
    LockKeeper,
    ProcessInfo,
    StackLockedError,
    backend_root,
    lock_dirs,
    process_info,
    read_lock,
    stacks_directory,
    stale_reason,
)

HOST = "watch-0"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def write_lock(directory: Path, name: str, *, pid: int, host: str = HOST, when: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    body = {
        "pid": pid,
        "username": "root",
        "hostname": host,
        "timestamp": when or "2026-01-02T03:00:00.123456789Z",
    }
    path.write_text(json.dumps(body))
    return path


def test_backend_root_only_for_file_backends(tmp_path: Path) -> None:
    assert backend_root(f"file://{tmp_path}") == tmp_path
    assert backend_root("file://~") == Path.home()
    assert backend_root("https://api.pulumi.com") is None
    assert backend_root(None) is None


def test_lock_dirs_follow_the_diy_layout(tmp_path: Path) -> None:
    dirs = lock_dirs(tmp_path, "proj", "dev")
    assert dirs[0] == tmp_path / ".pulumi" / "locks" / "organization" / "proj" / "dev"
    assert lock_dirs(tmp_path, "proj", "org/proj/dev")[0].parts[-3:] == ("org", "proj", "dev")


def test_read_lock_parses_go_timestamps(tmp_path: Path) -> None:
    lock = read_lock(write_lock(tmp_path, "a", pid=7, when="2026-01-02T03:00:00.5+01:00"))
    assert lock is not None and lock.pid == 7 and lock.hostname == HOST
    assert lock.timestamp == datetime(2026, 1, 2, 2, 0, 0, 500000, tzinfo=UTC)
    (tmp_path / "broken.json").write_text("{")
    assert read_lock(tmp_path / "broken.json") is None


@pytest.mark.parametrize(
    ("info", "stale"),
    [
        (ProcessInfo(alive=False), True),
        (ProcessInfo(alive=True, cmdline="sleep 100"), True),
        (ProcessInfo(alive=True, cmdline="pulumi up", started=NOW), True),  # pid reused
        (ProcessInfo(alive=True, cmdline="pulumi up", started=NOW - timedelta(hours=1)), False),
        (ProcessInfo(alive=True), False),  # unknown details: assume a live writer
    ],
)
def test_stale_reason_on_this_host(tmp_path: Path, info: ProcessInfo, stale: bool) -> None:
    lock = read_lock(write_lock(tmp_path, "a", pid=42))
    assert lock is not None
    reason = stale_reason(lock, hostname=HOST, now=NOW, inspect=lambda _pid: info)
    assert (reason is not None) is stale


def test_foreign_locks_are_kept_unless_older_than_the_timeout(tmp_path: Path) -> None:
    lock = read_lock(write_lock(tmp_path, "a", pid=42, host="ci-runner"))
    assert lock is not None
    assert stale_reason(lock, hostname=HOST, now=NOW) is None
    assert stale_reason(lock, hostname=HOST, now=NOW, foreign_lock_timeout=3600) is None
    reason = stale_reason(lock, hostname=HOST, now=NOW, foreign_lock_timeout=60)
    assert reason is not None and "ci-runner" in reason


def test_keeper_removes_stale_locks_and_raises_for_live_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = lock_dirs(tmp_path, "proj", "dev")[0]
    dead = write_lock(directory, "dead", pid=1001)
    keeper = LockKeeper(
        tmp_path,
        "proj",
        "dev",
        hostname=HOST,
        inspect=lambda pid: ProcessInfo(alive=pid != 1001),
    )
    with caplog.at_level(logging.WARNING):
        removed = keeper.clear_stale()
    assert [lock.path for lock in removed] == [dead] and not dead.exists()
    assert "removed stale stack lock" in caplog.text and "pid 1001" in caplog.text

    live = write_lock(directory, "live", pid=1002)
    with pytest.raises(StackLockedError) as raised:
        keeper.clear_stale()
    assert live.exists() and "pid 1002" in str(raised.value)
    assert LockKeeper(None, "proj", "dev").clear_stale() == []


def test_keeper_repairs_what_a_writer_killed_mid_write_leaves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An empty ``.attrs`` makes the checkpoint unreadable ("EOF"); the checkpoint is intact."""
    stacks = stacks_directory(tmp_path, "proj")
    stacks.mkdir(parents=True)
    checkpoint = stacks / "dev.json"
    checkpoint.write_text('{"checkpoint": {}}')
    truncated = stacks / "dev.json.attrs"
    truncated.write_bytes(b"")
    whole = stacks / "dev.json.bak.attrs"
    whole.write_text('{"md5": "x"}')
    other = stacks / "staging.json.attrs"  # another stack's: it breaks `pulumi stack ls`
    other.write_bytes(b"")
    in_flight = stacks / "dev.json.1a2b3c.tmp"  # a live writer's: never touched
    in_flight.write_bytes(b"")
    directory = lock_dirs(tmp_path, "proj", "dev")[0]
    dead = write_lock(directory, "dead", pid=1001)
    dead_attrs = dead.with_name(dead.name + ".attrs")
    dead_attrs.write_text('{"md5": "y"}')
    keeper = LockKeeper(
        tmp_path, "proj", "dev", hostname=HOST, inspect=lambda pid: ProcessInfo(alive=False)
    )
    with caplog.at_level(logging.WARNING):
        keeper.clear_stale()
    assert not truncated.exists() and not other.exists()
    assert checkpoint.exists() and whole.exists() and in_flight.exists()
    assert not dead.exists() and not dead_attrs.exists()
    assert f"removed {truncated}: an empty metadata file" in caplog.text


def test_process_info_of_real_processes() -> None:
    me = process_info(os.getpid())
    assert me.alive and "python" in me.cmdline and me.started is not None
    assert me.started <= datetime.now(UTC)
    assert not process_info(0).alive
