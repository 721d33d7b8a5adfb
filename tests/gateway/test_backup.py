"""`imaging-gateway backup PATH`: a consistent copy of the SQLite store while MLLP ingest runs."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from fixtures.messages import orm_new_order
from tests.support.gateway_process import gateway_process
from tests.support.mllp_client import MllpClient, segments


async def _command(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


async def _stream(
    port: int, first: int, count: int, acked: list[str], enough: asyncio.Event
) -> None:
    client = await MllpClient.connect("127.0.0.1", port)
    try:
        for number in range(first, first + count):
            accession = f"BK{number:05d}"
            ack = segments(await client.send(orm_new_order(accession, control_id=accession)))
            assert ack["MSA"][1] == "AA", ack
            acked.append(accession)
            if len(acked) >= 100:
                enough.set()
    finally:
        await client.close()


def _orders(database: Path) -> tuple[str, set[str]]:
    with sqlite3.connect(database) as db:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        return check, {row[0] for row in db.execute("SELECT accession FROM orders")}


async def test_a_backup_taken_during_ingest_is_whole_and_consistent(tmp_path: Path) -> None:
    """The copy passes SQLite's integrity check and holds every order acknowledged before it
    began, none that the live store lacks; ingest answers AA throughout."""
    database = tmp_path / "gateway.db"
    env = {"IMAGING_GW_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    acked: list[str] = []
    async with gateway_process(env["IMAGING_GW_DATABASE_URL"], tmp_path) as gateway:
        port = gateway.ports["mllp"]
        enough = asyncio.Event()
        streams = [
            asyncio.create_task(_stream(port, n * 1000, 150, acked, enough)) for n in range(4)
        ]
        await asyncio.wait_for(enough.wait(), 60)
        before = set(acked)
        status, output = await _command("backup", str(tmp_path / "copy.db"), cwd=tmp_path, env=env)
        await asyncio.gather(*streams)
    assert status == 0, output
    check, copied = _orders(tmp_path / "copy.db")
    _, live = _orders(database)
    assert check == "ok"
    assert before <= copied <= live and len(live) == 600
    assert not (tmp_path / "copy.db.part").exists()


async def test_backup_of_postgresql_points_to_its_own_tools(tmp_path: Path) -> None:
    """A PostgreSQL store is not copied file-wise: exit 1 naming pg_dump."""
    env = {"IMAGING_GW_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/none"}
    status, output = await _command("backup", str(tmp_path / "x.db"), cwd=tmp_path, env=env)
    assert status == 1 and "pg_dump" in output
