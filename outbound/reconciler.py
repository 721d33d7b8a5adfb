"""The PACS reconciler: on a schedule, ask the PACS for the studies of the window of orders
that should have images, and record what it lacks and what it holds for no order.

The C-FIND is blocking pynetdicom work and runs on a worker thread. A PACS that does not
answer is recorded as such (a finding of its own), never raised. The outcome goes through the
one writer as an event, like every other change. Where several gateways share PostgreSQL only
the holder of the reconciler's lock runs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from mappers.events import PacsOrderMissing, PacsReconciled, PacsStudyHeld
from outbound.pacs import ExpectedStudy, PacsStudy, PacsUnreachable, reconcile
from outbound.periodic import LeaderLock, Periodic

log = logging.getLogger(__name__)

# How far back an order's completion still counts: a day of orders per reconciliation.
LOOKBACK = timedelta(days=1)

Expected = Callable[[datetime, datetime], Awaitable[Sequence[ExpectedStudy]]]
Known = Callable[[Sequence[PacsStudy]], Awaitable[tuple[set[str], set[str]]]]
Find = Callable[[date, date], list[PacsStudy]]
Record = Callable[[PacsReconciled], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Window:
    """The orders completed in [first, last) should have their study in the PACS; it is
    asked for the studies dated `first_date` to `last_date` (facility-local dates)."""

    first: datetime
    last: datetime
    first_date: date
    last_date: date


def window_at(now: datetime, settle: timedelta, tz: tzinfo) -> Window:
    """The window a reconciliation at `now` looks at: orders completed a day up to `settle`
    ago (a newer one may not have reached the PACS yet), their study dates from the day
    before the first (a study begun before midnight) to today."""
    first, last = now - LOOKBACK - settle, now - settle
    first_date = first.astimezone(tz).date() - timedelta(days=1)
    return Window(first, last, first_date, now.astimezone(tz).date())


def outcome(
    checked_at: datetime,
    window: Window,
    expected: Sequence[ExpectedStudy],
    held: Sequence[PacsStudy],
    known: tuple[set[str], set[str]],
) -> PacsReconciled:
    """The reconciliation's event: the orders whose study the PACS lacks, and the studies it
    holds that no order in the store explains (`known`: explained UIDs and accessions)."""
    found = reconcile(expected, held)
    known_uids, known_accessions = known
    unordered = [
        s
        for s in found.unordered
        if s.study_instance_uid not in known_uids and s.accession not in known_accessions
    ]
    return PacsReconciled(
        checked_at=checked_at,
        window_first=window.first_date,
        window_last=window.last_date,
        reachable=True,
        missing=tuple(
            PacsOrderMissing(o.accession, o.study_instance_uid, o.patient_id) for o in found.missing
        ),
        unordered=tuple(
            PacsStudyHeld(
                s.study_instance_uid, s.accession, s.patient_id, s.study_date, s.modalities
            )
            for s in unordered
        ),
    )


class PacsReconciler:
    """Reconciles with the PACS every interval while it holds the reconciler's lock."""

    def __init__(
        self,
        *,
        find: Find,
        expected: Expected,
        known: Known,
        record: Record,
        interval: float,
        settle: timedelta,
        tz: tzinfo,
        is_leader: LeaderLock,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._find = find
        self._expected = expected
        self._known = known
        self._record = record
        self._settle = settle
        self._tz = tz
        self._clock = clock
        self._job = Periodic(
            "PACS reconciliation", self.reconcile_once, interval=interval, is_leader=is_leader
        )

    async def start(self) -> None:
        """Begin reconciling in the background."""
        await self._job.start()

    async def close(self) -> None:
        """Stop (a C-FIND in flight finishes on its thread; its outcome is not recorded)."""
        await self._job.close()

    async def reconcile_once(self) -> PacsReconciled:
        """One reconciliation, recorded; its event."""
        now = self._clock()
        window = window_at(now, self._settle, self._tz)
        try:
            held = await asyncio.to_thread(self._find, window.first_date, window.last_date)
        except PacsUnreachable as exc:
            log.warning("PACS reconciliation: %s", exc)
            event = PacsReconciled(
                checked_at=now,
                window_first=window.first_date,
                window_last=window.last_date,
                reachable=False,
                error=str(exc)[:1000],
            )
        else:
            expected = await self._expected(window.first, window.last)
            known = await self._known(held)
            event = outcome(now, window, expected, held, known)
            log.info(
                "PACS reconciliation: %d studies held, %d missing, %d for no order",
                len(held),
                len(event.missing),
                len(event.unordered),
            )
        await self._record(event)
        return event
