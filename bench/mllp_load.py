"""MLLP load generator: N connections, one message in flight each, prints one JSON line.

Run: `python -m bench.mllp_load --port P --connections N --seconds S [--kind orm|mixed]`.
A separate process so that it never shares the server's event loop. Bounded in time (warm-up
plus the measured seconds plus one ACK timeout) and in count (`--max-messages`); talks to
127.0.0.1 only. Only AA answers count; latencies are measured from the write of a frame to the
end of its ACK, for messages answered inside the measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.common import percentile
from fixtures.messages import orm_new_order

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
HOST = "127.0.0.1"
LIFECYCLE = Path(__file__).resolve().parent.parent / "fixtures" / "hl7" / "lifecycle"
REPORT_LINES = 30
NAMES = [
    ("HALVORSEN", "MARTA"),
    ("OKAFOR", "CHIDI"),
    ("LINDQVIST", "ANNA"),
    ("TAKAHASHI", "KENJI"),
    ("MORENO", "LUCIA"),
    ("BRENNAN", "PATRICK"),
    ("NOWAK", "EWA"),
    ("SINGH", "ARJUN"),
]

Source = Callable[[int], Iterator[bytes]]


def orm_source(tag: str, patients: int) -> Source:
    """ORM^O01 new orders: unique accession and control id, one of `patients` patients."""

    def messages(conn: int) -> Iterator[bytes]:
        seq = 0
        while True:
            seq += 1
            ident = f"{tag}{conn:02d}{seq:07d}"
            patient = (conn * 1_000_003 + seq * 7919) % patients
            family, given = NAMES[patient % len(NAMES)]
            yield orm_new_order(
                ident,
                control_id=ident,
                patient_id=f"BPAT{patient:05d}",
                family=family,
                given=given,
            )

    return messages


def _report_obx(status: str) -> list[str]:
    """A 30-line TX report (the lifecycle's final report, padded with findings lines)."""
    final = (LIFECYCLE / "08_oru_r01_f.hl7").read_bytes().decode("ascii").split("\r")
    lines = [s.split("|")[5] for s in final if s.startswith("OBX|")]
    extra = [
        "ADDENDUM: Comparison with outside images confirms the findings above.",
        "No interval change in the thoracic spine.",
        "Recommend clinical correlation.",
        "Follow-up chest radiograph in 6 weeks if symptoms persist.",
        "Discussed with the referring physician by telephone.",
    ]
    text = (lines + extra)[:REPORT_LINES]
    return [
        f"OBX|{i}|TX|RPT^Report text^L|{i}|{line}||||||{status}" for i, line in enumerate(text, 1)
    ]


def _templates() -> list[str]:
    """The eight lifecycle messages of one order as format strings over ids."""
    templates = []
    for path in sorted(LIFECYCLE.glob("*.hl7")):
        segments = path.read_bytes().decode("ascii").rstrip("\r").split("\r")
        if path.name.startswith(("07_", "08_")):
            status = "P" if path.name.startswith("07_") else "F"
            segments = [s for s in segments if not s.startswith("OBX|")] + _report_obx(status)
        text = "\r".join(segments) + "\r"
        assert "{" not in text and "}" not in text, path
        msh, rest = text.split("\r", 1)
        fields = msh.split("|")
        fields[9] = "{cid}"  # MSH-10: fields[0] is "MSH", fields[1] is MSH-2
        rest = (
            rest.replace("LCV0001", "{visit}")
            .replace("LC-MRN-1", "{mrn}")
            .replace("LC0001", "{acc}")
        )
        templates.append("|".join(fields) + "\r" + rest)
    return templates


def mixed_source(tag: str, patients: int) -> Source:
    """A day's HL7 mix: each order's ADT, ORM, SIU, arrival, status and ORU messages in order
    on one connection; ids rewritten per copy so every message is unique but consistent."""
    templates = _templates()

    def messages(conn: int) -> Iterator[bytes]:
        order = 0
        while True:
            order += 1
            acc = f"{tag}{conn:02d}{order:06d}"
            patient = (conn * 1_000_003 + order * 7919) % patients
            ids = {"acc": acc, "mrn": f"BPAT{patient:05d}", "visit": f"V{acc}"}
            for step, template in enumerate(templates, 1):
                yield template.format(cid=f"{acc}{step}", **ids).encode("ascii")

    return messages


class _Client(asyncio.Protocol):
    """One MLLP connection: send a frame, wait for the whole ACK."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[bytes] | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buf += data
        end = self._buf.find(END_BLOCK)
        if end >= 0 and self._waiter is not None and not self._waiter.done():
            start = self._buf.find(START_BLOCK)
            self._waiter.set_result(bytes(self._buf[start + 1 : end]))
            del self._buf[: end + len(END_BLOCK)]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def request(self, payload: bytes, timeout: float) -> bytes:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(START_BLOCK + payload + END_BLOCK)
        return await asyncio.wait_for(self._waiter, timeout)


class _Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.aa = 0
        self.not_aa = 0
        self.errors = 0
        self.latencies: list[float] = []
        self.first_error = ""


async def _connection(
    conn: int,
    *,
    messages: Iterator[bytes],
    tally: _Tally,
    window: tuple[float, float],
    args: argparse.Namespace,
    budget: list[int],
) -> None:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(_Client, HOST, args.port)
    start, stop = window
    interval = args.connections / args.rate if args.rate else 0.0
    due = loop.time() + (conn / args.connections) * interval
    try:
        while loop.time() < stop and budget[0] > 0:
            if interval:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                due = max(due + interval, loop.time() - interval)
            budget[0] -= 1
            payload = next(messages)
            sent_at = loop.time()
            try:
                ack = await client.request(payload, args.ack_timeout)
            except (TimeoutError, ConnectionError, OSError) as exc:
                tally.errors += 1
                tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                return
            done_at = loop.time()
            if not start <= done_at <= stop:
                continue
            tally.sent += 1
            if b"MSA|AA|" in ack or b"MSA|CA|" in ack:
                tally.aa += 1
                tally.latencies.append((done_at - sent_at) * 1000.0)
            else:
                tally.not_aa += 1
                if not tally.first_error:
                    tally.first_error = ack.decode("latin-1").replace("\r", " | ")[:300]
    finally:
        client.transport.close()  # type: ignore[union-attr]
        await client.closed


async def run_load(args: argparse.Namespace) -> dict[str, object]:
    """Drive the load and return the tally as a JSON-ready dict."""
    make = {"orm": orm_source, "mixed": mixed_source}[args.kind]
    source = make(args.tag, args.patients)
    loop = asyncio.get_running_loop()
    start = loop.time() + args.warmup
    window = (start, start + args.seconds)
    tally = _Tally()
    budget = [args.max_messages]
    tasks = [
        asyncio.create_task(
            _connection(c, messages=source(c), tally=tally, window=window, args=args, budget=budget)
        )
        for c in range(args.connections)
    ]
    await asyncio.gather(*tasks)
    measured = min(loop.time(), window[1]) - start
    latencies = sorted(tally.latencies)
    return {
        "kind": args.kind,
        "connections": args.connections,
        "seconds": round(measured, 3),
        "answered": tally.sent,
        "aa": tally.aa,
        "not_aa": tally.not_aa,
        "errors": tally.errors,
        "throughput": tally.aa / measured if measured > 0 else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "first_error": tally.first_error,
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds sent, not counted")
    parser.add_argument("--kind", choices=["orm", "mixed"], default="orm")
    parser.add_argument("--tag", default="B000", help="makes ids unique across runs (4 chars)")
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--rate", type=float, default=0.0, help="total msg/s; 0 = flat out")
    parser.add_argument("--max-messages", type=int, default=5_000_000)
    parser.add_argument("--ack-timeout", type=float, default=30.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one load and print its result as one JSON line."""
    args = _arguments(argv)
    result = asyncio.run(run_load(args))
    print(json.dumps(result), flush=True)
    return 0 if result["aa"] else 1


if __name__ == "__main__":
    sys.exit(main())
