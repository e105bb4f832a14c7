"""Keep dynamic-provider serialisation flat, so a stack can hold thousands of bindings.

``pulumi.dynamic.dynamic.serialize_provider`` (Python SDK 3.259) installs a key-sorting wrapper
around ``pickle._Pickler._batch_setitems`` each time it serialises a provider and restores only
``pickle.Pickler`` afterwards. The wrappers pile up: every dynamic resource the program declares
adds one call level to every later serialisation, so the cost grows quadratically and, with
Python's default recursion limit, the program dies with ``RecursionError`` after about 985
dynamic resources (some 240 bindings at four dynamic resources each).

``install()`` wraps ``serialize_provider`` so that each call starts from, and ends with, the
pickler methods as they were when the SDK was imported. The bytes produced are unchanged: one
sorting wrapper sorts exactly as a thousand nested ones do, so stored ``__provider`` values do
not show spurious diffs.
"""

from __future__ import annotations

import pickle
from typing import Any

_INSTALLED_MARK = "_awms_flat_serialisation"


def install() -> None:
    """Idempotently guard the SDK's provider serialiser (a no-op once installed)."""
    from pulumi.dynamic import dynamic

    current: Any = dynamic.serialize_provider
    if getattr(current, _INSTALLED_MARK, False):
        return
    pickler: Any = pickle._Pickler
    batch_setitems = pickler._batch_setitems
    save_dict = pickler.save_dict

    def serialize_provider(provider: Any) -> str:
        try:
            pickler._batch_setitems = batch_setitems
            pickler.save_dict = save_dict
            result: str = current(provider)
            return result
        finally:
            pickler._batch_setitems = batch_setitems
            pickler.save_dict = save_dict

    setattr(serialize_provider, _INSTALLED_MARK, True)
    dynamic.serialize_provider = serialize_provider
