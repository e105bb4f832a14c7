"""sandbox.postgres.PostgresServer: side-by-side servers, cross-process stop, loud failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from sandbox.postgres import PostgresSandboxError, PostgresServer, find_pg_bin

from .helpers import scalar

REPO = Path(__file__).resolve().parents[2]


def test_missing_binaries_fail_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("AWMS_PG_BIN", str(tmp_path))
    (tmp_path / "15" / "bin").mkdir(parents=True)  # a version directory without the tools
    with pytest.raises(PostgresSandboxError, match="binaries not found"):
        find_pg_bin(root=tmp_path)


def test_finds_the_installed_binaries(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AWMS_PG_BIN", raising=False)
    assert (find_pg_bin() / "initdb").is_file()


def test_session_server_settings(pg_server: PostgresServer):
    with psycopg.connect(pg_server.admin_dsn) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('fsync',"
                " 'listen_addresses', 'shared_preload_libraries', 'track_counts',"
                " 'unix_socket_directories')"
            ).fetchall()
        )
        assert scalar(conn, "SELECT count(*) >= 0 FROM pg_stat_statements")
        superuser = scalar(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert superuser is True
    assert settings["fsync"] == "off"
    assert settings["listen_addresses"] == "127.0.0.1"
    assert "pg_stat_statements" in settings["shared_preload_libraries"]
    assert settings["track_counts"] == "on"
    assert settings["unix_socket_directories"] == str(pg_server.socket_dir)
    if os.geteuid() == 0:
        owner = pg_server.data_dir.stat().st_uid
        assert owner != 0  # never runs as root
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_server.admin_dsn.replace(pg_server.superuser_password, "wrong"))


def test_two_servers_side_by_side_and_stop_from_another_process(pg_server: PostgresServer):
    workdir = Path(tempfile.mkdtemp(prefix="awms-pg-second-"))
    second = PostgresServer(workdir)
    try:
        second.start()
        assert second.port != pg_server.port and second.pid != pg_server.pid
        dsn = second.create_database("other", "pw")
        with psycopg.connect(dsn) as conn:
            assert scalar(conn, "SELECT current_database()") == "other"
        state = json.dumps(second.to_state())
        # Another process rebuilds the handle from the state and stops the server.
        code = (
            "import sys; from sandbox.postgres import PostgresServer; "
            "PostgresServer.from_state(sys.argv[1]).stop()"
        )
        subprocess.run([sys.executable, "-c", code, state], cwd=REPO, check=True, timeout=60)
        assert not PostgresServer.from_state(state).is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=2)
        second.stop()  # idempotent
        second.stop()
        # The session server is untouched.
        with psycopg.connect(pg_server.admin_dsn) as conn:
            assert scalar(conn, "SELECT 1") == 1
        # A stopped server can be started again from its directory.
        second.start()
        with psycopg.connect(second.create_database("other", "pw2")) as conn:
            assert scalar(conn, "SELECT 1") == 1
    finally:
        second.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_stop_never_signals_a_foreign_pid(tmp_path: Path):
    server = PostgresServer(tmp_path / "never-started", pid=os.getpid())
    server.stop()  # no postmaster.pid of its own: must not signal this test process
    assert server.pid is None
