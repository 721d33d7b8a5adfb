"""The resources the application shares, one typed key each (declared here and nowhere else)."""

from __future__ import annotations

import ssl
from collections.abc import Mapping

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit_trail import AuditTrail
from gateway.config import Settings
from gateway.contract.registry import Route
from gateway.dashboard.assets import Asset
from gateway.dashboard.live import LiveStreams
from gateway.metrics import Metrics
from gateway.pruning import Pruner
from listeners.dicom import DicomListener
from listeners.hl7 import Hl7Receiver
from listeners.mllp import MllpServer
from outbound.delivery import Deliverer
from outbound.prober import Prober
from outbound.reconciler import PacsReconciler
from store.ingest import Ingest

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
INGEST = web.AppKey("ingest", Ingest)
MLLP_SERVER = web.AppKey("mllp_server", MllpServer)
MLLP_TLS_SERVER = web.AppKey("mllp_tls_server", MllpServer)
# The one server TLS context of every TLS port; absent when no port speaks TLS.
TLS_CONTEXT = web.AppKey("tls_context", ssl.SSLContext)
HL7_RECEIVER = web.AppKey("hl7_receiver", Hl7Receiver)
DICOM_LISTENER = web.AppKey("dicom_listener", DicomListener)
METRICS = web.AppKey("metrics", Metrics)
PROBER = web.AppKey("prober", Prober)
PRUNER = web.AppKey("pruner", Pruner)
# Present only while a PACS is configured ([pacs] host).
PACS_RECONCILER = web.AppKey("pacs_reconciler", PacsReconciler)
AUDIT_TRAIL = web.AppKey("audit_trail", AuditTrail)
# The outbox's deliverer: one task per [[outbound.hl7]] / [[outbound.webhooks]] destination.
OUTBOX = web.AppKey("outbox", Deliverer)
# Every route served, as declared: /openapi.json is generated from them.
ROUTES = web.AppKey("routes", tuple[Route, ...])
# Whether a tokens file guards the API (the document states security as served).
SECURED = web.AppKey("secured", bool)
# The dashboard's files by name, read at start-up.
DASHBOARD_ASSETS = web.AppKey("dashboard_assets", Mapping[str, Asset])
# The live streams' stop signal, set on shutdown.
LIVE_STREAMS = web.AppKey("live_streams", LiveStreams)
