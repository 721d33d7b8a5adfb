"""Play a planned day against a running gateway: HL7 over MLLP, DICOM from the simulated
scanners, devices registered over HTTP, and one scanner that stops answering C-ECHO a while.

The day runs up to now and a little beyond: what lies in the past is sent at once (or at
`speed` times real time), what lies ahead when its moment comes, so every message carries a
time that has already happened and the dashboard moves as a real department's would.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp

from gateway.replay import MllpSender
from gateway.simulation.department import SCANNERS, Event, Step, plan_day
from gateway.simulation.hl7 import hl7_message
from gateway.simulation.modality import Modality

log = logging.getLogger(__name__)

_DICOM_STEPS = (Step.START, Step.IMAGES, Step.COMPLETE)


@dataclass(frozen=True)
class Peers:
    """Where the gateway listens, and the token its API wants (None when open)."""

    mllp: tuple[str, int]
    dicom: tuple[str, int, str]  # host, port, called AE title
    http_url: str
    token: str | None = None


@dataclass(frozen=True)
class DayOptions:
    """What day to play, and how fast."""

    exams: int = 60
    past_hours: float = 9.0
    ahead_hours: float = 1.0
    speed: float = 0.0  # the past: 0 sends it at once, N plays it N times faster than real
    seed: int = 1
    # The scanner that stops answering C-ECHO: (AE title, seconds after start, seconds down).
    outage: tuple[str, float, float] | None = ("MR01", 20.0, 240.0)


@dataclass
class Tally:
    """What was sent, and what the gateway did not accept."""

    sent: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)


async def simulate(
    peers: Peers,
    options: DayOptions,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Tally:
    """Play the day; return the tally once the last event is sent and the outage is over.

    Raises:
        OSError, aiohttp.ClientError: the gateway cannot be reached.
    """
    started = clock()
    first = started - timedelta(hours=options.past_hours)
    plan = plan_day(first, options.past_hours + options.ahead_hours, options.exams, options.seed)
    host, port, called = peers.dicom
    modalities = {s.ae_title: Modality(s, host, port, called) for s in SCANNERS}
    for modality in modalities.values():
        await asyncio.to_thread(modality.answer_echo)
    tally = Tally()
    try:
        await _register(peers, modalities)
        outage = asyncio.create_task(_outage(modalities, options.outage, sleep))
        sender = await MllpSender.connect(*peers.mllp)
        try:
            for event in plan:
                due = _due(event.at, started, first, options.speed)
                if (wait := (due - clock()).total_seconds()) > 0:
                    await sleep(wait)
                await _play(event, sender, modalities[event.exam.scanner.ae_title], tally)
        finally:
            await sender.close()
        await outage
    finally:
        for modality in modalities.values():
            await asyncio.to_thread(modality.stop_answering)
    return tally


def _due(at: datetime, started: datetime, first: datetime, speed: float) -> datetime:
    """When to send an event of time `at`: never before it happened; the past compressed."""
    if speed <= 0:
        return max(started, at)
    return max(started + (at - first) / speed, at)


async def _play(event: Event, sender: MllpSender, modality: Modality, tally: Tally) -> None:
    exam, at = event.exam, event.at
    if event.step in _DICOM_STEPS:
        if event.step is Step.START:
            statuses = [await asyncio.to_thread(modality.start_exam, exam, at)]
        elif event.step is Step.IMAGES:
            statuses = await asyncio.to_thread(modality.store_images, exam, at)
        else:
            statuses = [await asyncio.to_thread(modality.complete_exam, exam, at)]
        ok = all(status == 0 for status in statuses)
    else:
        ok = (await sender.send(hl7_message(event))).ack_code in ("AA", "CA")
    tally.sent[event.step.value] += 1
    if not ok:
        tally.refused.append(f"{exam.accession} {event.step.value}")
        log.warning("%s %s was not accepted", exam.accession, event.step.value)


async def _register(peers: Peers, modalities: dict[str, Modality]) -> None:
    """Register every scanner, monitored, at the port where it answers C-ECHO."""
    headers = {"Authorization": f"Bearer {peers.token}"} if peers.token else {}
    async with aiohttp.ClientSession(headers=headers) as http:
        for ae_title, modality in modalities.items():
            scanner = modality.scanner
            body = {
                "host": "127.0.0.1",
                "port": modality.echo_port,
                "modality": scanner.modality,
                "name": scanner.name,
                "location": scanner.location,
                "monitored": True,
            }
            url = f"{peers.http_url}/api/v1/devices/{ae_title}"
            async with http.put(url, json=body) as response:
                response.raise_for_status()


async def _outage(
    modalities: dict[str, Modality],
    outage: tuple[str, float, float] | None,
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    if outage is None:
        return
    ae_title, after, lasting = outage
    await sleep(after)
    await asyncio.to_thread(modalities[ae_title].stop_answering)
    log.info("%s stops answering C-ECHO for %g s", ae_title, lasting)
    await sleep(lasting)
    await asyncio.to_thread(modalities[ae_title].answer_echo)
    log.info("%s answers C-ECHO again", ae_title)
