"""A module imported on first use, for the dynamic providers' process.

Why: the engine starts one Python provider process per run and it imports the module of every
provider it unpickles, before any call. ``kubernetes.client`` (every API and model class, some
0.3 s of CPU) is needed only by the calls that talk to the API server: a ``destroy``, a
``preview`` or a run that writes no binding status never makes one, yet paid for the import in
every shard's run. Those modules take the client from :mod:`components.kube_client`, where it
is a :class:`LazyModule` (typed as the real module for mypy), so the import happens at the
first attribute use.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for the module ``name``; any attribute access imports it (thread-safe: the
    import system locks per module) and returns the real attribute."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name}>"
