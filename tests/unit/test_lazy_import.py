"""The dynamic providers' process loads every provider's module before its first call; none of
them may pull in the Kubernetes client at import time, or every shard's ``destroy`` and
``preview`` pays for it while making no API call."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

from pulumi.dynamic import ResourceProvider

import components
from components.lazy_import import LazyModule

ROOT = Path(__file__).resolve().parents[2]


def provider_modules() -> list[str]:
    """Every module under ``components`` that defines a dynamic resource provider."""
    found: set[str] = set()
    for info in pkgutil.walk_packages(components.__path__, "components."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, ResourceProvider) and value.__module__ == info.name:
                found.add(info.name)
    return sorted(found)


def test_the_providers_modules_load_without_the_kubernetes_client() -> None:
    modules = provider_modules()
    assert {"components.binding_status", "components.takeover.revocation"} <= set(modules)
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in modules)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes')[:3])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]", f"loaded at import: {loaded.stdout.strip()} ..."


def test_a_lazy_module_hands_out_the_real_attributes() -> None:
    from kubernetes import client

    lazy = LazyModule("kubernetes.client")
    assert lazy.ApiException is client.ApiException
    assert lazy.AppsV1Api is client.AppsV1Api
    assert "kubernetes.client" in repr(lazy)
