"""The C-ECHO prober: is each monitored device up?

Every interval it echoes each monitored device (a pynetdicom SCU, on a worker thread so the
event loop never blocks). N failures in a row open a down interval, dated from the first of
them; the first success closes it (DESIGN.md, "Equipment figures"). Every probe extends the
time the device is known about; every transition is stored with its time and reason. Where
several gateways share PostgreSQL only the holder of the probe lock probes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pynetdicom import AE
from pynetdicom.sop_class import Verification

from outbound.periodic import LeaderLock, Periodic
from store.equipment import DOWN, UP, ProbeTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Echo:
    """One probe's result: answered or not, and why not."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Watch:
    """What the prober knows of one device between probes."""

    state: str = UP
    failures: int = 0
    first_failure_at: datetime | None = None
    first_failure_reason: str = ""


def observe(
    watch: Watch, echo: Echo, at: datetime, failures_to_down: int
) -> tuple[Watch, tuple[str, datetime, str] | None]:
    """The device's watch after a probe, and the transition it makes: (state, since, reason)."""
    if echo.ok:
        back = Watch(state=UP)
        if watch.state == DOWN:
            return back, (UP, at, "answered C-ECHO")
        return back, None
    failures = watch.failures + 1
    first_at = watch.first_failure_at or at
    first_reason = watch.first_failure_reason or echo.reason
    failing = replace(
        watch, failures=failures, first_failure_at=first_at, first_failure_reason=first_reason
    )
    if watch.state == UP and failures >= failures_to_down:
        reason = f"{failures} C-ECHO failures in a row ({first_reason})"
        return replace(failing, state=DOWN), (DOWN, first_at, reason)
    return failing, None


def echo_device(target: ProbeTarget, calling_ae: str, timeout: float) -> Echo:
    """C-ECHO a device (blocking; run it on a worker thread)."""
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = timeout
    try:
        assoc = ae.associate(target.host, target.port, ae_title=target.ae_title)
    except OSError as exc:
        return Echo(False, f"connection failed: {exc.strerror or exc}")
    if assoc.is_rejected:
        return Echo(False, "association rejected")
    if assoc.is_aborted:
        return Echo(False, "association aborted")
    if not assoc.is_established:
        return Echo(False, "refused or timed out")
    try:
        status = assoc.send_c_echo()
        if not status or "Status" not in status:
            return Echo(False, "no answer to C-ECHO (timeout)")
        if status.Status != 0x0000:
            return Echo(False, f"C-ECHO status 0x{int(status.Status):04X}")
        return Echo(True)
    finally:
        assoc.release()


Targets = Callable[[], Awaitable[list[ProbeTarget]]]
Record = Callable[[ProbeTarget, datetime, tuple[str, datetime, str] | None], Awaitable[None]]
Echoer = Callable[[ProbeTarget], Echo]


class Prober:
    """Probes the monitored devices every interval while it holds the probe lock."""

    def __init__(
        self,
        targets: Targets,
        record: Record,
        *,
        interval: float,
        failures_to_down: int,
        is_leader: LeaderLock,
        echo: Echoer,
        states: dict[int, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._targets = targets
        self._record = record
        self._failures_to_down = failures_to_down
        self._echo = echo
        self._clock = clock
        self._watches = {device: Watch(state=state) for device, state in (states or {}).items()}
        self._job = Periodic("probe round", self.probe_all, interval=interval, is_leader=is_leader)

    async def start(self) -> None:
        """Begin probing in the background."""
        await self._job.start()

    async def close(self) -> None:
        """Stop probing (a probe in flight is abandoned; it is not recorded)."""
        await self._job.close()

    async def probe_all(self) -> None:
        """One round: echo every monitored device at once, then record what changed."""
        targets = await self._targets()
        at = self._clock()
        results = await asyncio.gather(
            *(asyncio.to_thread(self._echo, target) for target in targets)
        )
        for target, echo in zip(targets, results, strict=True):
            watch = self._watches.get(target.device_id, Watch())
            watch, transition = observe(watch, echo, at, self._failures_to_down)
            self._watches[target.device_id] = watch
            if transition is not None:
                log.warning("device %s is %s: %s", target.ae_title, transition[0], transition[2])
            await self._record(target, at, transition)
