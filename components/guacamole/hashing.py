"""Guacamole's password hashing rule, and credentials for users without a local password.

Why: Guacamole verifies a login by recomputing ``SHA-256(UTF-8(password + HEX(salt)))``, where
``HEX`` is *uppercase* hexadecimal, and comparing it with ``password_hash``. Writing the hash any
other way (lowercase hex, base64, another digest) silently makes password login impossible, which
is the legacy operator's defect. Users who sign in through single sign-on must not have a usable
local password at all; Guacamole itself stores 32 random bytes as the "hash" for them, which no
password can produce, and so do we.

Everything here is pure apart from the random source, which callers may inject.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

SALT_BYTES = 32
"""Length of a salt, as Guacamole's SecureRandomSaltService makes them."""


@dataclass(frozen=True)
class Credentials:
    """The two bytea columns of ``guacamole_user`` that decide whether a password matches."""

    password_hash: bytes
    password_salt: bytes

    def __repr__(self) -> str:  # never print key material by accident
        return "Credentials(<redacted>)"


def guacamole_password_hash(password: str, salt: bytes | None) -> bytes:
    """Hash ``password`` exactly as Guacamole does (unsalted SHA-256 when ``salt`` is None)."""
    material = password if salt is None else password + salt.hex().upper()
    return hashlib.sha256(material.encode("utf-8")).digest()


def verify_password(password: str, password_hash: bytes, salt: bytes | None) -> bool:
    """True if ``password`` logs in against the stored hash and salt (constant-time compare)."""
    return hmac.compare_digest(guacamole_password_hash(password, salt), bytes(password_hash))


def make_credentials(
    password: str | None,
    *,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> Credentials:
    """Fresh credentials: a hashed ``password``, or an unusable random pair when it is None."""
    salt = random_bytes(SALT_BYTES)
    if password is None:
        return Credentials(password_hash=random_bytes(SALT_BYTES), password_salt=salt)
    return Credentials(password_hash=guacamole_password_hash(password, salt), password_salt=salt)
