"""One local sandbox: PostgreSQL with Guacamole's schema, a Kubernetes control plane, a stack.

Everything a sandbox owns lives under its own directory (processes, data, the Pulumi file
backend, a passphrase), so two sandboxes can run side by side and `down` removes exactly what
`up` made. The state file lets a later process (`python -m sandbox down`) find the processes an
earlier one started.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.identities import RBAC_MANIFESTS, write_kubeconfig
from sandbox.kube import KubeControlPlane, apply_manifests
from sandbox.postgres import PostgresServer

REPO = Path(__file__).resolve().parent.parent
CRDS = REPO / "crds"
STATE_FILE = "sandbox.json"
GUACAMOLE_DATABASE = "guacamole"
# The database and its tables belong to the owner role (named like the database); the program,
# the demo and the tests sign in as the login role, which may only read and write rows.
GUACAMOLE_OWNER_ROLE = "guacamole"
GUACAMOLE_LOGIN_ROLE = "guacamole_app"
BROWSER_NAMESPACE = "guacamole"
BINDINGS_NAMESPACE = "jupyterhub"
# Matches the encryption salt committed in stacks/Pulumi.dev.yaml; guards sandbox secrets only.
DEV_STACK_PASSPHRASE = "awms-local-sandbox"  # noqa: S105 - deliberately public, see above


def toolchain_env() -> dict[str, str]:
    """The toolchain's environment (PATH, PULUMI_HOME, no plugin downloads), built if absent."""
    out = subprocess.run(
        ["python3", str(REPO / "scripts" / "toolchain.py"), "env"],
        capture_output=True,
        text=True,
        check=True,
    )
    env: dict[str, str] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    return env


def tools_bin() -> Path:
    """The toolchain's bin directory; fails with the command to run if it is not built."""
    out = subprocess.run(
        ["python3", str(REPO / "scripts" / "toolchain.py"), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"{out.stderr.strip()}\nbuild it with: python3 scripts/toolchain.py install"
        )
    return Path(out.stdout.strip())


def postgres_dir(workdir: Path) -> Path:
    """Where the sandbox's PostgreSQL lives.

    PostgreSQL refuses to run as root, so the server runs as an unprivileged OS user who must be
    able to traverse every parent directory. Work directories under private homes or pytest's
    0700 temp roots are not traversable; those sandboxes keep their database under /tmp.
    """
    candidate = workdir / "postgres"
    if os.geteuid() != 0 or all(os.stat(p).st_mode & 0o001 for p in workdir.parents):
        return candidate
    digest = hashlib.sha256(str(workdir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"awms-sandbox-postgres-{digest}"


@dataclass
class Sandbox:
    """A running (or stopped) sandbox rooted at ``workdir``."""

    workdir: Path
    postgres: PostgresServer
    kube: KubeControlPlane
    database_url: str = ""
    owner_database_url: str = ""
    passphrase: str = ""

    @classmethod
    def create(cls, workdir: Path) -> Sandbox:
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        return cls(
            workdir=workdir,
            postgres=PostgresServer(postgres_dir(workdir)),
            kube=KubeControlPlane(workdir / "kube", tools_bin()),
        )

    @classmethod
    def load(cls, workdir: Path) -> Sandbox:
        """Reattach to a sandbox started by another process."""
        workdir = workdir.resolve()
        state = json.loads((workdir / STATE_FILE).read_text())
        return cls(
            workdir=workdir,
            postgres=PostgresServer.from_state(state["postgres"]),
            kube=KubeControlPlane.from_state(state["kube"]),
            database_url=state["database_url"],
            owner_database_url=state.get("owner_database_url", ""),
            passphrase=state["passphrase"],
        )

    @property
    def backend_dir(self) -> Path:
        return self.workdir / "pulumi-state"

    def up(self) -> None:
        """Start empty PostgreSQL and control plane, then load the schema, CRDs and namespaces."""
        from components.guacamole import apply_schema

        # A sandbox always starts empty: state left by an earlier run would describe objects and
        # rows that the new cluster and database do not have.
        for stale in (self.backend_dir, self.postgres.workdir):
            shutil.rmtree(stale, ignore_errors=True)
        try:
            self.postgres.start()
            self.owner_database_url = self.postgres.create_database(
                GUACAMOLE_DATABASE, secrets.token_urlsafe(24), owner=GUACAMOLE_OWNER_ROLE
            )
            import psycopg

            with psycopg.connect(self.owner_database_url) as conn:
                apply_schema(conn)
            self.database_url = self._create_login()
            self.kube.start()
            apply_manifests(self.kube.kubeconfig, sorted(CRDS.glob("*.yaml")))
            for namespace in (BROWSER_NAMESPACE, BINDINGS_NAMESPACE):
                self.kubectl("create", "namespace", namespace)
            apply_manifests(self.kube.kubeconfig, [RBAC_MANIFESTS])
            self.backend_dir.mkdir(parents=True, exist_ok=True)
            self.passphrase = self.passphrase or DEV_STACK_PASSPHRASE
            self.save()
        except BaseException:
            self.down()
            raise

    def _create_login(self) -> str:
        """The DML-only login production should use: rows yes, tables no (see dbadmin.grants)."""
        import psycopg
        from psycopg.conninfo import make_conninfo

        from components.guacamole.dbadmin.grants import apply_grants

        url = self.postgres.create_login(
            GUACAMOLE_LOGIN_ROLE, secrets.token_urlsafe(24), GUACAMOLE_DATABASE
        )
        admin = make_conninfo(self.postgres.admin_dsn, dbname=GUACAMOLE_DATABASE)
        with psycopg.connect(admin) as conn, conn.cursor() as cur:
            apply_grants(cur, GUACAMOLE_DATABASE, GUACAMOLE_LOGIN_ROLE, GUACAMOLE_OWNER_ROLE)
        return url

    def identity_kubeconfig(self, account: str) -> Path:
        """A fresh kubeconfig acting as ServiceAccount ``guacamole/<account>`` (deploy/)."""
        return write_kubeconfig(
            self.kube.kubeconfig, account, self.workdir / "identities" / f"{account}.kubeconfig"
        )

    def down(self) -> None:
        """Stop only this sandbox's processes; leave files for post-mortems unless purged."""
        self.kube.stop()
        self.postgres.stop()

    def purge(self) -> None:
        self.down()
        shutil.rmtree(self.postgres.workdir, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def save(self) -> None:
        state: dict[str, Any] = {
            "postgres": self.postgres.to_state(),
            "kube": self.kube.to_state(),
            "database_url": self.database_url,
            "owner_database_url": self.owner_database_url,
            "passphrase": self.passphrase,
        }
        path = self.workdir / STATE_FILE
        path.write_text(json.dumps(state, indent=2))
        path.chmod(0o600)

    def env(self) -> dict[str, str]:
        """Environment for pulumi, kubectl and psql against this sandbox."""
        env = dict(os.environ)
        env.update(toolchain_env())
        env.update(
            {
                "PULUMI_BACKEND_URL": f"file://{self.backend_dir}",
                "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
                "KUBECONFIG": str(self.kube.kubeconfig),
                "AWMS_GUACAMOLE_DATABASE_URL": self.database_url,
            }
        )
        return env

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kube.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def status(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir),
            "postgres": self.postgres.is_running(),
            "kube": self.kube.is_running(),
            "kubeconfig": str(self.kube.kubeconfig),
            "backend": f"file://{self.backend_dir}",
        }
