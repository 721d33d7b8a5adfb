"""The application factory: routes, middleware, and every resource with its own lifetime.

Resources start in the order of `cleanup_ctx` and stop in reverse: on shutdown the DICOM and
MLLP listeners stop accepting and finish the messages in flight, then the ingest writer
commits what is queued, then the database engine closes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from functools import partial

from aiohttp import web

from gateway import api, audit, equipment, fhir, flow, health, integrity, openapi, outbox, quality
from gateway.audit import audit_middleware
from gateway.audit_trail import AuditTrail
from gateway.auth import Token, auth_middleware
from gateway.config import ConfigError, Settings
from gateway.contract.registry import add_routes
from gateway.cors import cors_middleware
from gateway.dashboard import events as dashboard_events
from gateway.dashboard import page as dashboard_page
from gateway.dashboard.lifecycle import live_streams, load_assets, stop_streams
from gateway.keys import (
    AUDIT_TRAIL,
    DICOM_LISTENER,
    ENGINE,
    HL7_RECEIVER,
    INGEST,
    METRICS,
    MLLP_SERVER,
    MLLP_TLS_SERVER,
    PROBER,
    PRUNER,
    ROUTES,
    SECURED,
    SETTINGS,
    TLS_CONTEXT,
)
from gateway.metrics import Metrics
from gateway.nul_guard import nul_guard_middleware
from gateway.problems import problem_middleware
from gateway.pruning import Pruner, Retention
from listeners.dicom import DicomListener
from listeners.hl7 import Hl7Receiver, ReceiverOptions
from listeners.mllp import MllpServer
from listeners.tls import TlsEndpoint, TlsError, server_context
from mappers.dicom.worklist_model import WorklistItem, WorklistQuery
from mappers.events import DeviceRegistration, Milestone, ReportStatus
from mappers.hl7v2.ack import Responder
from mappers.hl7v2.rules import MappingRules, OrderAction
from outbound.prober import Prober, echo_device
from store.engine import create_engine
from store.equipment import (
    ProbeTarget,
    current_states,
    probe_targets,
)
from store.errors import SchemaOutOfDate
from store.ingest import Ingest
from store.locks import PRUNE_LOCK_KEY, LeaderLock
from store.migrate import migrate, pending_revisions
from store.operations import record_probe, register_device
from store.worklist import find_worklist as find_worklist_items

# aiohttp's HTTP parser limits: a request line of up to 32 KiB (the default 8 KiB is less
# than a FHIR search with every parameter at its documented longest, percent-encoded).
REQUEST_LIMITS: dict[str, int] = {"max_line_size": 32_768, "max_field_size": 16_384}


def create_app(
    settings: Settings,
    tokens: Mapping[str, Token] | None = None,
    devices: Mapping[str, DeviceRegistration] | None = None,
) -> web.Application:
    """Build the application; nothing is opened until it starts.

    `tokens` (from the tokens file) protects /api and /fhir; None leaves them open, which the
    settings allow on a loopback bind only.
    """
    metrics = Metrics()
    app = web.Application(
        middlewares=[
            metrics.middleware(),
            cors_middleware(settings.http.cors_origins),
            # Outside the error middleware: it records the answer as the client gets it.
            audit_middleware,
            problem_middleware,
            nul_guard_middleware,
            fhir.unserved_types,
            auth_middleware(tokens),
        ]
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    if (context := tls_context(settings)) is not None:
        app[TLS_CONTEXT] = context
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_ingest)
    app.cleanup_ctx.append(_audit_trail)
    app.cleanup_ctx.append(_mllp_listener)
    app.cleanup_ctx.append(_dicom_listener)
    app.cleanup_ctx.append(partial(_prober, devices=devices or {}))
    app.cleanup_ctx.append(_pruner)
    app.cleanup_ctx.append(outbox.outbox_delivery)
    app.cleanup_ctx.append(integrity.pacs_reconciliation)
    app.cleanup_ctx.append(load_assets)
    app.cleanup_ctx.append(live_streams)
    app.on_shutdown.append(stop_streams)
    table = (
        health,
        api,
        flow,
        equipment,
        fhir,
        audit,
        outbox,
        quality,
        integrity,
        openapi,
        dashboard_page,
        dashboard_events,
    )
    app[ROUTES] = tuple(route for module in table for route in module.routes.routes)
    app[SECURED] = tokens is not None
    add_routes(app, app[ROUTES])
    return app


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server context every TLS port shares, or None when no port speaks TLS.

    Raises:
        ConfigError: the certificate, key or CA file cannot be used, naming the setting.
    """
    tls = settings.tls
    if tls.cert_file is None or tls.key_file is None:
        return None
    try:
        return server_context(tls.cert_file, tls.key_file, tls.ca_file)
    except TlsError as exc:
        raise ConfigError(f"IMAGING_GW_TLS_CERT_FILE: {exc}") from exc


def mapping_rules(settings: Settings) -> MappingRules:
    """The site rules the HL7 mappers read with, from the settings (codes upper-cased)."""
    hl7 = settings.hl7

    def codes(table: dict[str, str]) -> dict[str, str]:
        return {code.strip().upper(): value for code, value in table.items()}

    return MappingRules(
        facility_tz=settings.tz,
        order_control={k: OrderAction(v) for k, v in codes(hl7.order_control).items()},
        order_status={k: Milestone(v) for k, v in codes(hl7.order_status).items()},
        result_status={k: ReportStatus(v) for k, v in codes(hl7.result_status).items()},
        schedule_status=codes(hl7.schedule_status),
        accession_fields=hl7.accession_fields,
        accession_fields_by_sender={
            sender: tuple(fields.split())
            for sender, fields in hl7.accession_fields_by_sender.items()
        },
        uid_root=settings.dicom.uid_root,
    )


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].database
    engine = create_engine(settings.url, busy_timeout=settings.busy_timeout)
    try:
        if settings.migrate_on_start:
            await migrate(engine, app[SETTINGS].timezone)
        elif await pending_revisions(engine):
            raise SchemaOutOfDate(
                "the database schema is older than this gateway; run `imaging-gateway migrate`"
            )
        app[ENGINE] = engine
        yield
    finally:
        await engine.dispose()


async def _ingest(app: web.Application) -> AsyncIterator[None]:
    # A store call that takes longer than this is answered AE; the sender will resend.
    settings = app[SETTINGS]
    ingest = Ingest(
        app[ENGINE],
        timeout=settings.database.busy_timeout * 2,
        # Every batch writes what its changes owe these destinations, in its own commit.
        destinations=outbox.outbox_destinations(settings),
        tz=settings.tz,  # the read models' facility days and hours
        on_batch=app[METRICS].batch_messages.observe,
    )
    await ingest.start()
    # Before any listener opens: the first senders' batch finds the writer warm.
    await ingest.rehearse()
    app[INGEST] = ingest
    yield
    await ingest.close()


async def _audit_trail(app: web.Application) -> AsyncIterator[None]:
    trail = AuditTrail(app[INGEST])
    app[AUDIT_TRAIL] = trail
    yield
    await trail.close()


async def _mllp_listener(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    receiver = Hl7Receiver(
        app[INGEST],
        ReceiverOptions(
            default_charset=settings.hl7.default_charset,
            accepted_processing_ids=settings.hl7.accepted_processing_ids,
            rules=mapping_rules(settings),
            responder=Responder(settings.hl7.application, settings.hl7.facility),
        ),
        observe=app[METRICS].observe_message,
    )
    app[HL7_RECEIVER] = receiver
    mllp = settings.mllp
    listen = partial(
        MllpServer,
        receiver.handle,
        receiver.reject_oversize,
        host=mllp.host,
        max_message_bytes=mllp.max_message_bytes,
        idle_timeout=mllp.idle_timeout,
        read_timeout=mllp.read_timeout,
        backlog=mllp.listen_backlog,
    )
    servers = [listen(port=mllp.port)]
    app[MLLP_SERVER] = servers[0]
    if mllp.tls_port is not None:
        servers.append(listen(port=mllp.tls_port, tls=app[TLS_CONTEXT]))
        app[MLLP_TLS_SERVER] = servers[-1]
    for server in servers:
        await server.start()
    yield
    await asyncio.gather(*(server.close(mllp.shutdown_grace) for server in servers))


async def _dicom_listener(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    dicom = settings.dicom
    engine = app[ENGINE]
    stations = settings.worklist.stations

    async def find_worklist(query: WorklistQuery) -> list[WorklistItem]:
        async with engine.connect() as conn:
            return await find_worklist_items(
                conn, query, limit=dicom.worklist_max_results, stations=stations
            )

    listener = DicomListener(
        app[INGEST],
        find_worklist,
        dicom,
        facility_tz=settings.tz,
        store_timeout=settings.database.busy_timeout * 3,
        observe=app[METRICS].observe_dicom,
        tls=TlsEndpoint(dicom.tls_port, app[TLS_CONTEXT]) if dicom.tls_port is not None else None,
    )
    await listener.start()
    app[DICOM_LISTENER] = listener
    yield
    await listener.close()


async def _prober(
    app: web.Application, *, devices: Mapping[str, DeviceRegistration]
) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = app[ENGINE]
    interval = timedelta(seconds=settings.probe.interval)
    for ae_title, registration in devices.items():
        await register_device(app[INGEST], ae_title, registration, peer="devices file")
    async with engine.connect() as conn:
        states = await current_states(conn)

    async def targets() -> list[ProbeTarget]:
        async with engine.connect() as conn:
            return await probe_targets(conn)

    async def record(
        target: ProbeTarget, at: datetime, transition: tuple[str, datetime, str] | None
    ) -> None:
        await record_probe(
            app[INGEST], target.ae_title, at=at, interval=interval, transition=transition
        )

    lock = LeaderLock(engine)
    prober = Prober(
        targets,
        record,
        interval=settings.probe.interval,
        failures_to_down=settings.probe.failures,
        is_leader=lock.held,
        echo=partial(
            echo_device, calling_ae=settings.dicom.ae_title, timeout=settings.probe.timeout
        ),
        states=states,
    )
    await prober.start()
    app[PROBER] = prober
    yield
    await prober.close()
    await lock.release()


async def _pruner(app: web.Application) -> AsyncIterator[None]:
    retention = app[SETTINGS].retention
    lock = LeaderLock(app[ENGINE], key=PRUNE_LOCK_KEY)
    pruner = Pruner(
        app[INGEST],
        Retention(retention.raw_days, retention.message_days, retention.audit_days),
        is_leader=lock.held,
    )
    await pruner.start()
    app[PRUNER] = pruner
    yield
    await pruner.close()
    await lock.release()
