"""Throwaway PKI for the local Kubernetes control plane, made with the `openssl` CLI.

kube-apiserver authenticates clients by certificate (``--client-ca-file``) and serves TLS
only, so the sandbox needs a CA, a serving certificate, an admin client certificate and a
service-account signing key pair. Shelling out to `openssl` keeps the project free of a
compiled crypto dependency; every key is ECDSA P-256 because generating one is near instant,
which matters when each test starts its own control plane.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_OPENSSL_TIMEOUT_S = 30.0
_VALID_DAYS = 3650


class CertError(RuntimeError):
    """An `openssl` invocation failed; the message carries its stderr."""


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key on disk."""

    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    """Run `openssl` with *args*, raising :class:`CertError` with its stderr on failure."""
    try:
        proc = subprocess.run(
            ["openssl", *args],
            capture_output=True,
            text=True,
            timeout=_OPENSSL_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CertError("openssl is not installed or not on PATH") from exc
    if proc.returncode != 0:
        raise CertError(f"openssl {args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")


def generate_key(path: Path) -> Path:
    """Write a new ECDSA P-256 private key (PKCS#8 PEM, mode 0600) to *path*."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        str(path),
    )
    path.chmod(0o600)
    return path


def write_public_key(private_key: Path, path: Path) -> Path:
    """Write the PEM public key of *private_key* to *path*.

    kube-apiserver verifies service-account tokens with this (``--service-account-key-file``).
    """
    _openssl("pkey", "-in", str(private_key), "-pubout", "-out", str(path))
    return path


def _config(
    common_name: str,
    organizations: Sequence[str],
    extensions: Sequence[str],
) -> str:
    """Render a minimal openssl config so the host's openssl.cnf cannot add surprises."""
    dn = [f"CN = {common_name}"]
    dn += [f"{i}.O = {org}" for i, org in enumerate(organizations)]
    return "\n".join(
        [
            "[req]",
            "distinguished_name = dn",
            "prompt = no",
            "[dn]",
            *dn,
            "[ext]",
            *extensions,
            "",
        ]
    )


def create_ca(directory: Path, name: str = "ca", common_name: str = "awms-sandbox-ca") -> KeyPair:
    """Create a self-signed CA (``name.crt``/``name.key``) in *directory*."""
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_key(directory / f"{name}.key")
    cert = directory / f"{name}.crt"
    cfg = directory / f"{name}.cnf"
    cfg.write_text(
        _config(
            common_name,
            (),
            [
                "basicConstraints = critical, CA:TRUE",
                "keyUsage = critical, digitalSignature, keyCertSign, cRLSign",
                "subjectKeyIdentifier = hash",
            ],
        )
    )
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        str(key),
        "-config",
        str(cfg),
        "-extensions",
        "ext",
        "-days",
        str(_VALID_DAYS),
        "-out",
        str(cert),
    )
    cfg.unlink()
    return KeyPair(cert=cert, key=key)


def issue_cert(
    ca: KeyPair,
    directory: Path,
    name: str,
    *,
    common_name: str,
    organizations: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
) -> KeyPair:
    """Issue a leaf certificate signed by *ca* as ``name.crt``/``name.key`` in *directory*.

    *organizations* become the subject's O values, which Kubernetes reads as groups (an admin
    certificate is in ``system:masters``); *dns_names*/*ip_addresses* become SANs, which a
    serving certificate needs because clients check the address they dialled against them.
    """
    if not (server or client):
        raise ValueError("a certificate needs server and/or client usage")
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_key(directory / f"{name}.key")
    cert = directory / f"{name}.crt"
    csr = directory / f"{name}.csr"
    cfg = directory / f"{name}.cnf"
    usages = [u for u, on in (("serverAuth", server), ("clientAuth", client)) if on]
    extensions = [
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature, keyEncipherment",
        f"extendedKeyUsage = {', '.join(usages)}",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
    ]
    sans = [f"DNS:{d}" for d in dns_names] + [f"IP:{ip}" for ip in ip_addresses]
    if sans:
        extensions.append(f"subjectAltName = {', '.join(sans)}")
    cfg.write_text(_config(common_name, organizations, extensions))
    _openssl("req", "-new", "-key", str(key), "-config", str(cfg), "-out", str(csr))
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca.cert),
        "-CAkey",
        str(ca.key),
        "-set_serial",
        f"0x{secrets.token_hex(16)}",
        "-days",
        str(_VALID_DAYS),
        "-extfile",
        str(cfg),
        "-extensions",
        "ext",
        "-out",
        str(cert),
    )
    csr.unlink()
    cfg.unlink()
    return KeyPair(cert=cert, key=key)
