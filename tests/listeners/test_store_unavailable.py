"""When the store is out of reach the answer is AE, never AA, and service resumes after."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from fixtures.messages import orm_new_order
from store.schema import messages, orders
from tests.conftest import PostgresServer, gateway_settings, start_gateway
from tests.support.mllp_client import MllpClient, segments
from tests.support.tcp_proxy import TcpProxy


async def _send(port: int, message: bytes) -> dict[str, list[str]]:
    client = await MllpClient.connect("127.0.0.1", port)
    try:
        return segments(await client.send(message, timeout=30))
    finally:
        await client.close()


async def _readiness(base_url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/readyz") as response:
        return response.status, await response.json()


async def test_postgresql_out_of_reach_gets_ae_and_service_resumes(
    postgres: PostgresServer,
) -> None:
    """PostgreSQL behind a cut connection: AE with ERR and nothing stored; restored: AA."""
    name = await postgres.create_database()
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.restore()
    url = postgres.url_for(name).replace(":5432/", f":{proxy.port}/")
    gateway = await start_gateway(gateway_settings(url))
    try:
        ok = await _send(gateway.mllp_port, orm_new_order("ACC1", control_id="C1"))
        assert ok["MSA"][1] == "AA"

        await proxy.cut()
        for attempt in range(2):  # a pooled connection now broken, then a refused new one
            ack = await _send(gateway.mllp_port, orm_new_order("ACC2", control_id="C2"))
            assert ack["MSA"][:3] == ["MSA", "AE", "C2"], f"attempt {attempt}"
            assert "storage unavailable" in ack["MSA"][3]
            assert ack["ERR"][1].endswith("207&Application internal error&HL70357")

        status, body = await _readiness(gateway.http_url)
        expected = {"store": False, "writes": False, "mllp": True, "dicom": True}
        assert (status, body["checks"]) == (503, expected)
        assert set(body["reasons"]) == {"store", "writes"}

        await proxy.restore()
        assert (await _readiness(gateway.http_url))[0] == 200
        ack = await _send(gateway.mllp_port, orm_new_order("ACC2", control_id="C2"))
        assert ack["MSA"][:3] == ["MSA", "AA", "C2"]
        async with gateway.engine.connect() as conn:
            accessions = (await conn.execute(select(orders.c.accession))).scalars().all()
            logged = (await conn.execute(select(func.count()).select_from(messages))).scalar()
        assert sorted(accessions) == ["ACC1", "ACC2"]
        assert logged == 2
    finally:
        await gateway.runner.cleanup()
        await proxy.cut()
        await postgres.drop_database(name)


async def test_sqlite_locked_gets_ae_and_service_resumes(tmp_path: Path) -> None:
    """Another process holding SQLite's write lock: AE after the busy timeout, and /readyz
    503 naming the refused writes although reads still work; released: AA and ready."""
    path = tmp_path / "gateway.db"
    gateway = await start_gateway(gateway_settings(f"sqlite+aiosqlite:///{path}"))
    try:
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        ack = await _send(gateway.mllp_port, orm_new_order("ACC1", control_id="C1"))
        assert ack["MSA"][:3] == ["MSA", "AE", "C1"]
        status, body = await _readiness(gateway.http_url)
        assert (status, body["checks"]["store"], body["checks"]["writes"]) == (503, True, False)
        # The writer waits out its busy timeout: "database is locked", or no answer in time.
        assert body["reasons"]["writes"] in (
            "OperationalError: database is locked",
            "no answer within 2 s",
        )
        locker.execute("ROLLBACK")
        locker.close()
        assert (await _readiness(gateway.http_url))[0] == 200

        ack = await _send(gateway.mllp_port, orm_new_order("ACC1", control_id="C1"))
        assert ack["MSA"][:3] == ["MSA", "AA", "C1"]
        async with gateway.engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(orders))).scalar()
        assert count == 1
    finally:
        await gateway.runner.cleanup()
