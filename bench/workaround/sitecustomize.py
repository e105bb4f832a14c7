"""Work around a Pulumi Python SDK defect that stops programs with ~985 dynamic resources.

``pulumi.dynamic.dynamic.serialize_provider`` (SDK 3.259.0) wraps
``pickle._Pickler._batch_setitems`` in a new sorting wrapper on every call and never restores
it (its ``finally`` restores only ``pickle.Pickler``), so each dynamic resource constructed in
the program process adds one level of recursion to every later serialisation. With Python's
default recursion limit the 985th serialisation raises ``RecursionError``: at 4 dynamic
resources per binding the program cannot declare more than about 240 bindings.

The benchmark puts this directory on ``PYTHONPATH`` of the pulumi processes it starts, so the
interpreter imports this module at start-up; it wraps ``serialize_provider`` to put the original
pickler methods back around each call. The serialised bytes are unchanged (one sorting wrapper
sorts exactly as a thousand nested ones do). ``python -m bench --no-workaround`` leaves it out.
"""

from __future__ import annotations

import pickle
from typing import Any


def _install() -> None:
    try:
        from pulumi.dynamic import dynamic
    except ImportError:  # not a pulumi process
        return
    pickler: Any = pickle._Pickler
    batch_setitems = pickler._batch_setitems
    save_dict = pickler.save_dict
    serialize = dynamic.serialize_provider

    def serialize_provider(provider: Any) -> str:
        try:
            pickler._batch_setitems = batch_setitems
            pickler.save_dict = save_dict
            result: str = serialize(provider)
            return result
        finally:
            pickler._batch_setitems = batch_setitems
            pickler.save_dict = save_dict

    dynamic.serialize_provider = serialize_provider


_install()
