"""Role passwords: sent to the server pre-hashed, and checked against the stored verifier.

Why pre-hashed: ``CREATE/ALTER ROLE … PASSWORD`` is a utility statement, so its text (with the
literal) can reach the server log (``log_statement = ddl``) and ``pg_stat_statements``. Sending
the SCRAM-SHA-256 verifier that libpq computes (``PQencryptPasswordConn``, what ``psql
\\password`` does) keeps the password itself off the server entirely; PostgreSQL stores a
verifier as is.

Why verify: ``pulumi refresh`` should notice a password changed out of band. Only a superuser may
read ``pg_authid.rolpassword``; the check is pure (PBKDF2/HMAC as in RFC 5802/7677, or the legacy
``md5`` form) and constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import psycopg


def encrypt_password(conn: psycopg.Connection[Any], role: str, password: str) -> str:
    """The verifier libpq computes for ``password`` with the server's ``password_encryption``."""
    return conn.pgconn.encrypt_password(password.encode("utf-8"), role.encode("utf-8")).decode(
        "ascii"
    )


def _scram_matches(password: str, verifier: str) -> bool:
    # SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
    try:
        method, rest = verifier.split("$", 1)
        params, keys = rest.split("$", 1)
        iterations_text, salt_b64 = params.split(":", 1)
        stored_b64, server_b64 = keys.split(":", 1)
        iterations = int(iterations_text)
        salt = base64.b64decode(salt_b64, validate=True)
        stored_key = base64.b64decode(stored_b64, validate=True)
        server_key = base64.b64decode(server_b64, validate=True)
    except (ValueError, binascii.Error):
        return False
    if method != "SCRAM-SHA-256" or iterations < 1:
        return False
    # PostgreSQL applies SASLprep; for passwords that are already normalised (ASCII and most
    # text) this is the identity, and a mismatch only makes refresh report drift once.
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    expected_server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key) and (
        hmac.compare_digest(expected_server, server_key)
    )


def verifier_matches(password: str, role: str, verifier: str | None) -> bool:
    """True when ``verifier`` (``pg_authid.rolpassword``) accepts ``password`` for ``role``."""
    if not verifier:
        return False
    if verifier.startswith("SCRAM-SHA-256$"):
        return _scram_matches(password, verifier)
    if verifier.startswith("md5") and len(verifier) == 35:
        digest = hashlib.md5((password + role).encode("utf-8"), usedforsecurity=False)
        return hmac.compare_digest("md5" + digest.hexdigest(), verifier)
    return False
