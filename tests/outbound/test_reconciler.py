"""The PACS reconciler: its window, the outcome it records, and one run with the PACS's C-FIND
on a worker thread, answered or not, and only while this process leads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from mappers.events import PacsOrderMissing, PacsReconciled, PacsStudyHeld
from outbound.pacs import ExpectedStudy, PacsStudy, PacsUnreachable
from outbound.reconciler import LOOKBACK, PacsReconciler, Window, outcome, window_at

NOW = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)  # 01:30 in Berlin
SETTLE = timedelta(minutes=120)


def test_window_is_a_day_of_orders_up_to_the_settling_time() -> None:
    """Orders completed a day to `settle` ago; study dates from the day before the first,
    in the facility's zone, to today there."""
    window = window_at(NOW, SETTLE, ZoneInfo("Europe/Berlin"))
    assert window.last == NOW - SETTLE and window.first == NOW - SETTLE - LOOKBACK
    # first is 5 Dec 22:30 UTC = 5 Dec 23:30 Berlin; a day earlier is the 4th.
    assert (window.first_date, window.last_date) == (date(2026, 12, 4), date(2026, 12, 7))
    utc = window_at(NOW, SETTLE, ZoneInfo("UTC"))
    assert (utc.first_date, utc.last_date) == (date(2026, 12, 4), date(2026, 12, 7))


WINDOW = Window(NOW - timedelta(days=1), NOW, date(2026, 12, 5), date(2026, 12, 7))


def test_outcome_leaves_out_studies_some_order_explains() -> None:
    """Missing: expected orders the PACS lacks. Unordered: held studies no order in the store
    explains, by UID or by accession (an order not yet expected is still an order)."""
    expected = [ExpectedStudy("A1", "1.1", "P1"), ExpectedStudy("A2", "1.2", "P2")]
    held = [
        PacsStudy("1.1", "A1", "P1", "20261206", ("CT",)),
        PacsStudy("1.5", "A5", "P5", "20261206", ("CT",)),  # A5 is placed, not expected yet
        PacsStudy("1.6", "", "P6", "20261206", ("MR",)),  # linked to an order by UID
        PacsStudy("1.9", "X9", "P9", "20261206", ("MR",)),  # nobody's
    ]
    event = outcome(NOW, WINDOW, expected, held, ({"1.6"}, {"A5"}))
    assert event == PacsReconciled(
        checked_at=NOW,
        window_first=date(2026, 12, 5),
        window_last=date(2026, 12, 7),
        reachable=True,
        missing=(PacsOrderMissing("A2", "1.2", "P2"),),
        unordered=(PacsStudyHeld("1.9", "X9", "P9", "20261206", ("MR",)),),
    )


class Fakes:
    """The reconciler's surroundings: a PACS answer (or failure), and what was recorded."""

    def __init__(self, held: list[PacsStudy] | Exception) -> None:
        self.held = held
        self.recorded: list[PacsReconciled] = []
        self.threads: list[str] = []
        self.leader = True

    def find(self, first: date, last: date) -> list[PacsStudy]:
        self.threads.append(threading.current_thread().name)
        if isinstance(self.held, Exception):
            raise self.held
        return self.held

    async def expected(self, first: datetime, last: datetime) -> list[ExpectedStudy]:
        return [ExpectedStudy("A1", "1.1", "P1")]

    async def known(self, held: Sequence[PacsStudy]) -> tuple[set[str], set[str]]:
        return set(), set()

    async def record(self, event: PacsReconciled) -> None:
        self.recorded.append(event)

    async def is_leader(self) -> bool:
        return self.leader

    def reconciler(self, interval: float = 3600.0) -> PacsReconciler:
        return PacsReconciler(
            find=self.find,
            expected=self.expected,
            known=self.known,
            record=self.record,
            interval=interval,
            settle=SETTLE,
            tz=ZoneInfo("UTC"),
            is_leader=self.is_leader,
            clock=lambda: NOW,
        )


async def test_a_run_records_what_the_pacs_lacks_asking_it_off_the_event_loop() -> None:
    """The C-FIND runs on a worker thread; the outcome is recorded once."""
    fakes = Fakes([])
    event = await fakes.reconciler().reconcile_once()
    assert fakes.recorded == [event]
    assert event.reachable and [m.accession for m in event.missing] == ["A1"]
    assert fakes.threads and fakes.threads[0] != threading.main_thread().name


async def test_a_pacs_that_does_not_answer_is_recorded_not_raised() -> None:
    """PacsUnreachable becomes an outcome with its reason; nothing else is asked."""
    fakes = Fakes(PacsUnreachable("PACS at pacs:104: no association"))
    event = await fakes.reconciler().reconcile_once()
    assert fakes.recorded == [event]
    assert not event.reachable and "no association" in event.error
    assert (event.missing, event.unordered) == ((), ())


async def test_the_job_runs_only_while_this_process_leads() -> None:
    """Started, it reconciles at once when leading; a follower records nothing."""
    leading, following = Fakes([]), Fakes([])
    following.leader = False
    jobs = [leading.reconciler(interval=0.05), following.reconciler(interval=0.05)]
    for job in jobs:
        await job.start()
    await asyncio.sleep(0.2)
    for job in jobs:
        await job.close()
    assert len(leading.recorded) >= 2 and following.recorded == []
