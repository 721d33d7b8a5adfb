"""A lingering writer is woken once, when the messages it waits for are queued, and a
submitter of an earlier wait cannot end a later one."""

from __future__ import annotations

import asyncio
import threading
import time

from store.senders import Linger


class _Queue:
    def __init__(self) -> None:
        self.size = 0

    def put(self, linger: Linger) -> None:
        self.size += 1
        linger.tell()


def test_the_thread_waits_until_enough_are_queued() -> None:
    queued = _Queue()
    linger = Linger(5.0, lambda: queued.size)
    woke: list[float] = []

    def writer() -> None:
        started = time.monotonic()
        linger.wait(3)
        woke.append(time.monotonic() - started)

    thread = threading.Thread(target=writer)
    thread.start()
    for _ in range(3):
        time.sleep(0.02)
        assert not woke  # two are not enough
        queued.put(linger)
    thread.join(2.0)
    assert woke and woke[0] < 2.0  # woken by the third, long before the five seconds


def test_the_wait_ends_at_its_time_when_too_few_come() -> None:
    queued = _Queue()
    linger = Linger(0.05, lambda: queued.size)
    queued.put(linger)
    started = time.monotonic()
    linger.wait(3)
    assert 0.04 <= time.monotonic() - started < 1.0


def test_no_wait_when_they_are_queued_already() -> None:
    queued = _Queue()
    linger = Linger(5.0, lambda: queued.size)
    for _ in range(4):
        queued.put(linger)
    started = time.monotonic()
    linger.wait(4)
    linger.wait(0)
    assert time.monotonic() - started < 1.0


def test_a_tell_of_an_earlier_wait_does_not_end_the_next() -> None:
    """The queue filled for one wait and was taken; a late tell must not wake the next."""
    queued = _Queue()
    linger = Linger(0.2, lambda: queued.size)
    queued.size = 2
    linger.wait(2)  # satisfied at once
    queued.size = 0  # the writer took the batch
    linger.tell()  # a submitter of the last batch, late
    started = time.monotonic()
    linger.wait(2)  # nothing queued: waits its whole time
    assert time.monotonic() - started >= 0.15


async def test_the_task_waits_until_enough_are_queued() -> None:
    queued = _Queue()
    linger = Linger(5.0, lambda: queued.size)

    async def submit() -> None:
        for _ in range(2):
            await asyncio.sleep(0.01)
            queued.put(linger)

    started = time.monotonic()
    await asyncio.gather(linger.wait_async(2), submit())
    assert time.monotonic() - started < 2.0
    short = Linger(0.05, lambda: queued.size)
    started = time.monotonic()
    await short.wait_async(3)  # one short: ends at its time
    assert 0.04 <= time.monotonic() - started < 1.0
