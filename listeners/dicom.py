"""The DICOM application entity: Verification, Storage, MPPS and Modality Worklist SCPs.

pynetdicom calls these handlers on its own threads. Each one does its pure work there (reading
the dataset, writing a file), then hands the store work to the asyncio loop through one bridge
(`asyncio.run_coroutine_threadsafe(...).result(timeout)`), waits for the commit, and only then
returns its status: a success status, like an HL7 AA, means the data is durably stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVar

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import (
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from listeners.options import DicomOptions
from mappers.dicom import errors as status
from mappers.dicom.errors import DicomMappingError
from mappers.dicom.instances import map_instance
from mappers.dicom.mpps import map_n_create, map_n_set
from mappers.dicom.worklist import parse_worklist_query
from mappers.dicom.worklist_encoding import encode_worklist_response, plan_worklist_answer
from mappers.dicom.worklist_model import WorklistItem, WorklistQuery
from mappers.events import DeviceSeen, Event
from store.errors import Rejection, StoreError
from store.ingest import Inbound, Ingest, Outcome, Stored

log = logging.getLogger(__name__)

T = TypeVar("T")
FindWorklist = Callable[[WorklistQuery], Awaitable[list[WorklistItem]]]

DEVICE_REFRESH = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SHUTDOWN_POLL = 0.05  # seconds between the acceptor's checks for a shutdown request
SUCCESS = 0x0000
PENDING = 0xFF00
CANCELLED = 0xFE00
# PixelData (7FE0,0010) in little endian: the message log keeps what comes before it.
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


class DicomListener:
    """Runs the AE's server thread and answers each DIMSE request once the store committed."""

    def __init__(
        self,
        ingest: Ingest,
        find_worklist: FindWorklist,
        options: DicomOptions,
        *,
        facility_tz: tzinfo,
        store_timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        observe: Callable[[str, int], None] | None = None,
    ) -> None:
        self._observe = observe
        self._ingest = ingest
        self._find_worklist = find_worklist
        self._options = options
        self._facility_tz = facility_tz
        self._store_timeout = store_timeout
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ThreadedAssociationServer | None = None
        # What each device last said about itself, and when we last stored it: an
        # unchanged device is learned again only every DEVICE_REFRESH (handlers run on
        # several threads, hence the lock).
        self._devices_seen: dict[str, tuple[DeviceSeen, datetime]] = {}
        self._devices_lock = threading.Lock()

    async def start(self) -> None:
        """Bind and serve in pynetdicom's own threads; captures the running loop for the bridge."""
        self._loop = asyncio.get_running_loop()
        ae = self._application_entity()
        handlers = [
            (evt.EVT_CONN_OPEN, _set_nodelay),
            (evt.EVT_C_ECHO, self._counted("C-ECHO", self._on_echo)),
            (evt.EVT_C_STORE, self._counted("C-STORE", self._on_store)),
            (evt.EVT_N_CREATE, self._counted("N-CREATE", self._on_n_create)),
            (evt.EVT_N_SET, self._counted("N-SET", self._on_n_set)),
            (evt.EVT_C_FIND, self._counted_find),
        ]
        options = self._options
        server = ae.make_server(
            (options.host, options.port), evt_handlers=handlers, server_class=_Server
        )
        # Our own acceptor thread: socketserver's default 0.5 s poll would make every shutdown
        # wait up to half a second.
        threading.Thread(
            target=server.serve_forever, args=(SHUTDOWN_POLL,), name="dicom-acceptor", daemon=True
        ).start()
        # socketserver listens with its class's small queue (5); a burst of modalities needs more.
        server.socket.listen(options.listen_backlog)
        self._server = server
        log.info("DICOM %s listening on %s:%d", options.ae_title, options.host, self.port)

    @property
    def port(self) -> int:
        """The bound port (port 0 binds a free one)."""
        if self._server is None:
            raise RuntimeError("the DICOM listener is not started")
        return self._server.server_address[1]

    def is_serving(self) -> bool:
        """True while the server thread accepts associations."""
        return self._server is not None and self._server.socket.fileno() >= 0

    async def close(self) -> None:
        """Stop accepting and end the server; run off the loop, since its handler threads may
        be waiting on the loop for their commits."""
        if self._server is None:
            return
        server, self._server = self._server, None
        await asyncio.to_thread(server.shutdown)
        log.info("DICOM listener closed")

    def _application_entity(self) -> AE:
        # pynetdicom's standard handlers format every DIMSE message for its log, whatever the
        # log level: about 7% of a worklist answer's CPU. Our handlers log what matters.
        pynetdicom_config.LOG_HANDLER_LEVEL = "none"
        # Likewise its C-FIND service formats every request and answer identifier for the log
        # before the log level is looked at: about 0.3 ms per worklist item (bench/worklist.py).
        pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
        pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
        options = self._options
        ae = AE(ae_title=options.ae_title)
        ae.maximum_associations = options.max_associations
        ae.acse_timeout = options.acse_timeout
        ae.dimse_timeout = options.dimse_timeout
        ae.network_timeout = options.network_timeout
        ae.maximum_pdu_size = options.max_pdu
        # A stranger's association is rejected: "calling AE title not recognised" (PS3.8 7.1).
        ae.require_calling_aet = list(options.calling_aes)
        ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
        for context in AllStoragePresentationContexts:
            # Compressed syntaxes are accepted as they come: instances are never decoded.
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(ModalityPerformedProcedureStep, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(ModalityWorklistInformationFind, ALL_TRANSFER_SYNTAXES)
        return ae

    def _counted(
        self, operation: str, handler: Callable[[evt.Event], T]
    ) -> Callable[[evt.Event], T]:
        """The handler, reporting each answer's status to the observer."""

        def answer(event: evt.Event) -> T:
            result = handler(event)
            if self._observe is not None:
                self._observe(
                    operation, _status_of(result[0] if isinstance(result, tuple) else result)
                )
            return result

        return answer

    def _counted_find(self, event: evt.Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        last = SUCCESS
        for answer in self._on_find(event):
            last = _status_of(answer[0])
            yield answer
        if self._observe is not None:
            self._observe("C-FIND", SUCCESS if last == PENDING else last)

    # --- the bridge to the event loop ------------------------------------------------

    def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the gateway's loop from a pynetdicom thread and wait for it."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self._store_timeout)
        except TimeoutError:
            future.cancel()
            raise

    def _submit(self, inbound: Inbound) -> Stored | None:
        """Store a message; None when the store is out of reach (nothing was stored)."""
        try:
            return self._await(self._ingest.submit(inbound))
        except (StoreError, TimeoutError) as exc:
            log.error("DICOM %s not stored: %s", inbound.control_id, exc)
            return None

    # --- handlers --------------------------------------------------------------------

    def _on_echo(self, event: evt.Event) -> int:
        if not _allowed(self._options.echo_calling_aes, event):
            return status.NOT_AUTHORIZED
        return SUCCESS

    def _on_store(self, event: evt.Event) -> int | Dataset:
        calling = _calling_ae(event)
        if not _allowed(self._options.storage_calling_aes, event):
            return status.NOT_AUTHORIZED
        received_at = self._clock()
        encoded = event.encoded_dataset(include_meta=False)
        transfer_syntax = str(event.context.transfer_syntax)
        inbound = _inbound("C-STORE", calling, event, received_at, _header(encoded))
        try:
            dataset = event.dataset
            sop_instance_uid = str(dataset.get("SOPInstanceUID", "")).strip()
            path = self._write_file(event, dataset) if self._options.storage_dir else ""
            events = map_instance(
                dataset,
                calling_ae=calling,
                transfer_syntax=transfer_syntax,
                received_at=received_at,
                facility_tz=self._facility_tz,
                stored_path=path,
            )
        except DicomMappingError as exc:
            return self._refuse(inbound, exc)
        except Exception as exc:  # a dataset pydicom cannot read
            log.warning("C-STORE from %s unreadable: %s", calling, type(exc).__name__)
            return self._refuse(
                inbound, DicomMappingError("dataset cannot be read", status.CANNOT_UNDERSTAND)
            )
        stored = self._submit(_with(inbound, self._news(events), control_id=sop_instance_uid))
        if stored is None:
            return _failure(status.OUT_OF_RESOURCES, "storage unavailable; resend")
        if stored.outcome is Outcome.FAILED:
            return _failure(status.PROCESSING_FAILURE, "instance could not be indexed")
        return SUCCESS

    def _on_n_create(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        calling = _calling_ae(event)
        if not _allowed(self._options.mpps_calling_aes, event):
            return status.NOT_AUTHORIZED, None
        received_at = self._clock()
        attributes = event.attribute_list
        sop_instance_uid = str(event.request.AffectedSOPInstanceUID or "")
        inbound = _inbound("N-CREATE", calling, event, received_at, _encode(attributes))
        if not sop_instance_uid:
            error = DicomMappingError(
                "the SCU must give the SOP Instance UID (PS3.4 F.7.2.1)",
                status.MISSING_ATTRIBUTE,
                tag="Affected SOP Instance UID",
            )
            return self._refuse(inbound, error), None
        try:
            events = map_n_create(
                attributes,
                sop_instance_uid=sop_instance_uid,
                calling_ae=calling,
                received_at=received_at,
                facility_tz=self._facility_tz,
            )
        except DicomMappingError as exc:
            return self._refuse(_with(inbound, (), f"N-CREATE:{sop_instance_uid}"), exc), None
        stored = self._submit(_with(inbound, events, f"N-CREATE:{sop_instance_uid}"))
        answer = self._mpps_answer(stored)
        return answer, (attributes if answer == SUCCESS else None)

    def _on_n_set(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        calling = _calling_ae(event)
        if not _allowed(self._options.mpps_calling_aes, event):
            return status.NOT_AUTHORIZED, None
        received_at = self._clock()
        modifications = event.modification_list
        sop_instance_uid = str(event.request.RequestedSOPInstanceUID or "")
        control_id = f"N-SET:{sop_instance_uid}"
        inbound = _inbound("N-SET", calling, event, received_at, _encode(modifications))
        try:
            events = map_n_set(
                modifications,
                sop_instance_uid=sop_instance_uid,
                received_at=received_at,
                facility_tz=self._facility_tz,
            )
        except DicomMappingError as exc:
            return self._refuse(_with(inbound, (), control_id), exc), None
        stored = self._submit(_with(inbound, events, control_id))
        answer = self._mpps_answer(stored, creating=False)
        return answer, (modifications if answer == SUCCESS else None)

    def _on_find(self, event: evt.Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        if not _allowed(self._options.worklist_calling_aes, event):
            yield status.NOT_AUTHORIZED, None
            return
        options = self._options
        try:
            query = parse_worklist_query(
                event.identifier,
                facility_tz=self._facility_tz,
                case_insensitive_names=options.worklist_case_insensitive_names,
            )
            plan = plan_worklist_answer(event.identifier)
            items = self._await(self._find_worklist(query))
        except DicomMappingError as exc:
            yield _failure(exc.status, exc.reason), None
            return
        except Exception as exc:  # the store out of reach, a timeout
            log.error("worklist query from %s failed: %s", _calling_ae(event), exc)
            yield _failure(status.OUT_OF_RESOURCES, "worklist unavailable"), None
            return
        # Each answer is encoded here in the context's transfer syntax, so that pynetdicom
        # copies its bytes instead of encoding a Dataset (mappers/dicom/worklist_encoding.py).
        syntax = event.context.transfer_syntax
        for item in items:
            if event.is_cancelled:  # C-CANCEL (PS3.4 C.4.1.3.2)
                yield CANCELLED, None
                return
            answer = encode_worklist_response(
                item,
                plan,
                facility_tz=self._facility_tz,
                implicit_vr=syntax.is_implicit_VR,
                little_endian=syntax.is_little_endian,
            )
            yield PENDING, answer

    def _news(self, events: list[Event]) -> list[Event]:
        """The events without a DeviceSeen that says nothing new (every image repeats it)."""
        kept = []
        for event in events:
            if isinstance(event, DeviceSeen):
                described = replace(event, seen_at=_EPOCH)
                with self._devices_lock:
                    last = self._devices_seen.get(event.ae_title)
                    if last and last[0] == described and event.seen_at - last[1] < DEVICE_REFRESH:
                        continue
                    self._devices_seen[event.ae_title] = (described, event.seen_at)
            kept.append(event)
        return kept

    # --- answers ---------------------------------------------------------------------

    def _refuse(self, inbound: Inbound, error: DicomMappingError) -> Dataset:
        """Keep the refused dataset in the message log with the reason; answer its status."""
        log.warning(
            "%s from %s refused: 0x%04X %s",
            inbound.message_type,
            inbound.peer,
            error.status,
            error.tag,
        )
        refused = replace(
            inbound,
            outcome=Outcome.REJECTED,
            error=error.reason,
            error_location=error.tag[:64] or None,
        )
        self._submit(refused)
        return _failure(error.status, error.reason)

    def _mpps_answer(self, stored: Stored | None, *, creating: bool = True) -> int | Dataset:
        if stored is None:
            return _failure(status.PROCESSING_FAILURE, "storage unavailable; resend")
        if creating and stored.duplicate:
            return _failure(status.DUPLICATE_SOP_INSTANCE, "procedure step exists already")
        match stored.rejection:
            case Rejection.DUPLICATE:
                return _failure(status.DUPLICATE_SOP_INSTANCE, "procedure step exists already")
            case Rejection.UNKNOWN_INSTANCE:
                return _failure(status.NO_SUCH_OBJECT_INSTANCE, "no such procedure step")
            case Rejection.NOT_UPDATABLE:
                # PS3.4 F.7.2.2.2: "may no longer be updated" is a processing failure.
                return _failure(status.PROCESSING_FAILURE, "step may no longer be updated")
        if stored.outcome is Outcome.FAILED:
            return _failure(status.PROCESSING_FAILURE, "procedure step could not be applied")
        return SUCCESS

    def _write_file(self, event: evt.Event, dataset: Dataset) -> str:
        """Write the instance as received (never re-encoded), atomically, by study/series."""
        assert self._options.storage_dir is not None
        uids = [
            str(dataset.get(k, "")).strip()
            for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
        ]
        if not all(uids):
            return ""  # map_instance refuses it, naming the missing UID
        folder = self._options.storage_dir.joinpath(*uids[:2])
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{uids[2]}.dcm"
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".part") as part:
            part.write(event.encoded_dataset(include_meta=True))
            part.flush()
            os.fsync(part.fileno())
        os.replace(part.name, target)
        return str(target)


class _Server(ThreadedAssociationServer):
    """pynetdicom's threaded server, started and stopped by us rather than by its AE."""

    def shutdown(self) -> None:
        """Stop accepting and close the socket (the AE never listed this server)."""
        socketserver.BaseServer.shutdown(self)
        self.server_close()


def _set_nodelay(event: evt.Event) -> None:
    """Small DIMSE responses must not wait for Nagle's algorithm (about 40 ms each)."""
    sock = getattr(event.assoc.dul.socket, "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _calling_ae(event: evt.Event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _allowed(titles: tuple[str, ...], event: evt.Event) -> bool:
    return not titles or _calling_ae(event) in titles


def _status_of(answer: int | Dataset) -> int:
    return int(answer.Status) if isinstance(answer, Dataset) else int(answer)


def _failure(code: int, comment: str) -> Dataset:
    """A status with an Error Comment (LO: at most 64 characters)."""
    answer = Dataset()
    answer.Status = code
    answer.ErrorComment = comment[:64]
    return answer


def _peer(event: evt.Event) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.address}:{requestor.port}"


def _inbound(operation: str, calling: str, event: evt.Event, at: datetime, raw: bytes) -> Inbound:
    return Inbound(
        protocol="dicom",
        received_at=at,
        peer=_peer(event),
        raw=raw,
        outcome=Outcome.APPLIED,
        sending_application=calling,
        sending_facility="",
        message_type=operation,
    )


def _with(inbound: Inbound, events: Sequence[Event], control_id: str) -> Inbound:
    """The message with its events and its key (SOP Instance UID, or operation and UID)."""
    return replace(inbound, events=tuple(events), control_id=control_id or None)


def _header(encoded: bytes) -> bytes:
    """The dataset as received, up to its pixel data: the metadata the message log keeps."""
    end = encoded.find(_PIXEL_DATA_TAG)
    return encoded if end < 0 else encoded[:end]


def _encode(dataset: Dataset | None) -> bytes:
    """A DIMSE dataset's text for the message log (MPPS attribute lists are small)."""
    if dataset is None:
        return b""
    text = "\n".join(str(element) for element in dataset)
    return text.encode("utf-8", "replace")


__all__ = ["DicomListener", "DicomOptions"]
