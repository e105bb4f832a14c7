"""Password hashing follows Guacamole's rule exactly."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from components.guacamole.hashing import (
    SALT_BYTES,
    guacamole_password_hash,
    make_credentials,
    verify_password,
)

from .test_schema import GUACADMIN_HASH, GUACADMIN_SALT


def test_guacadmin_vector():
    salt = bytes.fromhex(GUACADMIN_SALT)
    assert guacamole_password_hash("guacadmin", salt).hex().upper() == GUACADMIN_HASH
    assert verify_password("guacadmin", bytes.fromhex(GUACADMIN_HASH), salt)
    assert not verify_password("Guacadmin", bytes.fromhex(GUACADMIN_HASH), salt)


def test_unsalted_rule():
    assert guacamole_password_hash("pw", None) == hashlib.sha256(b"pw").digest()


@given(st.text(min_size=1), st.binary(min_size=SALT_BYTES, max_size=SALT_BYTES))
def test_hash_is_sha256_of_password_and_uppercase_hex_salt(password, salt):
    expected = hashlib.sha256((password + salt.hex().upper()).encode("utf-8")).digest()
    assert guacamole_password_hash(password, salt) == expected


def test_credentials_with_password_verify():
    creds = make_credentials("s3cret-ü")
    assert len(creds.password_salt) == SALT_BYTES
    assert len(creds.password_hash) == 32
    assert verify_password("s3cret-ü", creds.password_hash, creds.password_salt)
    assert "s3cret" not in repr(creds)


def test_credentials_without_password_are_unusable_and_random():
    a = make_credentials(None)
    b = make_credentials(None)
    assert len(a.password_salt) == len(a.password_hash) == SALT_BYTES
    assert a.password_hash != b.password_hash and a.password_salt != b.password_salt
    for guess in ("", "null", "guacadmin"):
        assert not verify_password(guess, a.password_hash, a.password_salt)


def test_injected_random_source_is_used():
    counter = iter(range(256))
    creds = make_credentials(None, random_bytes=lambda n: bytes([next(counter)]) * n)
    assert creds.password_salt == bytes([0]) * 32
    assert creds.password_hash == bytes([1]) * 32
