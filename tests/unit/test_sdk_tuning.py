"""components.sdk_tuning against the pinned SDK: the wait loop it retargets, what the loop costs
with and without it, and the debug messages it drops."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pulumi.log
import pulumi.runtime.stack
import pytest
from pulumi.runtime.settings import SETTINGS

from components import sdk_tuning

TRACKED = 200
sdk_stack: Any = pulumi.runtime.stack
"""The SDK module whose ``asyncio`` global the tuning replaces (typed loosely: it is private)."""


@pytest.fixture()
def pristine_sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts from the SDK as shipped and leaves it so."""
    monkeypatch.setattr(sdk_stack, "asyncio", asyncio)
    monkeypatch.setattr(pulumi.log, "debug", pulumi.log.debug)
    yield


def test_the_sdk_still_waits_for_outputs_with_first_completed() -> None:
    """What tune_sdk retargets: if an SDK upgrade changes this loop, the tuning must be
    reviewed (and dropped if the SDK no longer waits this way)."""
    source = inspect.getsource(sdk_stack.wait_for_rpcs)
    assert "asyncio.wait(" in source
    assert "return_when=asyncio.FIRST_COMPLETED" in source
    assert "SETTINGS.outputs" in source
    assert sdk_stack.asyncio is asyncio or isinstance(
        sdk_stack.asyncio, sdk_tuning._AsyncioWaitingForFailures
    )


def _count_waits_while_draining(tracked: int) -> int:
    """Run the SDK's own ``wait_for_rpcs`` over ``tracked`` Outputs finishing one after another;
    how many ``asyncio.wait`` calls (each hooking onto every pending Output) it made."""
    calls = 0
    real_wait = sdk_stack.asyncio.wait

    async def counting_wait(fs: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real_wait(fs, **kwargs)

    async def drain() -> None:
        async def finish(before: asyncio.Future[None] | None) -> None:
            if before is not None:
                await before  # so they finish one per turn of the event loop, in order
            await asyncio.sleep(0)

        tasks: list[asyncio.Future[None]] = []
        for _ in range(tracked):
            tasks.append(asyncio.ensure_future(finish(tasks[-1] if tasks else None)))
        with SETTINGS.lock:
            SETTINGS.outputs.update(tasks)
        await sdk_stack.wait_for_rpcs()

    namespace = sdk_stack.asyncio
    patched = type("CountingAsyncio", (), {"__getattr__": lambda _s, n: getattr(namespace, n)})()
    patched.wait = counting_wait
    original = sdk_stack.asyncio
    sdk_stack.asyncio = patched
    try:
        asyncio.run(drain())
    finally:
        sdk_stack.asyncio = original
    return calls


@pytest.mark.usefixtures("pristine_sdk")
def test_untuned_loop_waits_once_per_completion() -> None:
    """The cost the tuning removes: one pass over every pending Output per completion."""
    assert _count_waits_while_draining(TRACKED) >= TRACKED // 4


@pytest.mark.usefixtures("pristine_sdk")
def test_tuned_loop_waits_once_for_all_of_them() -> None:
    sdk_tuning.tune_sdk({})
    assert _count_waits_while_draining(TRACKED) <= 2
    assert not SETTINGS.outputs


@pytest.mark.usefixtures("pristine_sdk")
def test_tuned_wait_still_stops_at_the_first_failure() -> None:
    """A failed Output must end the wait at once (the SDK then raises it), not after every
    other Output is done."""
    sdk_tuning.tune_sdk({})

    async def scenario() -> tuple[set[Any], set[Any]]:
        async def fail() -> None:
            raise RuntimeError("registration failed")

        slow = asyncio.ensure_future(asyncio.sleep(30))
        failing = asyncio.ensure_future(fail())
        try:
            return await asyncio.wait_for(
                sdk_stack.asyncio.wait([slow, failing], return_when=asyncio.FIRST_COMPLETED), 5
            )
        finally:
            slow.cancel()

    done, pending = asyncio.run(scenario())
    assert len(done) == 1 and len(pending) == 1
    assert isinstance(next(iter(done)).exception(), RuntimeError)


@pytest.mark.usefixtures("pristine_sdk")
def test_tuned_wait_for_rpcs_raises_a_failed_output() -> None:
    sdk_tuning.tune_sdk({})

    async def scenario() -> None:
        async def fail() -> None:
            await asyncio.sleep(0.01)
            raise RuntimeError("output failed")

        task = asyncio.ensure_future(fail())
        with SETTINGS.lock:
            SETTINGS.outputs.add(task)
        await sdk_stack.wait_for_rpcs()

    with pytest.raises(RuntimeError, match="output failed"):
        asyncio.run(scenario())
    SETTINGS.outputs.clear()


@pytest.mark.usefixtures("pristine_sdk")
def test_other_asyncio_names_pass_through() -> None:
    sdk_tuning.tune_sdk({})
    assert sdk_stack.asyncio.sleep is asyncio.sleep
    assert sdk_stack.asyncio.FIRST_COMPLETED == asyncio.FIRST_COMPLETED
    tuned = sdk_stack.asyncio
    sdk_tuning.tune_sdk({})
    assert sdk_stack.asyncio is tuned


@pytest.mark.usefixtures("pristine_sdk")
def test_debug_messages_are_dropped_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(pulumi.log, "_log", lambda _e, _s, message, *_a: sent.append(message))
    monkeypatch.setattr(pulumi.log, "get_engine", lambda: object())
    original = pulumi.log.debug

    sdk_tuning.tune_sdk({sdk_tuning.DEBUG_LOG_ENV: "1"})
    pulumi.log.debug("kept")
    assert pulumi.log.debug is original and sent == ["kept"]

    sdk_tuning.tune_sdk({})
    pulumi.log.debug("dropped")
    pulumi.log.warn("warnings still go to the engine")
    assert sent == ["kept", "warnings still go to the engine"]
