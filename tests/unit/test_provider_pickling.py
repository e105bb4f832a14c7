"""Dynamic-provider serialisation stays flat however many resources a program declares."""

from __future__ import annotations

import pickle
import sys

from pulumi.dynamic import dynamic

import components  # noqa: F401 - importing the package installs the guard
from components.generated_secret import GeneratedPasswordProvider


def test_thousands_of_serialisations_neither_recurse_nor_change_bytes() -> None:
    provider = GeneratedPasswordProvider()
    # Instance state makes the pickler walk a dict, the path the SDK's sorting wrapper is on.
    provider.__dict__["labels"] = {"b": 2, "a": 1}
    first = dynamic.serialize_provider(provider)
    limit = sys.getrecursionlimit()
    for _ in range(limit + 500):
        assert dynamic.serialize_provider(provider) == first


def test_pickler_is_left_as_it_was() -> None:
    before = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    dynamic.serialize_provider(GeneratedPasswordProvider())
    assert pickle._Pickler._batch_setitems is before  # type: ignore[attr-defined]
