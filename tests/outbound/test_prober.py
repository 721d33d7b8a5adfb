"""The C-ECHO prober against a real modality (a pynetdicom SCP) that goes away and comes back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification
from sqlalchemy import select

from gateway.config import Settings
from mappers.events import DeviceRegistration
from store.schema import device_transitions, probe_sessions
from tests.conftest import (
    PostgresServer,
    RunningGateway,
    gateway_settings,
    start_gateway,
)


class Modality:
    """A Verification SCP on a fixed port that the test can stop and start again."""

    def __init__(self, port: int, ae_title: str = "CT01") -> None:
        self.port, self.ae_title = port, ae_title
        self.callers: list[str] = []
        self._lock = threading.Lock()
        self._server = None

    def start(self) -> None:
        ae = AE(ae_title=self.ae_title)
        ae.add_supported_context(Verification)
        handlers = [(evt.EVT_C_ECHO, self._on_echo)]
        self._server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)
        # Port 0 binds a free port the first time; a restart comes back on the same one.
        self.port = self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _on_echo(self, event: evt.Event) -> int:
        with self._lock:
            self.callers.append(str(event.assoc.requestor.ae_title).strip())
        return 0x0000


@pytest.fixture
def modality() -> Iterator[Modality]:
    """A running modality; stopped at the end."""
    device = Modality(0)
    device.start()
    yield device
    device.stop()


def _settings(database_url: str, ae_title: str = "IMAGING_GW") -> Settings:
    return gateway_settings(
        database_url,
        probe={"interval": 0.2, "failures": 2, "timeout": 1.0},
        dicom={"ae_title": ae_title},
    )


def _registration(modality: Modality) -> dict[str, DeviceRegistration]:
    return {
        modality.ae_title: DeviceRegistration(
            host="127.0.0.1", port=modality.port, modality="CT", monitored=True
        )
    }


async def _transitions(gateway: RunningGateway) -> list[tuple[str, str]]:
    async with gateway.engine.connect() as conn:
        rows = await conn.execute(
            select(device_transitions.c.state, device_transitions.c.reason).order_by(
                device_transitions.c.id
            )
        )
        return [tuple(row) for row in rows]


async def _wait_for_a_probe(gateway: RunningGateway, seconds: float = 10) -> bool:
    for _ in range(int(seconds / 0.1)):
        async with gateway.engine.connect() as conn:
            if (await conn.execute(select(probe_sessions.c.id).limit(1))).first() is not None:
                return True
        await asyncio.sleep(0.1)
    return False


async def _wait_for(gateway: RunningGateway, count: int, seconds: float = 10) -> list:
    for _ in range(int(seconds / 0.1)):
        found = await _transitions(gateway)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    return await _transitions(gateway)


async def test_the_prober_records_down_and_up_at_the_right_transitions(
    database_url: str, modality: Modality
) -> None:
    """Up: no transition; stopped: down after two failures; back: up on the first answer."""
    gateway = await start_gateway(_settings(database_url), devices=_registration(modality))
    try:
        # A probe answered and recorded before the modality stops: an echo in flight when it
        # stops is the first failure, and then no probe would have seen it up.
        assert await _wait_for_a_probe(gateway), "the prober recorded no probe"
        assert await _transitions(gateway) == []
        assert modality.callers, "the prober echoed the modality"

        await asyncio.to_thread(modality.stop)
        transitions = await _wait_for(gateway, 1)
        assert [state for state, _ in transitions] == ["down"]
        assert "2 C-ECHO failures in a row" in transitions[0][1]

        await asyncio.to_thread(modality.start)
        transitions = await _wait_for(gateway, 2)
        assert [state for state, _ in transitions] == ["down", "up"]
        async with gateway.engine.connect() as conn:
            moments = (
                (
                    await conn.execute(
                        select(device_transitions.c.at).order_by(device_transitions.c.id)
                    )
                )
                .scalars()
                .all()
            )
            sessions = (await conn.execute(select(probe_sessions))).mappings().all()
        assert moments[0] < moments[1]
        # Probing covered the whole story. (A stall of the machine longer than twice the
        # 0.2 s interval splits coverage into sessions by design, so their number is not
        # asserted.)
        assert min(s["started_at"] for s in sessions) < moments[0]
        assert max(s["covered_until"] for s in sessions) > moments[1]
    finally:
        await gateway.runner.cleanup()


async def test_two_gateways_on_one_postgresql_probe_once(
    postgres: PostgresServer, modality: Modality
) -> None:
    """Two processes share PostgreSQL: only the lock holder probes; when it stops, the other
    takes over."""
    name = await postgres.create_database()
    url = postgres.url_for(name)
    first = await start_gateway(_settings(url, "GW_ONE"), devices=_registration(modality))
    second = await start_gateway(_settings(url, "GW_TWO"), devices=_registration(modality))
    try:
        await asyncio.sleep(1.0)
        callers = set(modality.callers)
        assert len(callers) == 1, callers
        leader = callers.pop()
        stopping = first if leader == "GW_ONE" else second
        await stopping.runner.cleanup()
        modality.callers.clear()
        await asyncio.sleep(1.0)
        assert set(modality.callers) == {"GW_TWO" if leader == "GW_ONE" else "GW_ONE"}
    finally:
        for gateway in (first, second):
            await gateway.runner.cleanup()
        await postgres.drop_database(name)
