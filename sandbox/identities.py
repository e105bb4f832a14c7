"""Kubeconfigs for the ServiceAccounts of deploy/rbac.yaml, so runs can drop the admin's rights.

The sandbox's own kubeconfig is a ``system:masters`` certificate, which no RBAC rule can
restrict; a run made with it proves nothing about which permissions the program needs. A
kubeconfig built here carries a short-lived token minted for one ServiceAccount through the
TokenRequest API (``kubectl create token``), the way a pipeline or a pod would get one, and the
same server and CA as the admin file.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RBAC_MANIFESTS = REPO / "deploy" / "rbac.yaml"
IDENTITY_NAMESPACE = "guacamole"
WATCHER = "awms-watch"
PIPELINE = "awms-pipeline"
PREVIEW = "awms-preview"
LIFETIME = "4h"  # long enough for the slowest test module


def mint_token(admin_kubeconfig: Path, account: str, namespace: str = IDENTITY_NAMESPACE) -> str:
    """A bound token for ``namespace/account`` (TokenRequest), requested with the admin file."""
    out = subprocess.run(
        [
            "kubectl",
            f"--kubeconfig={admin_kubeconfig}",
            "create",
            "token",
            account,
            "-n",
            namespace,
            f"--duration={LIFETIME}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"kubectl create token {namespace}/{account}: {out.stderr.strip()}")
    return out.stdout.strip()


def token_kubeconfig(admin: dict[str, Any], user: str, token: str) -> dict[str, Any]:
    """The admin kubeconfig's cluster with ``token`` as its only credential."""
    cluster = admin["clusters"][0]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": user,
        "preferences": {},
    }


def write_kubeconfig(
    admin_kubeconfig: Path, account: str, target: Path, namespace: str = IDENTITY_NAMESPACE
) -> Path:
    """Write a kubeconfig (mode 0600) acting as ``namespace/account``; return its path."""
    admin = json.loads(admin_kubeconfig.read_text())
    config = token_kubeconfig(admin, account, mint_token(admin_kubeconfig, account, namespace))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(config, fh, indent=2)
        fh.write("\n")
    return target
