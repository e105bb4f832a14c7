"""YAML in and out through libyaml when PyYAML was built with it.

A bindings file of thousands of documents is parsed by every run of every shard and written
again by every preview; the pure-Python loader and dumper take seconds for that, libyaml a
fraction of it. Both are the *safe* variants: no tags, no objects, only plain data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load(text: str) -> Any:
    """One YAML document as plain data (``None`` for an empty text)."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader


def load_all(text: str) -> list[Any]:
    """Every document of a multi-document YAML text."""
    return list(yaml.load_all(text, Loader=SafeLoader))


def dump(data: Any) -> str:
    """``data`` as block YAML, keys in their given order."""
    return yaml.dump(data, Dumper=SafeDumper, sort_keys=False)


def dump_all(documents: Iterable[Any]) -> str:
    """Several documents as one multi-document YAML text."""
    return yaml.dump_all(documents, Dumper=SafeDumper, sort_keys=False)
