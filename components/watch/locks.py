"""Stack locks of a file (DIY) backend: tell a live writer from one that was killed.

``pulumi up`` on a DIY backend writes ``.pulumi/locks/<org>/<project>/<stack>/<id>.json``
(pid, user, host, time) and deletes it when it ends. A writer that is killed (a pod evicted, a
SIGKILL mid-update) leaves the file behind and every later run fails with "the stack is currently
locked". ``pulumi cancel`` would delete *every* lock, including a live writer's, so it is not
used: a lock is removed only when it is provably stale, meaning it was written on this host and
its pid is gone, or now belongs to a process that is not ``pulumi`` or that started after the
lock was written (pid reuse in a restarted container). A lock from another host cannot be checked
and is waited for, unless the operator declares such locks abandoned after an age
(``foreign_lock_timeout``). Locks of the Pulumi Cloud backend are the service's business.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from components.watch.sidecars import SIDECAR_SUFFIX, repair_sidecars

log = logging.getLogger(__name__)

DIY_ORGANIZATION = "organization"


@dataclass(frozen=True)
class StackLock:
    path: Path
    pid: int
    username: str
    hostname: str
    timestamp: datetime | None

    def describe(self) -> str:
        when = self.timestamp.isoformat() if self.timestamp else "an unknown time"
        return f"{self.path} (pulumi pid {self.pid} on {self.hostname}, since {when})"


class StackLockedError(RuntimeError):
    """A live writer holds the stack; the caller waits and retries instead of fighting it."""

    def __init__(self, locks: list[StackLock]) -> None:
        self.locks = locks
        super().__init__(
            "the stack is locked by another pulumi process: "
            + "; ".join(lock.describe() for lock in locks)
        )


def backend_root(url: str | None) -> Path | None:
    """The directory of a ``file://`` backend URL, ``None`` for any other backend."""
    if not url or not url.startswith("file://"):
        return None
    parsed = urlparse(url)
    path = unquote(parsed.netloc + parsed.path)
    return Path(os.path.expanduser(path or "~"))


def stacks_directory(root: Path, project: str) -> Path:
    """Where a DIY (``file://``) backend keeps the states of ``project``'s stacks."""
    return root / ".pulumi" / "stacks" / project


def state_directories(root: Path, project: str, stack: str | None = None) -> list[Path]:
    """The directories holding ``project``'s checkpoints (both layouts) and ``stack``'s locks."""
    found = [stacks_directory(root, project), root / ".pulumi" / "stacks"]
    return found + (lock_dirs(root, project, stack) if stack is not None else [])


def lock_dirs(root: Path, project: str, stack: str) -> list[Path]:
    """Where a DIY backend keeps this stack's locks (project layout, then the legacy one)."""
    parts = stack.split("/")
    qualified = parts if len(parts) == 3 else [DIY_ORGANIZATION, project, parts[-1]]
    locks = root / ".pulumi" / "locks"
    return [locks.joinpath(*qualified), locks / parts[-1]]


def read_lock(path: Path) -> StackLock | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    timestamp: datetime | None
    try:
        timestamp = _parse_time(str(data.get("timestamp", "")))
    except ValueError:
        timestamp = None
    return StackLock(
        path=path,
        pid=int(data.get("pid") or 0),
        username=str(data.get("username", "")),
        hostname=str(data.get("hostname", "")),
        timestamp=timestamp,
    )


def _parse_time(text: str) -> datetime:
    # Go writes RFC 3339 with up to nanoseconds ("2026-01-02T03:04:05.123456789+01:00" or "Z");
    # Python takes at most microseconds.
    text = text.replace("Z", "+00:00")
    match = _FRACTION.search(text)
    if match:
        text = text[: match.start()] + "." + match.group(1)[:6] + text[match.end() :]
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_FRACTION = re.compile(r"\.(\d+)")


@dataclass(frozen=True)
class ProcessInfo:
    """What /proc says about a pid: alive, command line, start time (``None`` if unknown)."""

    alive: bool
    cmdline: str = ""
    started: datetime | None = None


def process_info(pid: int) -> ProcessInfo:
    if pid <= 0:
        return ProcessInfo(alive=False)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ProcessInfo(alive=False)
    except PermissionError:
        return ProcessInfo(alive=True)  # someone else's process: alive, details unknown
    proc = Path("/proc") / str(pid)
    try:
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        stat = (proc / "stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            return ProcessInfo(alive=False)  # exited, not yet reaped
        ticks = int(fields[19])
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        started = datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), UTC)
    except (OSError, ValueError, IndexError, StopIteration):
        return ProcessInfo(alive=True)
    return ProcessInfo(alive=True, cmdline=cmdline, started=started)


def stale_reason(
    lock: StackLock,
    *,
    hostname: str,
    now: datetime,
    foreign_lock_timeout: float = 0.0,
    inspect: Callable[[int], ProcessInfo] = process_info,
) -> str | None:
    """Why ``lock`` is stale, or ``None`` when it may belong to a live writer."""
    if lock.hostname != hostname:
        if foreign_lock_timeout > 0 and lock.timestamp is not None:
            age = (now - lock.timestamp).total_seconds()
            if age > foreign_lock_timeout:
                return (
                    f"written on host {lock.hostname} {age:.0f}s ago, older than the "
                    f"foreign lock timeout ({foreign_lock_timeout:.0f}s)"
                )
        return None
    info = inspect(lock.pid)
    if not info.alive:
        return f"pid {lock.pid} is not running on this host"
    if info.cmdline and "pulumi" not in info.cmdline:
        return f"pid {lock.pid} is now another program ({info.cmdline.strip()[:80]})"
    if (
        info.started is not None
        and lock.timestamp is not None
        and (info.started - lock.timestamp).total_seconds() > 5
    ):
        return f"pid {lock.pid} was reused by a process started after the lock was written"
    return None


@dataclass
class LockKeeper:
    """Checks (and cleans) one stack's locks before every run."""

    root: Path | None
    project: str
    stack: str
    foreign_lock_timeout: float = 0.0
    hostname: str = ""
    inspect: Callable[[int], ProcessInfo] = process_info

    def locks(self) -> list[StackLock]:
        if self.root is None:
            return []
        found: list[StackLock] = []
        for directory in lock_dirs(self.root, self.project, self.stack):
            if directory.is_dir():
                found += [
                    lock
                    for path in sorted(directory.glob("*.json"))
                    if (lock := read_lock(path)) is not None
                ]
        return found

    def clear_stale(self) -> list[StackLock]:
        """Remove stale locks (logged), then raise :class:`StackLockedError` if any remain.

        A stale lock means its writer was killed, so the empty metadata files such a writer can
        leave (:mod:`components.watch.sidecars`) are removed with it. The entry points do the
        same once per process; this covers a CLI killed under a long-running watcher without
        scanning the backend before every login's run.
        """
        hostname = self.hostname or socket.gethostname()
        now = datetime.now(UTC)
        removed: list[StackLock] = []
        live: list[StackLock] = []
        for lock in self.locks():
            reason = stale_reason(
                lock,
                hostname=hostname,
                now=now,
                foreign_lock_timeout=self.foreign_lock_timeout,
                inspect=self.inspect,
            )
            if reason is None:
                live.append(lock)
                continue
            try:
                lock.path.unlink()
            except FileNotFoundError:
                continue  # its writer finished meanwhile
            lock.path.with_name(lock.path.name + SIDECAR_SUFFIX).unlink(missing_ok=True)
            log.warning("removed stale stack lock %s: %s", lock.describe(), reason)
            removed.append(lock)
        if removed and self.root is not None:
            repair_sidecars(state_directories(self.root, self.project, self.stack))
        if live:
            raise StackLockedError(live)
        return removed
