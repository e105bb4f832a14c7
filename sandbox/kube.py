"""A real, local Kubernetes control plane for tests: etcd + kube-apiserver (+ controller-manager).

The Pulumi program is tested against a genuine API server rather than a mock, because what
matters (server-side apply, CRD validation, admission, RBAC, owner references and garbage
collection) lives in the server. It is run the way controller-runtime's envtest runs it: no
scheduler and no kubelet, so Pods are stored but never run. kube-controller-manager is added
by default so Deployments get ReplicaSets and real status, namespaces finish deleting and
owned objects are garbage-collected, which a bare API server never does.

Everything listens on loopback ports picked at start, and every file (PKI, etcd data,
kubeconfig, logs) lives under the instance's own work directory, so several instances can
run side by side. :meth:`KubeControlPlane.to_state` / :meth:`KubeControlPlane.from_state`
let a later process (for example a CLI's ``stop``) find and stop a control plane that an
earlier process started; processes are identified by pid *and* kernel start time so a
recycled pid is never signalled.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sandbox import certs

ETCD_BINARY = "etcd"
APISERVER_BINARY = "kube-apiserver"
CONTROLLER_MANAGER_BINARY = "kube-controller-manager"

#: The Service network handed to kube-apiserver. Nothing routes it (there is no kube-proxy);
#: it only has to be valid and is the range envtest uses.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
_FIRST_SERVICE_IP = "10.0.0.1"

_STATE_VERSION = 1
_LOG_TAIL_LINES = 40
_CRD_PREFIX = "customresourcedefinition.apiextensions.k8s.io/"

_port_lock = threading.Lock()
_ports_handed_out: set[int] = set()


class ControlPlaneError(RuntimeError):
    """A component failed to start or to become ready (the message has its log's tail)."""


class ManifestError(RuntimeError):
    """`kubectl apply` or the wait for CRDs failed (the message has kubectl's output)."""


def _free_port() -> int:
    """Return a loopback TCP port that is free now and not yet handed out by this process.

    The port is released before the component binds it, so another program could take it in
    between; remembering what was handed out at least keeps two instances started by the
    same process from colliding.
    """
    with _port_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _ports_handed_out:
                _ports_handed_out.add(port)
                return port
    raise ControlPlaneError("could not find a free loopback port")


def _proc_start_ticks(pid: int) -> int | None:
    """Kernel start time of *pid* in clock ticks since boot, or None if there is no such pid.

    Stored next to the pid so that a pid reused by an unrelated process is not mistaken for
    ours. Zombies count as gone: they have exited and only wait to be reaped.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) is parenthesised and may contain spaces; fields after it are plain.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last *lines* lines of a log file, for error messages."""
    try:
        content = path.read_text(errors="replace")
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    return "\n".join(content.splitlines()[-lines:])


@dataclass
class _Process:
    """One component process; ``popen`` is only set in the process that started it."""

    name: str
    pid: int
    start_ticks: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            return False
        return _proc_start_ticks(self.pid) == self.start_ticks

    def signal(self, sig: signal.Signals) -> None:
        # Re-check identity right before signalling: never hit a recycled pid.
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
            if not self.alive():
                return True
            if time.monotonic() >= deadline:
                return False
            if self.popen is None:
                time.sleep(0.1)


class KubeControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager) on loopback, owned by one work dir.

    Layout of *workdir*: ``pki/`` (CA, serving and client certificates, service-account
    keys), ``etcd-data/``, ``logs/<component>.log`` and ``kubeconfig`` (admin user in group
    ``system:masters``, credentials embedded so the file can be handed around on its own).
    *bin_dir* must hold ``etcd``, ``kube-apiserver`` and, if used,
    ``kube-controller-manager``.
    """

    def __init__(
        self,
        workdir: Path,
        bin_dir: Path,
        *,
        with_controller_manager: bool = True,
        start_timeout: float = 120.0,
        stop_grace: float = 15.0,
    ) -> None:
        self.workdir = Path(workdir).absolute()
        self.bin_dir = Path(bin_dir).absolute()
        self.with_controller_manager = with_controller_manager
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.ports: dict[str, int] = {}
        self._processes: list[_Process] = []

    # -- paths and addresses -------------------------------------------------------------

    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def etcd_data_dir(self) -> Path:
        return self.workdir / "etcd-data"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig, written by :meth:`start`."""
        return self.workdir / "kubeconfig"

    @property
    def ca_cert(self) -> Path:
        """The CA that signed the API server's serving certificate and the client certs."""
        return self.pki_dir / "ca.crt"

    @property
    def server_url(self) -> str:
        """``https://127.0.0.1:<port>`` of kube-apiserver (set once :meth:`start` ran)."""
        if "apiserver" not in self.ports:
            raise ControlPlaneError("the control plane has not been started")
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def etcd_url(self) -> str:
        if "etcd_client" not in self.ports:
            raise ControlPlaneError("the control plane has not been started")
        return f"http://127.0.0.1:{self.ports['etcd_client']}"

    @property
    def pids(self) -> dict[str, int]:
        """Pid of each started component, by binary name."""
        return {p.name: p.pid for p in self._processes}

    def log_file(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    # -- lifecycle -----------------------------------------------------------------------

    def is_running(self) -> bool:
        """True while every component this instance started is still alive."""
        return bool(self._processes) and all(p.alive() for p in self._processes)

    def start(self) -> None:
        """Start a fresh, empty control plane and wait until it is ready.

        Any etcd data, PKI and logs left in the work dir by an earlier run are removed first,
        so every start gives an empty cluster with new credentials. On failure whatever was
        started is stopped again and :class:`ControlPlaneError` carries the failing
        component's log tail.
        """
        if self._processes:
            raise ControlPlaneError(f"control plane in {self.workdir} was already started")
        binaries = [ETCD_BINARY, APISERVER_BINARY]
        if self.with_controller_manager:
            binaries.append(CONTROLLER_MANAGER_BINARY)
        for name in binaries:
            path = self.bin_dir / name
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise ControlPlaneError(f"{name} binary not found or not executable at {path}")

        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in (self.etcd_data_dir, self.pki_dir, self.log_dir):
            shutil.rmtree(stale, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)
        self.log_dir.mkdir()
        self.etcd_data_dir.mkdir(mode=0o700)

        self.ports = {
            "etcd_client": _free_port(),
            "etcd_peer": _free_port(),
            "apiserver": _free_port(),
        }
        if self.with_controller_manager:
            self.ports["controller_manager"] = _free_port()
        self._make_pki()
        self._write_kubeconfig()
        try:
            self._start_etcd()
            self._start_apiserver()
            if self.with_controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the processes this instance started (latest first); safe to call repeatedly.

        Each gets SIGTERM, then SIGKILL if it is still there after ``stop_grace`` seconds.
        Only the recorded pids are signalled, and only while their start time still matches.
        """
        for proc in reversed(self._processes):
            proc.signal(signal.SIGTERM)
            if not proc.wait_gone(self.stop_grace):
                proc.signal(signal.SIGKILL)
                proc.wait_gone(10.0)
        # Anything that survived SIGKILL stays recorded, so a later stop() can retry.
        survivors = [p for p in self._processes if p.alive()]
        self._processes = survivors
        if survivors:
            raise ControlPlaneError(
                "still running after SIGKILL: "
                + ", ".join(f"{p.name} (pid {p.pid})" for p in survivors)
            )

    def __enter__(self) -> KubeControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- state hand-over -----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A JSON-serialisable description of this instance, for :meth:`from_state`."""
        return {
            "version": _STATE_VERSION,
            "workdir": str(self.workdir),
            "bin_dir": str(self.bin_dir),
            "with_controller_manager": self.with_controller_manager,
            "ports": dict(self.ports),
            "processes": [
                {"name": p.name, "pid": p.pid, "start_ticks": p.start_ticks, "log": str(p.log)}
                for p in self._processes
            ],
            "kubeconfig": str(self.kubeconfig),
            "server_url": self.server_url if "apiserver" in self.ports else None,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> KubeControlPlane:
        """Rebuild an instance from :meth:`to_state` output, e.g. in another process.

        The result can report :meth:`is_running` and :meth:`stop` the recorded processes; it
        cannot be started again while they are recorded.
        """
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported control plane state version: {state.get('version')!r}")
        plane = cls(
            Path(str(state["workdir"])),
            Path(str(state["bin_dir"])),
            with_controller_manager=bool(state["with_controller_manager"]),
        )
        plane.ports = {str(k): int(v) for k, v in dict(state["ports"]).items()}
        plane._processes = [
            _Process(
                name=str(p["name"]),
                pid=int(p["pid"]),
                start_ticks=int(p["start_ticks"]),
                log=Path(str(p["log"])),
            )
            for p in state["processes"]
        ]
        return plane

    # -- internals -----------------------------------------------------------------------

    def _make_pki(self) -> None:
        pki = self.pki_dir
        ca = certs.create_ca(pki)
        certs.issue_cert(
            ca,
            pki,
            "apiserver",
            common_name="kube-apiserver",
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ip_addresses=["127.0.0.1", _FIRST_SERVICE_IP],
            server=True,
        )
        certs.issue_cert(
            ca,
            pki,
            "admin",
            common_name="awms-sandbox-admin",
            organizations=["system:masters"],
            client=True,
        )
        if self.with_controller_manager:
            certs.issue_cert(
                ca,
                pki,
                "controller-manager",
                common_name="kube-controller-manager",
                dns_names=["localhost"],
                ip_addresses=["127.0.0.1"],
                server=True,
            )
        sa_key = certs.generate_key(pki / "service-account.key")
        certs.write_public_key(sa_key, pki / "service-account.pub")

    def _write_kubeconfig(self) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode("ascii")

        name = "awms-sandbox"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": self.server_url,
                        "certificate-authority-data": b64(self.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": f"{name}-admin",
                    "user": {
                        "client-certificate-data": b64(self.pki_dir / "admin.crt"),
                        "client-key-data": b64(self.pki_dir / "admin.key"),
                    },
                }
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
            "current-context": name,
            "preferences": {},
        }
        # JSON is valid YAML, so kubectl, client-go and the Python client all read it.
        fd = os.open(self.kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(config, fh, indent=2)
            fh.write("\n")

    def _spawn(self, name: str, args: Sequence[str]) -> _Process:
        log = self.log_file(name)
        with log.open("ab") as out:
            out.write(f"# {name} {' '.join(args)}\n".encode())
            out.flush()
            popen = subprocess.Popen(
                [str(self.bin_dir / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # Own session: a Ctrl-C meant for the test runner or a CLI does not reach the
                # components, which are stopped in order by stop() instead.
                start_new_session=True,
            )
        ticks = _proc_start_ticks(popen.pid)
        proc = _Process(name=name, pid=popen.pid, start_ticks=ticks or 0, log=log, popen=popen)
        self._processes.append(proc)
        return proc

    def _wait_ready(self, proc: _Process, what: str, probe: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error = "no answer yet"
        while True:
            if not proc.alive():
                code = proc.popen.poll() if proc.popen is not None else None
                raise ControlPlaneError(
                    f"{proc.name} exited (code {code}) before {what} was ready; "
                    f"last lines of {proc.log}:\n{_tail(proc.log)}"
                )
            try:
                if probe():
                    return
                last_error = "not ready"
            except (OSError, http.client.HTTPException, ValueError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise ControlPlaneError(
                    f"{what} not ready after {self.start_timeout:.0f}s ({last_error}); "
                    f"last lines of {proc.log}:\n{_tail(proc.log)}"
                )
            time.sleep(0.25)

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        ctx.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
        return ctx

    def _https_ok(self, port: int, path: str) -> bool:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", port, context=self._tls_context(), timeout=5
        )
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            return resp.status == 200
        finally:
            conn.close()

    def _etcd_healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["etcd_client"], timeout=5)
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            body = resp.read()
            return resp.status == 200 and json.loads(body).get("health") == "true"
        finally:
            conn.close()

    def _start_etcd(self) -> None:
        peer = f"http://127.0.0.1:{self.ports['etcd_peer']}"
        proc = self._spawn(
            ETCD_BINARY,
            [
                "--name=sandbox",
                f"--data-dir={self.etcd_data_dir}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=sandbox={peer}",
                "--initial-cluster-state=new",
                # Throwaway data: skipping fsync makes every write (and so every test) faster.
                "--unsafe-no-fsync=true",
            ],
        )
        self._wait_ready(proc, "etcd", self._etcd_healthy)

    def _start_apiserver(self) -> None:
        pki = self.pki_dir
        port = self.ports["apiserver"]
        proc = self._spawn(
            APISERVER_BINARY,
            [
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={self.ca_cert}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                "--authorization-mode=RBAC",
                # As in envtest: Pods need not name an existing ServiceAccount.
                "--disable-admission-plugins=ServiceAccount",
                f"--service-account-issuer=https://127.0.0.1:{port}/",
                f"--service-account-key-file={pki / 'service-account.pub'}",
                f"--service-account-signing-key-file={pki / 'service-account.key'}",
            ],
        )
        self._wait_ready(proc, "kube-apiserver", lambda: self._https_ok(port, "/readyz"))

    def _start_controller_manager(self) -> None:
        pki = self.pki_dir
        port = self.ports["controller_manager"]
        proc = self._spawn(
            CONTROLLER_MANAGER_BINARY,
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                # Client certs are checked against --client-ca-file below; without this it
                # also looks up request-header CAs this cluster never configures (log noise).
                "--authentication-skip-lookup=true",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'controller-manager.crt'}",
                f"--tls-private-key-file={pki / 'controller-manager.key'}",
                f"--client-ca-file={self.ca_cert}",
                f"--service-account-private-key-file={pki / 'service-account.key'}",
                f"--root-ca-file={self.ca_cert}",
                f"--cluster-signing-cert-file={self.ca_cert}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # Every default controller: the node-facing ones idle without nodes, and the
                # rest (deployment, replicaset, garbagecollector, namespace, serviceaccount,
                # clusterrole-aggregation, ...) make the cluster behave like a real one.
                "--controllers=*",
                "--leader-elect=false",
            ],
        )
        self._wait_ready(proc, "kube-controller-manager", lambda: self._https_ok(port, "/healthz"))


def _kubectl(kubectl: str | None) -> str:
    found = kubectl or shutil.which("kubectl")
    if not found:
        raise ManifestError("kubectl not found on PATH")
    return found


def apply_manifests(
    kubeconfig: Path,
    paths: Sequence[Path],
    *,
    timeout: float = 120.0,
    kubectl: str | None = None,
) -> list[str]:
    """Server-side apply each YAML file (or directory) in order; return the applied objects.

    After each file, the CRDs it created are awaited until ``Established``, so later files
    may use their kinds: list CRD files before the files that use them. A file holding both
    a CRD and objects of its kind works too: the objects are applied again once the CRD is
    established. Server-side apply with ``--force-conflicts`` makes re-applying idempotent.
    kubectl's discovery cache is kept next to the kubeconfig, away from ``~/.kube``.
    """
    binary = _kubectl(kubectl)
    base = [
        binary,
        f"--kubeconfig={kubeconfig}",
        f"--cache-dir={kubeconfig.parent / '.kube-cache'}",
    ]
    applied: list[str] = []
    for path in paths:
        cmd = [*base, "apply", "--server-side", "--force-conflicts", "-o", "name", "-f", str(path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
        crds = [n for n in names if n.startswith(_CRD_PREFIX)]
        if crds:
            _wait_established(base, crds, timeout)
        if proc.returncode != 0 and crds and "ensure CRDs are installed first" in proc.stderr:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
            names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
        if proc.returncode != 0:
            raise ManifestError(
                f"kubectl apply -f {path} failed ({proc.returncode}):\n"
                f"{proc.stderr.strip()}\n{proc.stdout.strip()}"
            )
        applied.extend(n for n in names if n not in applied)
    return applied


def _wait_established(base: Sequence[str], crds: Sequence[str], timeout: float) -> None:
    cmd = [*base, "wait", "--for=condition=Established", f"--timeout={int(timeout)}s", *crds]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, check=False)
    if proc.returncode != 0:
        raise ManifestError(
            f"CRDs not Established within {timeout:.0f}s ({proc.returncode}):\n"
            f"{proc.stderr.strip()}\n{proc.stdout.strip()}"
        )
