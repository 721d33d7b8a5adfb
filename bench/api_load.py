"""The HTTP load generator: C concurrent clients for S seconds, one JSON line of results.

A separate process (so it shares no event loop with the server under test), bounded in
concurrency and time, on loopback only. Each client sends one request at a time, cycling
through the URLs given (so a search can vary its value per request); latency is from the
request to the last byte of the body. A warm-up (every client at least one request) is sent
first and not counted; a slow route is measured past the duration until it has at least
`--min-requests` answers (at most MAX_EXTRA seconds more).

    python -m bench.api_load --concurrency 4 --duration 3 --url http://127.0.0.1:8080/x
    python -m bench.api_load --concurrency 4 --duration 3 --urls-file urls.txt

Prints {"requests", "errors", "status", "seconds", "rps", "p50_ms", "p99_ms", "max_ms",
"min_bytes"}; only 200 answers count as requests, anything else (or a failure) as an error.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from bench.common import percentile

MAX_CONCURRENCY = 256
MAX_DURATION = 120.0
MAX_EXTRA = 60.0  # how long a slow route may be measured beyond the duration
REQUEST_TIMEOUT = 60.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


async def load(
    urls: list[str], concurrency: int, duration: float, warmup: float, min_requests: int
) -> dict[str, Any]:
    """Warm up (every client sends at least once, for `warmup` seconds), then measure.

    The measured phase lasts `duration` seconds, longer when fewer than `min_requests`
    answers came back by then (a slow route), but never more than MAX_EXTRA beyond.
    """
    cycle = itertools.cycle(urls)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    sizes: list[int] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)

    async def send(session: aiohttp.ClientSession) -> tuple[str, float, int]:
        sent = time.perf_counter()
        try:
            async with session.get(next(cycle)) as response:
                body = await response.read()
                status = str(response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, body = type(exc).__name__, b""
        return status, (time.perf_counter() - sent) * 1000.0, len(body)

    async def warm(session: aiohttp.ClientSession, until: float) -> None:
        await send(session)
        while time.perf_counter() < until:
            await send(session)

    async def client(session: aiohttp.ClientSession, stop: float, last: float) -> None:
        while (now := time.perf_counter()) < stop or (len(latencies) < min_requests and now < last):
            status, elapsed, size = await send(session)
            statuses[status] += 1
            if status == "200":
                latencies.append(elapsed)
                sizes.append(size)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        until = time.perf_counter() + warmup
        await asyncio.gather(*(warm(session, until) for _ in range(concurrency)))
        start = time.perf_counter()
        stop, last = start + duration, start + duration + MAX_EXTRA
        await asyncio.gather(*(client(session, stop, last) for _ in range(concurrency)))
    seconds = max(time.perf_counter() - start, 1e-9)
    return {
        "requests": len(latencies),
        "errors": sum(statuses.values()) - len(latencies),
        "status": dict(statuses),
        "seconds": round(seconds, 3),
        "rps": round(len(latencies) / seconds, 2),
        "p50_ms": round(percentile(latencies, 50), 3) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 3) if latencies else None,
        "max_ms": round(max(latencies), 3) if latencies else None,
        "min_bytes": min(sizes) if sizes else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds counted")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds sent, not counted")
    parser.add_argument(
        "--min-requests", type=int, default=10, help="measure longer until this many answers"
    )
    parser.add_argument("--url", action="append", default=[])
    parser.add_argument("--urls-file", help="one URL a line, cycled through")
    args = parser.parse_args(argv)
    urls = list(args.url)
    if args.urls_file:
        with open(args.urls_file, encoding="utf-8") as file:
            urls += [line.strip() for line in file if line.strip()]
    if not urls:
        parser.error("give --url or --urls-file")
    if any(urlsplit(url).hostname not in LOOPBACK for url in urls):
        parser.error("loopback URLs only")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be 1-{MAX_CONCURRENCY}")
    if not 0 < args.duration <= MAX_DURATION or not 0 <= args.warmup <= MAX_DURATION:
        parser.error(f"--duration and --warmup must be within {MAX_DURATION} s")
    result = asyncio.run(
        load(urls, args.concurrency, args.duration, args.warmup, args.min_requests)
    )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
