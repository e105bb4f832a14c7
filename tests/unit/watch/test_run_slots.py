"""The process-wide limit on concurrent pulumi processes: capacity, logins first, give-ups."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from components.watch.run_slots import Priority, RunSlots, SlottedRunner
from components.watch.runner import RunOutcome
from components.watch.shutdown import drain_all


def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll a condition another thread brings about (bounded, never a timing assertion)."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.005)


def waiter(slots: RunSlots, priority: Priority, name: str, order: list[str]) -> threading.Thread:
    def body() -> None:
        if slots.acquire(priority):
            order.append(name)
            slots.release()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_no_more_than_capacity_slots_are_held() -> None:
    slots = RunSlots(2)
    assert slots.acquire(Priority.FULL) and slots.acquire(Priority.FULL)
    order: list[str] = []
    third = waiter(slots, Priority.FULL, "third", order)
    eventually(lambda: slots.waiting() == 1, "the third run waits")
    assert slots.held() == 2 and order == []
    slots.release()
    third.join(10)
    assert order == ["third"]
    slots.release()
    assert slots.held() == 0


def test_a_login_waiting_for_a_slot_goes_before_earlier_full_runs() -> None:
    slots = RunSlots(1)
    assert slots.acquire(Priority.FULL)
    order: list[str] = []
    threads = [waiter(slots, Priority.FULL, "full-1", order)]
    eventually(lambda: slots.waiting() == 1, "full-1 waits")
    threads.append(waiter(slots, Priority.FULL, "full-2", order))
    eventually(lambda: slots.waiting() == 2, "full-2 waits")
    threads.append(waiter(slots, Priority.LOGIN, "login", order))
    eventually(lambda: slots.waiting() == 3, "the login waits")
    slots.release()
    for thread in threads:
        thread.join(10)
    assert order == ["login", "full-1", "full-2"]


def test_close_makes_every_waiter_give_up() -> None:
    slots = RunSlots(1)
    assert slots.acquire(Priority.FULL)
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(slots.acquire(Priority.LOGIN)))
    thread.start()
    eventually(lambda: slots.waiting() == 1, "a waiter")
    slots.close()
    thread.join(10)
    assert results == [False]
    assert not slots.acquire(Priority.LOGIN)


class FakeRunner:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.interrupted = 0

    def up(self, **options: Any) -> RunOutcome:
        self.calls.append(options)
        return RunOutcome("up")

    def export(self) -> dict[str, Any]:
        return {"deployment": {}}

    def import_state(self, state: Any) -> None:
        self.calls.append({"import": state})

    def interrupt(self) -> bool:
        self.interrupted += 1
        return False


def test_a_run_takes_a_slot_and_gives_it_back() -> None:
    slots = RunSlots(1)
    runner = FakeRunner()
    slotted = SlottedRunner(runner, slots)
    assert slotted.up(targets=["urn"]).ok
    assert slotted.export() == {"deployment": {}}
    slotted.import_state({"x": 1})
    assert len(runner.calls) == 2 and slots.held() == 0


def test_interrupt_abandons_a_full_run_still_waiting_for_its_slot() -> None:
    slots = RunSlots(1)
    assert slots.acquire(Priority.FULL)  # another shard's run holds the only slot
    runner = FakeRunner()
    slotted = SlottedRunner(runner, slots)
    outcomes: list[RunOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(slotted.up()))
    thread.start()
    eventually(lambda: slots.waiting() == 1, "the full run waits for a slot")
    assert slotted.interrupt()
    thread.join(10)
    assert not outcomes[0].ok and "run slot" in outcomes[0].error
    assert runner.calls == [] and runner.interrupted == 0
    slots.release()
    assert slotted.up().ok  # the next run is not affected by the old interrupt
    assert len(runner.calls) == 1


def test_interrupt_reaches_the_running_cli_once_it_has_its_slot() -> None:
    runner = FakeRunner()
    slotted = SlottedRunner(runner, RunSlots(1))
    assert not slotted.interrupt()
    assert runner.interrupted == 1


class StuckWorker:
    """A shard worker whose update runs until interrupted; joining it lets fake time pass."""

    def __init__(self, clock: list[float], released: threading.Event) -> None:
        self.clock = clock
        self.released = released
        self.waits: list[float] = []

    def join(self, timeout: float | None = None) -> None:
        self.waits.append(timeout or 0.0)
        if not self.released.is_set():
            self.clock[0] += timeout or 0.0

    def is_alive(self) -> bool:
        return not self.released.is_set()


def test_all_shard_workers_drain_within_one_grace_period() -> None:
    now = [0.0]
    released = threading.Event()
    workers = [StuckWorker(now, released) for _ in range(3)]
    interrupts: list[float] = []

    def interrupt() -> bool:
        interrupts.append(now[0])
        released.set()
        return True

    stopped = drain_all(
        workers,  # type: ignore[arg-type]
        interrupt,
        grace=20.0,
        cancel_timeout=20.0,
        clock=lambda: now[0],
    )
    assert stopped
    assert interrupts == [20.0]  # one grace period for every shard, not 3 x 20 s
    assert [w.waits[0] for w in workers] == [20.0, 0.0, 0.0]


def test_a_worker_that_ignores_the_interrupt_makes_the_drain_unclean() -> None:
    now = [0.0]
    never = threading.Event()
    workers = [StuckWorker(now, never), StuckWorker(now, never)]
    stopped = drain_all(
        workers,  # type: ignore[arg-type]
        lambda: True,
        grace=5.0,
        cancel_timeout=5.0,
        clock=lambda: now[0],
    )
    assert not stopped
    assert now[0] == 10.0  # grace + cancel timeout once, whatever the number of shards
