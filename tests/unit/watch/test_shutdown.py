"""Draining the worker: let it finish, else interrupt it, else give up loudly."""

from __future__ import annotations

import threading

from components.watch.shutdown import drain


def test_finished_worker_drains_without_interrupting() -> None:
    worker = threading.Thread(target=lambda: None)
    worker.start()
    calls: list[int] = []

    def interrupt() -> bool:
        calls.append(1)
        return True

    assert drain(worker, interrupt, grace=5, cancel_timeout=5)
    assert calls == []


def test_slow_worker_is_interrupted_after_the_grace_period() -> None:
    release = threading.Event()
    worker = threading.Thread(target=lambda: release.wait(10))
    worker.start()

    def interrupt() -> bool:
        release.set()
        return True

    assert drain(worker, interrupt, grace=0.05, cancel_timeout=5)


def test_a_worker_that_ignores_the_interrupt_is_reported() -> None:
    release = threading.Event()
    worker = threading.Thread(target=lambda: release.wait(10))
    worker.start()
    assert not drain(worker, lambda: True, grace=0.01, cancel_timeout=0.05)
    release.set()
    worker.join()
