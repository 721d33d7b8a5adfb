"""Prometheus metrics of one gateway: a registry per application, never a global one."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from store.outbox import Backlog

# ACKs are due within milliseconds; the buckets resolve that range.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The counters and histograms the gateway exports at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "imaging_gateway_messages",
            "Inbound messages by protocol, type and outcome.",
            ["protocol", "type", "outcome"],
            registry=self.registry,
        )
        self.ack_latency = Histogram(
            "imaging_gateway_ack_latency_seconds",
            "Time from receiving a message to its acknowledgement (after the commit).",
            ["protocol"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_messages = Histogram(
            "imaging_gateway_ingest_batch_messages",
            "Messages per writer batch (one transaction, one commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 500),
            registry=self.registry,
        )
        self.dicom_operations = Counter(
            "imaging_gateway_dicom_operations",
            "DICOM operations answered, by operation and status.",
            ["operation", "status"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "imaging_gateway_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.store_bytes = Gauge(
            "imaging_gateway_store_bytes",
            "The workflow store's size on disk (SQLite file, or PostgreSQL database).",
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "imaging_gateway_http_request_seconds",
            "HTTP request duration by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

        self.outbox_depth = Gauge(
            "imaging_gateway_outbox_undelivered",
            "Outbox rows not delivered yet, by destination and state (pending, dead).",
            ["destination", "state"],
            registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            "imaging_gateway_outbox_oldest_undelivered_seconds",
            "Age of the oldest undelivered outbox row, by destination (0 when none).",
            ["destination"],
            registry=self.registry,
        )

    def observe_outbox(
        self, destinations: Iterable[str], backlogs: Iterable[Backlog], now: datetime
    ) -> None:
        """Set the outbox gauges from the backlog of each destination (read at each scrape)."""
        found = {backlog.destination: backlog for backlog in backlogs}
        for name in {*destinations, *found}:
            backlog = found.get(name, Backlog(name, 0, 0, None))
            self.outbox_depth.labels(name, "pending").set(backlog.pending)
            self.outbox_depth.labels(name, "dead").set(backlog.dead)
            age = (now - backlog.oldest).total_seconds() if backlog.oldest else 0.0
            self.outbox_oldest.labels(name).set(max(age, 0.0))

    def observe_message(
        self, protocol: str, message_type: str, outcome: str, seconds: float
    ) -> None:
        """Count one inbound message and its acknowledgement latency."""
        self.messages.labels(protocol, message_type or "unknown", outcome).inc()
        self.ack_latency.labels(protocol).observe(seconds)

    def observe_dicom(self, operation: str, status: int) -> None:
        """Count one DICOM operation by its answer."""
        self.dicom_operations.labels(operation, f"0x{status:04X}").inc()

    def exposition(self) -> web.Response:
        """The text exposition format Prometheus scrapes."""
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        """A middleware counting requests by route pattern (never by raw path: no ids)."""

        @web.middleware
        async def count(
            request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                info = request.match_info.route.resource
                route = info.canonical if info is not None else "unmatched"
                self.http_requests.labels(request.method, route, str(status)).inc()
                self.http_latency.labels(route).observe(time.perf_counter() - started)

        return count
