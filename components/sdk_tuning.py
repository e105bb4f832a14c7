"""Two changes to the Pulumi Python SDK's run loop, so a stack of hundreds of resources costs
the program time linear in its size.

* Once the program body has returned, ``pulumi.runtime.stack.wait_for_rpcs`` waits for every
  Output still tracked, with ``asyncio.wait(pending, return_when=FIRST_COMPLETED)`` in a loop.
  Each pass hooks a callback onto every pending Output and ends at the next completion, so n
  Outputs cost about n²/2 hook-ups: an 80-binding stack tracks about 2,200 Outputs and spent
  230,000 hook-ups, a third of the program's CPU time, in a ``preview`` with nothing to change.
  The same loop waiting with ``FIRST_EXCEPTION`` keeps what it is for: a failed Output still
  ends the wait at once and its exception is raised, and Outputs created meanwhile are picked up
  by the next pass; a pass now lasts until the Outputs it waits for are done.
* ``pulumi.log.debug`` sends each message to the engine as a blocking gRPC call, about four per
  resource, although the CLI shows them only with ``--debug``. They are dropped unless
  :data:`DEBUG_LOG_ENV` is set (to debug the SDK itself).

``tests/unit/test_sdk_tuning.py`` checks both against the SDK in ``requirements.txt``, so an SDK
upgrade that renames what they replace fails a test instead of silently losing them.
"""

from __future__ import annotations

import asyncio
import os
import types
from collections.abc import Iterable, Mapping
from typing import Any

import pulumi.log
import pulumi.runtime.stack as sdk_stack

DEBUG_LOG_ENV = "AWMS_SDK_DEBUG_LOG"
"""Set (to anything) to keep the SDK's debug messages (``pulumi up --debug`` shows them)."""


class _AsyncioWaitingForFailures(types.ModuleType):
    """``asyncio`` as ``pulumi.runtime.stack`` sees it: waits for the first completion are
    waits for the first failure, everything else is ``asyncio`` itself."""

    def __init__(self) -> None:
        super().__init__("asyncio")

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def wait(
        fs: Iterable[Any], *, timeout: float | None = None, return_when: str = asyncio.ALL_COMPLETED
    ) -> tuple[set[Any], set[Any]]:
        if return_when == asyncio.FIRST_COMPLETED:
            return_when = asyncio.FIRST_EXCEPTION
        return await asyncio.wait(fs, timeout=timeout, return_when=return_when)


def _dropped(*_args: Any, **_kwargs: Any) -> None:
    """Where ``pulumi.log.debug`` messages go unless :data:`DEBUG_LOG_ENV` is set."""


def tune_sdk(environ: Mapping[str, str] = os.environ) -> None:
    """Apply both changes (idempotent); call before the program declares anything."""
    if not isinstance(getattr(sdk_stack, "asyncio", None), _AsyncioWaitingForFailures):
        setattr(sdk_stack, "asyncio", _AsyncioWaitingForFailures())  # noqa: B010
    if not environ.get(DEBUG_LOG_ENV):
        setattr(pulumi.log, "debug", _dropped)  # noqa: B010
