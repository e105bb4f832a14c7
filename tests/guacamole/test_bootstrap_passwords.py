"""Password verifiers: what refresh uses to notice a role password changed out of band.

SCRAM verifiers made by the server are checked in test_bootstrap_providers (refresh after an
out-of-band ALTER ROLE … PASSWORD); these are the pure edge cases.
"""

from __future__ import annotations

import hashlib

import pytest

from components.guacamole.dbadmin.passwords import verifier_matches


def test_md5_verifiers_are_salted_with_the_role_name():
    verifier = "md5" + hashlib.md5(b"pencilapp", usedforsecurity=False).hexdigest()
    assert verifier_matches("pencil", "app", verifier)
    assert not verifier_matches("pencil", "other", verifier)
    assert not verifier_matches("pen", "app", verifier)


@pytest.mark.parametrize(
    "verifier",
    [
        None,
        "",
        "SCRAM-SHA-256$x:abc$def:ghi",
        "SCRAM-SHA-256$4096:not base64!$a:b",
        "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$a:b",
        "plaintext-password",
    ],
)
def test_malformed_or_unknown_verifiers_never_match(verifier: str | None):
    assert not verifier_matches("pencil", "app", verifier)
