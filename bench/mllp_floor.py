"""The floor for MLLP ingest: a bare asyncio MLLP server that stores each raw message with
group commit and answers a fixed AA after the commit. Nothing is parsed or mapped.

Run: `python -m bench.mllp_floor --port P --sqlite FILE` or `--postgres DSN`; prints `ready`
once it listens. Group commit as the gateway does it (`store/ingest.py`): one writer takes
everything queued, inserts it in one transaction, commits, then releases every waiter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable

import aiosqlite
import asyncpg

END_BLOCK = b"\x1c\x0d"
ACK = b"\x0bMSH|^~\\&|FLOOR|BENCH|||20260101000000||ACK|1|P|2.3.1\rMSA|AA|1\r\x1c\x0d"

Writer = Callable[[list[bytes]], Awaitable[None]]
Closer = Callable[[], Awaitable[None]]


async def sqlite_writer(path: str) -> tuple[Writer, Closer]:
    """A one-table SQLite database, WAL and synchronous=FULL like the gateway's."""
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=FULL")
    await db.execute(
        "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, raw BLOB NOT NULL)"
    )

    async def write(batch: list[bytes]) -> None:
        await db.execute("BEGIN")
        await db.executemany("INSERT INTO messages (raw) VALUES (?)", [(m,) for m in batch])
        await db.execute("COMMIT")

    return write, db.close


async def postgres_writer(dsn: str) -> tuple[Writer, Closer]:
    """A one-table PostgreSQL database through asyncpg directly."""
    conn = await asyncpg.connect(dsn)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS messages (id bigserial PRIMARY KEY, raw bytea NOT NULL)"
    )

    async def write(batch: list[bytes]) -> None:
        async with conn.transaction():
            await conn.executemany("INSERT INTO messages (raw) VALUES ($1)", [(m,) for m in batch])

    return write, conn.close


async def _commit_loop(queue: asyncio.Queue[tuple[bytes, asyncio.Future[None]]], write: Writer):
    while True:
        batch = [await queue.get()]
        while not queue.empty():
            batch.append(queue.get_nowait())
        await write([raw for raw, _ in batch])
        for _, future in batch:
            if not future.done():
                future.set_result(None)


async def serve(port: int, write: Writer) -> None:
    """Listen on 127.0.0.1:port until SIGTERM."""
    queue: asyncio.Queue[tuple[bytes, asyncio.Future[None]]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.readuntil(END_BLOCK)
                future = loop.create_future()
                queue.put_nowait((data[data.find(b"\x0b") + 1 : -2], future))
                await future
                writer.write(ACK)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    committer = asyncio.create_task(_commit_loop(queue, write))
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    committer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await committer


async def _main(args: argparse.Namespace) -> None:
    if args.sqlite:
        write, close = await sqlite_writer(args.sqlite)
    else:
        write, close = await postgres_writer(args.postgres)
    try:
        await serve(args.port, write)
    finally:
        await close()


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite", help="database file")
    where.add_argument("--postgres", help="asyncpg DSN of an existing database")
    asyncio.run(_main(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
