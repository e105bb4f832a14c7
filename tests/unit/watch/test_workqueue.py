"""Debounce, merging, retries and escalation of pending work."""

from __future__ import annotations

import threading

from components.watch.changes import Change, ChangeKind
from components.watch.workqueue import Pending, WorkQueue


def binding(key: str) -> Change:
    return Change(ChangeKind.BINDING, key, f"binding {key}: spec.replicas changed")


def full(key: str, reason: str = "added") -> Change:
    return Change(ChangeKind.FULL, key, f"binding {key} {reason}")


def test_a_burst_becomes_one_targeted_batch_after_it_is_quiet() -> None:
    pending = Pending(debounce=1.0, max_delay=10.0)
    pending.add(binding("ns/a"), 0.0)
    pending.add(binding("ns/b"), 0.5)
    assert pending.next_due() == 1.5
    assert pending.take(1.2) is None  # b arrived only 0.7s ago
    batch = pending.take(1.5)
    assert batch is not None and not batch.full
    assert batch.targeted_keys == {"ns/a", "ns/b"}
    assert batch.reasons == ("binding ns/a", "binding ns/b")
    assert not pending


def test_constant_churn_cannot_starve_work_beyond_max_delay() -> None:
    pending = Pending(debounce=1.0, max_delay=3.0)
    for tick in range(7):
        pending.add(binding("ns/a"), tick * 0.5)
    batch = pending.take(3.0)
    assert batch is not None and batch.targeted_keys == {"ns/a"}


def test_ignored_changes_add_nothing() -> None:
    pending = Pending()
    pending.add(Change(ChangeKind.IGNORE, "ns/a", "status only"), 0.0)
    assert not pending and pending.next_due() is None


def test_due_targeted_work_goes_before_due_full_work() -> None:
    pending = Pending(debounce=0.5, max_delay=5.0)
    pending.add(full("ns/b"), 0.0)
    pending.add(binding("ns/a"), 0.1)
    first = pending.take(1.0)
    assert first is not None and not first.full and first.targeted_keys == {"ns/a"}
    second = pending.take(1.0)
    assert second is not None and second.full and second.full_keys == {"ns/b"}


def test_a_due_full_run_takes_undue_targeted_work_along() -> None:
    pending = Pending(debounce=0.5, max_delay=5.0)
    pending.request_full("start-up", 0.0, immediate=True)
    pending.add(binding("ns/a"), 0.9)
    batch = pending.take(1.0)
    assert batch is not None and batch.full
    assert batch.targeted_keys == {"ns/a"} and batch.reasons == ("start-up",)
    assert not pending


def test_a_preempted_full_run_is_requeued_without_counting_a_failure() -> None:
    pending = Pending(debounce=0.0, max_delay=0.0)
    pending.request_full("resync", 0.0, immediate=True)
    batch = pending.take(0.0)
    assert batch is not None and batch.attempt == 1 and batch.preemptions == 0
    pending.add(binding("ns/login"), 1.0)
    pending.requeue(batch, 1.0)
    login = pending.take(1.0)
    assert login is not None and not login.full
    again = pending.take(1.0)
    assert again is not None and again.full
    assert again.attempt == 1 and again.preemptions == 1 and again.reasons == ("resync",)


def test_immediate_full_requests_skip_the_debounce() -> None:
    pending = Pending(debounce=5.0, max_delay=60.0)
    pending.request_full("start-up", 100.0, immediate=True)
    batch = pending.take(100.0)
    assert batch is not None and batch.full and batch.attempt == 1


def test_failed_targeted_work_is_retried_after_the_delay_then_escalated() -> None:
    pending = Pending(debounce=0.0, max_delay=0.0, escalate_after=2)
    pending.add(binding("ns/a"), 0.0)
    first = pending.take(0.0)
    assert first is not None and first.attempt == 1
    pending.failed(first, now=0.0, delay=4.0)
    assert pending.take(3.9) is None
    second = pending.take(4.0)
    assert second is not None and not second.full and second.attempt == 2
    pending.failed(second, now=4.0, delay=8.0)
    escalated = pending.take(4.0)
    assert escalated is not None and escalated.full
    assert escalated.full_keys == {"ns/a"}
    assert "failed 2 times" in escalated.reasons[0]


def test_failed_full_run_keeps_its_reasons_and_releases_logins_at_once() -> None:
    """One broken binding failing every full run must not hold up another user's login."""
    pending = Pending(debounce=1.0, max_delay=5.0)
    pending.request_full("binding ns/broken added", 0.0, immediate=True)
    pending.add(binding("ns/login"), 0.0)  # not due yet: rides along with the full run
    batch = pending.take(0.0)
    assert batch is not None and batch.full and batch.targeted_keys == {"ns/login"}
    pending.failed(batch, now=0.0, delay=30.0)
    login = pending.take(0.0)
    assert login is not None and not login.full and login.targeted_keys == {"ns/login"}
    assert pending.take(29.0) is None
    retry = pending.take(30.0)
    assert retry is not None and retry.full and retry.attempt == 2
    assert retry.reasons == ("binding ns/broken added",)


def test_escalate_turns_a_targeted_batch_into_an_immediate_full_run() -> None:
    pending = Pending(debounce=0.0, max_delay=0.0)
    pending.add(binding("ns/a"), 0.0)
    batch = pending.take(0.0)
    assert batch is not None
    pending.escalate(batch, "not in the stack yet", 0.0)
    again = pending.take(0.0)
    assert again is not None and again.full and again.full_keys == {"ns/a"}


def test_wait_targeted_due_returns_when_a_login_is_due_or_when_done() -> None:
    queue = WorkQueue(Pending(debounce=0.0, max_delay=0.0))
    done = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(queue.wait_targeted_due(done)))
    thread.start()
    queue.add(full("ns/x"))  # full work does not count
    queue.add(binding("ns/a"))
    thread.join(5)
    assert result == [True]
    done.set()
    assert not queue.wait_targeted_due(done)


def test_work_queue_wakes_the_worker_and_closes() -> None:
    queue = WorkQueue(Pending(debounce=0.0, max_delay=0.0))
    got: list[object] = []
    thread = threading.Thread(target=lambda: got.append(queue.take()))
    thread.start()
    queue.add(binding("ns/a"))
    thread.join(5)
    assert not thread.is_alive() and got and got[0] is not None
    assert queue.take(timeout=0.01) is None
    queue.close()
    assert queue.take() is None


def test_waiting_for_a_lock_is_neither_counted_nor_escalated() -> None:
    pending = Pending(debounce=0.0, max_delay=0.0, escalate_after=2)
    pending.add(binding("ns/a"), 0.0)
    batch = pending.take(0.0)
    for now in (0.0, 10.0, 20.0):
        assert batch is not None and not batch.full and batch.attempt == 1
        pending.failed(batch, now=now, delay=10.0, counted=False)
        batch = pending.take(now + 10.0)
