"""The application factory: routes, middleware, and every resource with its own lifetime.

Resources start in the order of `cleanup_ctx` and stop in reverse: on shutdown the DICOM and
MLLP listeners stop accepting and finish the messages in flight, then the ingest writer
commits what is queued, then the database engine closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from functools import partial

from aiohttp import web

from gateway import api, equipment, fhir, flow, health, openapi
from gateway.auth import Token, auth_middleware
from gateway.config import Settings
from gateway.cors import cors_middleware
from gateway.keys import (
    DICOM_LISTENER,
    ENGINE,
    HL7_RECEIVER,
    INGEST,
    METRICS,
    MLLP_SERVER,
    PROBER,
    SETTINGS,
)
from gateway.metrics import Metrics
from gateway.problems import problem_middleware
from listeners.dicom import DicomListener, DicomOptions
from listeners.hl7 import Hl7Receiver, ReceiverOptions
from listeners.mllp import MllpServer
from listeners.prober import Prober, echo_device
from mappers.dicom.worklist_model import WorklistItem, WorklistQuery
from mappers.events import Milestone, ReportStatus
from mappers.hl7v2.ack import Responder
from mappers.hl7v2.rules import MappingRules, OrderAction
from store.engine import create_engine
from store.equipment import (
    DeviceRegistration,
    ProbeTarget,
    current_states,
    probe_targets,
)
from store.errors import SchemaOutOfDate
from store.ingest import Ingest
from store.locks import LeaderLock
from store.migrate import migrate, pending_revisions
from store.operations import record_probe, register_device
from store.worklist import find_worklist as find_worklist_items


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
            problem_middleware,
            auth_middleware(tokens),
        ]
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_ingest)
    app.cleanup_ctx.append(_mllp_listener)
    app.cleanup_ctx.append(_dicom_listener)
    app.cleanup_ctx.append(partial(_prober, devices=devices or {}))
    app.add_routes(health.routes)
    app.add_routes(api.routes)
    app.add_routes(flow.routes)
    app.add_routes(equipment.routes)
    app.add_routes(fhir.routes)
    app.add_routes(openapi.routes)
    return app


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
            await migrate(engine)
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
    ingest = Ingest(app[ENGINE], timeout=app[SETTINGS].database.busy_timeout * 2)
    await ingest.start()
    app[INGEST] = ingest
    yield
    await ingest.close()


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
    server = MllpServer(
        receiver.handle,
        receiver.reject_oversize,
        host=settings.mllp.host,
        port=settings.mllp.port,
        max_message_bytes=settings.mllp.max_message_bytes,
        idle_timeout=settings.mllp.idle_timeout,
        read_timeout=settings.mllp.read_timeout,
    )
    await server.start()
    app[MLLP_SERVER] = server
    yield
    await server.close(settings.mllp.shutdown_grace)


async def _dicom_listener(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    dicom = settings.dicom
    engine = app[ENGINE]

    async def find_worklist(query: WorklistQuery) -> list[WorklistItem]:
        async with engine.connect() as conn:
            return await find_worklist_items(conn, query, limit=dicom.worklist_max_results)

    listener = DicomListener(
        app[INGEST],
        find_worklist,
        DicomOptions(
            ae_title=dicom.ae_title,
            host=dicom.host,
            port=dicom.port,
            facility_tz=settings.tz,
            calling_aes=dicom.calling_aes,
            echo_calling_aes=dicom.echo_calling_aes,
            storage_calling_aes=dicom.storage_calling_aes,
            mpps_calling_aes=dicom.mpps_calling_aes,
            worklist_calling_aes=dicom.worklist_calling_aes,
            max_associations=dicom.max_associations,
            acse_timeout=dicom.acse_timeout,
            dimse_timeout=dicom.dimse_timeout,
            network_timeout=dicom.network_timeout,
            max_pdu=dicom.max_pdu,
            storage_dir=dicom.storage_dir,
            worklist_case_insensitive_names=dicom.worklist_case_insensitive_names,
            worklist_max_results=dicom.worklist_max_results,
            store_timeout=settings.database.busy_timeout * 3,
        ),
        observe=app[METRICS].observe_dicom,
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
