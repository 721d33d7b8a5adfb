"""The `imaging-gateway` command as an operator runs it: its own process, its exit status."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from fixtures.messages import orm_new_order
from tests.support.gateway_process import gateway_process
from tests.support.mllp_client import MllpClient, segments


async def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


async def test_a_bad_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    """A malformed port: exit status 2 and a single line naming the variable."""
    status, output = await _run("serve", cwd=tmp_path, env={"IMAGING_GW_HTTP_PORT": "eighty"})
    assert status == 2
    assert output.strip().count("\n") == 0
    assert "IMAGING_GW_HTTP_PORT" in output


async def test_migrate_builds_the_default_sqlite_store(tmp_path: Path) -> None:
    """`migrate` with nothing configured creates ./var/gateway.db in WAL mode with every table."""
    status, output = await _run("migrate", cwd=tmp_path)
    assert status == 0, output
    with sqlite3.connect(tmp_path / "var" / "gateway.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        journal = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert {"messages", "patients", "orders", "order_timeline", "alembic_version"} <= tables
    assert journal == "wal"


async def test_rebuild_read_models_recomputes_them_from_the_orders(tmp_path: Path) -> None:
    """`rebuild-read-models` on a migrated store says what it wrote and exits 0."""
    status, output = await _run("migrate", cwd=tmp_path)
    assert status == 0, output
    status, output = await _run("rebuild-read-models", cwd=tmp_path)
    assert status == 0, output
    assert "read models rebuilt: 0 figure rows, 0 board rows, 0 volume hours" in output


async def test_serve_refuses_an_unmigrated_store_when_told_not_to_migrate(tmp_path: Path) -> None:
    """With migrate_on_start off and an empty database, start-up stops with a clear line."""
    status, output = await _run(
        "serve",
        cwd=tmp_path,
        env={
            "IMAGING_GW_DATABASE_MIGRATE_ON_START": "false",
            "IMAGING_GW_HTTP_PORT": "0",
            "IMAGING_GW_MLLP_PORT": "0",
            "IMAGING_GW_DICOM_PORT": "0",
        },
    )
    assert status == 1
    assert "run `imaging-gateway migrate`" in output


async def test_sigterm_finishes_and_exits_cleanly(tmp_path: Path) -> None:
    """SIGTERM after a message: it is stored, the process exits 0, the store is consistent."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'gateway.db'}"
    async with gateway_process(database, tmp_path) as gateway:
        client = await MllpClient.connect("127.0.0.1", gateway.ports["mllp"])
        ack = segments(await client.send(orm_new_order("ACC1", control_id="C1")))
        assert ack["MSA"][1] == "AA"
        gateway.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(client.reader.read(), 15) == b""  # closed by the gateway
        await client.close()
        assert await asyncio.wait_for(gateway.process.wait(), 15) == 0
    assert any("stopped" in line for line in gateway.log)
    with sqlite3.connect(tmp_path / "var" / "gateway.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT accession FROM orders").fetchall() == [("ACC1",)]


async def test_prune_now_deletes_what_is_older_than_asked(tmp_path: Path) -> None:
    """`prune --older-than 30` on a store with one old and one new message: one row goes."""
    status, output = await _run("migrate", cwd=tmp_path)
    assert status == 0, output
    database = tmp_path / "var" / "gateway.db"
    with sqlite3.connect(database) as db:
        for control, days in (("OLD", 45), ("NEW", 1)):
            db.execute(
                "INSERT INTO messages (protocol, received_at, last_received_at, receive_count, "
                "peer, control_id, content_sha256, raw, outcome, control_id_reused) VALUES "
                "('hl7v2', datetime('now', ?), datetime('now', ?), 1, 'p', ?, ?, x'41', "
                "'applied', 0)",
                (f"-{days} days", f"-{days} days", control, control.ljust(64, "0")),
            )
    status, output = await _run("prune", "--older-than", "30", cwd=tmp_path)
    assert status == 0, output
    assert "pruned 1 message-log rows" in output
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT control_id FROM messages").fetchall() == [("NEW",)]
