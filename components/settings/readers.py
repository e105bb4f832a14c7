"""Typed readers of raw setting values: each names the key (or path) it rejects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class SettingsError(ValueError):
    """A stack setting is missing, mistyped or inconsistent; the message names the key."""


def merge_default(key: str, default: Any, value: Any) -> Any:
    if value is None:
        return default
    if isinstance(default, dict):
        if not isinstance(value, Mapping):
            raise SettingsError(f"{key}: must be an object, got {value!r}")
        extra = sorted(set(value) - set(default)) if default else []
        if extra:
            raise SettingsError(f"{key}: unknown keys {', '.join(extra)}")
        return {**default, **value}
    return value


def read_string(values: Mapping[str, Any], key: str) -> str:
    value = values[key]
    if not isinstance(value, str):
        raise SettingsError(f"{key}: must be a string, got {value!r}")
    return value


def read_nonempty(values: Mapping[str, Any], key: str) -> str:
    value = read_string(values, key)
    if not value:
        raise SettingsError(f"{key}: must not be empty")
    return value


def read_label(values: Mapping[str, Any], key: str) -> str:
    value = read_string(values, key)
    if not DNS1123_LABEL.match(value):
        raise SettingsError(f"{key}: {value!r} is not a valid namespace name")
    return value


def read_choice(values: Mapping[str, Any], key: str, allowed: set[str]) -> str:
    value = read_string(values, key)
    if value not in allowed:
        raise SettingsError(f"{key}: must be one of {', '.join(sorted(allowed))}, got {value!r}")
    return value


def read_bool(values: Mapping[str, Any], key: str) -> bool:
    value = values[key]
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise SettingsError(f"{key}: must be true or false, got {value!r}")
    return value


def read_optional_int(values: Mapping[str, Any], key: str, path: str) -> int | None:
    value = values[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(f"{path}.{key}: must be a non-negative integer, got {value!r}")
    return value


def read_string_list(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{path}: must be a list of strings, got {value!r}")
    return tuple(value)


def read_labels(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise SettingsError(f"{path}: must be a map of label names to strings, got {value!r}")
    return dict(value)


def read_seconds(values: Mapping[str, Any], key: str) -> int:
    value = values[key]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**8:
        raise SettingsError(f"{key}: must be whole seconds (0-100000000), got {value!r}")
    return value
