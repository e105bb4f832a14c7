"""A throw-away PostgreSQL server for tests, benchmarks and the local sandbox.

Why it exists: the Guacamole layer must be tested against the real database engine (NULL
semantics of unique constraints, ``ON CONFLICT``, advisory locks, cascades), not a fake. This
module starts a private cluster from the Debian server binaries in a directory of its own:

* ``initdb`` runs as an unprivileged OS user, because PostgreSQL refuses to run as root. When
  the current process is not root, the current user is used directly.
* The superuser gets a random password; all connections use SCRAM over TCP on 127.0.0.1 (a
  free port chosen at start) or over the Unix socket in the work directory.
* Durability is traded for speed (``fsync=off``) and ``pg_stat_statements`` plus
  ``track_counts`` are on, so tests can count the statements a code path issues.
* ``to_state()``/``from_state()`` let a CLI started in another process stop the server;
  ``stop()`` only ever signals the postmaster whose pid is recorded in this server's own data
  directory, and is idempotent.

Several servers can run side by side: each has its own directory and port.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

_PG_BIN_ENV = "AWMS_PG_BIN"
_PG_USER_ENV = "AWMS_SANDBOX_PG_USER"
_SUPERUSER = "postgres"
_SOCKET_PATH_LIMIT = 100  # sun_path is 108 bytes; leave room for ".s.PGSQL.<port>".


class PostgresSandboxError(RuntimeError):
    """Raised when the sandbox server cannot be set up, started or stopped."""


def find_pg_bin(root: Path = Path("/usr/lib/postgresql")) -> Path:
    """Locate the directory holding ``initdb``/``pg_ctl``/``postgres``.

    ``AWMS_PG_BIN`` wins; otherwise the newest ``<root>/<major>/bin`` (Debian's layout). Raises
    instead of returning ``None`` so that a missing installation fails loudly.
    """
    override = os.environ.get(_PG_BIN_ENV)
    candidates: list[Path] = []
    if override:
        candidates.append(Path(override))
    if root.is_dir():
        versions = sorted(
            (p for p in root.iterdir() if p.name.isdigit()),
            key=lambda p: int(p.name),
            reverse=True,
        )
        candidates.extend(v / "bin" for v in versions)
    for candidate in candidates:
        if all((candidate / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return candidate
    raise PostgresSandboxError(
        "PostgreSQL server binaries not found (looked in "
        f"{[str(c) for c in candidates] or str(root / '*' / 'bin')}); install the Debian "
        f"'postgresql' package or set {_PG_BIN_ENV}"
    )


def _free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1 (there is a small reuse race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _service_user() -> str | None:
    """The OS user that owns and runs the cluster, or ``None`` to run as ourselves.

    Only root needs a different user. Preference: ``AWMS_SANDBOX_PG_USER``, the Debian
    ``postgres`` account, then ``nobody``.
    """
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get(_PG_USER_ENV), "postgres", "nobody"):
        if not name:
            continue
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresSandboxError("no unprivileged OS user found to run PostgreSQL as")


def _process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name.
    return stat.rpartition(")")[2].split()[0] != "Z"


def _read_postmaster_pid(data_dir: Path) -> int | None:
    """The pid recorded by the postmaster in its data directory, if any."""
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.strip().isdigit() else None


def _dsn(user: str, password: str, host: str, port: int, dbname: str) -> str:
    """A libpq URL with every component percent-encoded."""
    q = urllib.parse.quote
    credentials = f"{q(user, safe='')}:{q(password, safe='')}"
    return f"postgresql://{credentials}@{host}:{port}/{q(dbname, safe='')}"


@dataclass
class PostgresServer:
    """One private PostgreSQL cluster living in ``workdir``.

    ``workdir`` must be reachable by the service user (every parent directory must be
    searchable); the server takes ownership of it when running as root.
    """

    workdir: Path
    port: int | None = None
    pid: int | None = None
    os_user: str | None = None
    socket_dir: Path | None = None

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()

    # -- paths -----------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.workdir / "data"

    @property
    def log_file(self) -> Path:
        """The server log written by ``pg_ctl``."""
        return self.workdir / "server.log"

    @property
    def _password_file(self) -> Path:
        return self.workdir / "superuser.password"

    @property
    def superuser_password(self) -> str:
        """The random superuser password generated by ``start()``."""
        try:
            return self._password_file.read_text().strip()
        except OSError as exc:
            raise PostgresSandboxError(f"server in {self.workdir} was never initialised") from exc

    @property
    def admin_dsn(self) -> str:
        """Superuser DSN over TCP to the ``postgres`` database."""
        if self.port is None:
            raise PostgresSandboxError("server is not started")
        return _dsn(_SUPERUSER, self.superuser_password, "127.0.0.1", self.port, "postgres")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> PostgresServer:
        """Initialise (first time only) and start the cluster; returns ``self``."""
        if self.pid is not None and _process_alive(self.pid):
            return self
        bin_dir = find_pg_bin()
        self.os_user = _service_user()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._prepare_socket_dir()
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb(bin_dir)
        last_error = ""
        for _attempt in range(5):
            self.port = _free_port()
            result = self._run(
                [
                    str(bin_dir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    f"-p {self.port}",
                ],
                check=False,
            )
            if result.returncode == 0:
                self.pid = _read_postmaster_pid(self.data_dir)
                if self.pid is None:
                    raise PostgresSandboxError(f"postmaster.pid missing in {self.data_dir}")
                self._install_extensions()
                return self
            last_error = result.stdout + result.stderr + self._log_tail()
        raise PostgresSandboxError(f"PostgreSQL did not start in {self.workdir}:\n{last_error}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop this server's postmaster (fast shutdown). Safe to call repeatedly."""
        pid = self.pid if self.pid is not None else _read_postmaster_pid(self.data_dir)
        if pid is None or not _process_alive(pid):
            self.pid = None
            return
        recorded = _read_postmaster_pid(self.data_dir)
        if recorded != pid:
            # The pid was recycled or belongs to another cluster: never signal it.
            self.pid = None
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # "fast" shutdown: abort sessions, checkpoint, exit
        deadline = time.monotonic() + timeout
        while _process_alive(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGQUIT)  # "immediate" shutdown
                time.sleep(1.0)
                break
            time.sleep(0.05)
        self.pid = None

    def is_running(self) -> bool:
        """True while the recorded postmaster is alive."""
        return self.pid is not None and _process_alive(self.pid)

    # -- databases -----------------------------------------------------------------------------
    def create_database(
        self,
        name: str,
        owner_password: str,
        *,
        owner: str | None = None,
        template: str = "template0",
    ) -> str:
        """Create database ``name`` owned by role ``owner`` (default ``name``); return its DSN.

        The role is created, or its password reset; an existing database is kept, so the call is
        idempotent. ``template`` lets tests clone a database that already holds a schema.
        """
        if self.port is None:
            raise PostgresSandboxError("server is not started")
        role = owner or name
        dsn = self.create_login(role, owner_password, name)
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                # FILE_COPY (PostgreSQL 15+) clones a template far faster than WAL logging it
                # when fsync is off, which matters for a fresh database per test.
                modern = conn.info.server_version >= 150000
                strategy = sql.SQL(" STRATEGY FILE_COPY" if modern else "")
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE {}{}").format(
                        sql.Identifier(name),
                        sql.Identifier(role),
                        sql.Identifier(template),
                        strategy,
                    )
                )
        return dsn

    def create_login(self, role: str, password: str, database: str) -> str:
        """Create login ``role`` (or reset its password) with no privilege; return its DSN.

        What it may do in ``database`` is for the caller to grant.
        """
        if self.port is None:
            raise PostgresSandboxError("server is not started")
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                    verb, sql.Identifier(role), sql.Literal(password)
                )
            )
        return _dsn(role, password, "127.0.0.1", self.port, database)

    def drop_database(self, name: str, *, drop_owner: bool = True) -> None:
        """Drop database ``name`` (forcing sessions out) and, optionally, the role ``name``."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            if drop_owner:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))

    # -- cross-process hand-over ----------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable description, enough for ``from_state`` in another process."""
        return {
            "workdir": str(self.workdir),
            "data_dir": str(self.data_dir),
            "socket_dir": str(self.socket_dir) if self.socket_dir else None,
            "log_file": str(self.log_file),
            "port": self.port,
            "pid": self.pid,
            "os_user": self.os_user,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any] | str) -> PostgresServer:
        """Rebuild a handle from ``to_state()`` output (a dict or its JSON text)."""
        data: dict[str, Any] = json.loads(state) if isinstance(state, str) else state
        return cls(
            workdir=Path(data["workdir"]),
            port=data.get("port"),
            pid=data.get("pid"),
            os_user=data.get("os_user"),
            socket_dir=Path(data["socket_dir"]) if data.get("socket_dir") else None,
        )

    # -- internals -----------------------------------------------------------------------------
    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server tool as the service user."""
        if self.os_user is not None:
            argv = ["runuser", "-u", self.os_user, "--", *argv]
        result = subprocess.run(
            argv, capture_output=True, text=True, cwd=self.workdir, check=False, timeout=120
        )
        if check and result.returncode != 0:
            raise PostgresSandboxError(
                f"{argv[0] if self.os_user is None else argv[4]} failed "
                f"({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def _chown(self, path: Path) -> None:
        if self.os_user is not None:
            shutil.chown(path, user=self.os_user, group=pwd.getpwnam(self.os_user).pw_gid)

    def _prepare_socket_dir(self) -> None:
        """Put the Unix socket in the work directory unless its path would be too long."""
        self._chown(self.workdir)
        self.workdir.chmod(0o700)
        if self.os_user is not None:
            for parent in self.workdir.parents:
                if not os.stat(parent).st_mode & 0o001:
                    raise PostgresSandboxError(
                        f"{parent} is not searchable by others, so OS user {self.os_user!r} "
                        f"cannot reach {self.workdir}; use a work directory under /tmp"
                    )
        if self.socket_dir is None:
            candidate = self.workdir / "socket"
            if len(str(candidate)) > _SOCKET_PATH_LIMIT - 20:
                import tempfile

                candidate = Path(tempfile.mkdtemp(prefix="awms-pgsock-"))
            self.socket_dir = candidate
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._chown(self.socket_dir)
        self.socket_dir.chmod(0o700)

    def _initdb(self, bin_dir: Path) -> None:
        password = secrets.token_urlsafe(24)
        self._password_file.write_text(password + "\n")
        self._password_file.chmod(0o600)
        self._chown(self._password_file)
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                _SUPERUSER,
                "--pwfile",
                str(self._password_file),
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "all",
            "pg_stat_statements.track_utility": "on",
            "track_counts": "on",
            "max_connections": "200",
            "shared_buffers": "32MB",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# awms sandbox settings\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _install_extensions(self) -> None:
        """Make ``pg_stat_statements`` queryable from the admin database."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-lines:])
        except OSError:
            return ""
