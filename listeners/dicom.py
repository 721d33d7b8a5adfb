"""The DICOM application entity: Verification, Storage, MPPS, Modality Worklist and Instance
Availability Notification SCPs (the last in `listeners/dicom_availability.py`).

pynetdicom calls these handlers on its own threads. Each one does its pure work there (reading
the dataset, writing a file), then hands the store work to the asyncio loop through one bridge
(`asyncio.run_coroutine_threadsafe(...).result(timeout)`), waits for the commit, and only then
returns its status: a success status, like an HL7 AA, means the data is durably stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.sop_class import InstanceAvailabilityNotification
from pynetdicom.transport import ThreadedAssociationServer

from listeners.dicom_answers import (
    SUCCESS,
    encode_attributes,
    failure,
    head_of,
    inbound_record,
    mpps_answer,
    status_of,
    with_events,
)
from listeners.dicom_availability import on_availability
from listeners.dicom_devices import SeenDevices
from listeners.dicom_files import (
    DurableFolders,
    kept_at,
    place_file,
    read_instance,
)
from listeners.dicom_reactor import watch
from listeners.dicom_server import (
    application_entity,
    calling_ae,
    log_rejection,
    serve,
    set_nodelay,
)
from listeners.dicom_worklist import PENDING, EncodedAnswers, worklist_answers
from listeners.options import DicomOptions
from listeners.tls import TlsEndpoint
from mappers.dicom import errors as status
from mappers.dicom.errors import DicomMappingError
from mappers.dicom.instances import map_instance, read_uids
from mappers.dicom.mpps import map_n_create, map_n_set
from mappers.dicom.worklist import parse_worklist_query
from mappers.dicom.worklist_encoding import plan_worklist_answer
from mappers.dicom.worklist_model import WorklistItem, WorklistQuery
from store.errors import StoreError
from store.ingest import Inbound, Ingest, Outcome, Stored

log = logging.getLogger(__name__)

T = TypeVar("T")
FindWorklist = Callable[[WorklistQuery], Awaitable[list[WorklistItem]]]


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
        tls: TlsEndpoint | None = None,
    ) -> None:
        self._observe = observe
        self._tls = tls
        self._ingest = ingest
        self._find_worklist = find_worklist
        self._options = options
        self._facility_tz = facility_tz
        self._worklist_answers = EncodedAnswers()
        storage = options.storage_dir
        self._folders = None if storage is None else DurableFolders(storage)
        self._store_timeout = store_timeout
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ThreadedAssociationServer | None = None
        self._tls_server: ThreadedAssociationServer | None = None
        self._devices = SeenDevices()

    async def start(self) -> None:
        """Bind and serve in pynetdicom's own threads; captures the running loop for the bridge."""
        self._loop = asyncio.get_running_loop()
        ae = application_entity(self._options)
        handlers = [
            (evt.EVT_CONN_OPEN, set_nodelay),
            (evt.EVT_CONN_OPEN, watch),
            (evt.EVT_REJECTED, log_rejection),
            (evt.EVT_C_ECHO, self._counted("C-ECHO", self._on_echo)),
            (evt.EVT_C_STORE, self._counted("C-STORE", self._on_store)),
            (evt.EVT_N_CREATE, self._counted("N-CREATE", self._on_n_create)),
            (evt.EVT_N_SET, self._counted("N-SET", self._on_n_set)),
            (evt.EVT_C_FIND, self._counted_find),
        ]
        options = self._options
        self._server = serve(ae, options, options.port, handlers)
        log.info("DICOM %s listening on %s:%d", options.ae_title, options.host, self.port)
        if self._tls is not None:
            # The same AE and services on a port of its own, each association over TLS
            # (PS3.15 Annex B.1, the Basic TLS Secure Transport Connection Profile).
            self._tls_server = serve(ae, options, self._tls.port, handlers, self._tls.context)
            log.info(
                "DICOM %s over TLS listening on %s:%d",
                options.ae_title,
                options.host,
                self.tls_port,
            )

    @property
    def port(self) -> int:
        """The bound port (port 0 binds a free one)."""
        if self._server is None:
            raise RuntimeError("the DICOM listener is not started")
        return self._server.server_address[1]

    @property
    def tls_port(self) -> int:
        """The bound TLS port.

        Raises:
            RuntimeError: no TLS port is served.
        """
        if self._tls_server is None:
            raise RuntimeError("the DICOM listener serves no TLS port")
        return self._tls_server.server_address[1]

    def is_serving(self) -> bool:
        """True while the server thread accepts associations."""
        return self._server is not None and self._server.socket.fileno() >= 0

    async def close(self) -> None:
        """Stop accepting and end the server; run off the loop, since its handler threads may
        be waiting on the loop for their commits."""
        servers = [s for s in (self._server, self._tls_server) if s is not None]
        self._server = self._tls_server = None
        for server in servers:
            await asyncio.to_thread(server.shutdown)
        if servers and self._folders is not None:
            self._folders.close()
        if servers:
            log.info("DICOM listener closed")

    def _counted(
        self, operation: str, handler: Callable[[evt.Event], T]
    ) -> Callable[[evt.Event], T]:
        """The handler, reporting each answer's status to the observer."""

        def answer(event: evt.Event) -> T:
            result = handler(event)
            if self._observe is not None:
                self._observe(
                    operation, status_of(result[0] if isinstance(result, tuple) else result)
                )
            return result

        return answer

    def _counted_find(self, event: evt.Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        last = SUCCESS
        for answer in self._on_find(event):
            last = status_of(answer[0])
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
        # Straight to the writer and back: no hop through the event loop.
        return self._indexed(self._ingest.submit_threadsafe(inbound), inbound.control_id)

    def _indexed(self, submitted: Future[Stored], control_id: str | None) -> Stored | None:
        """The writer's answer; None when the store is out of reach (nothing was stored)."""
        try:
            return submitted.result(self._store_timeout)
        except (StoreError, TimeoutError) as exc:
            log.error("DICOM %s not stored: %s", control_id, exc)
            return None

    # --- handlers --------------------------------------------------------------------

    def _on_echo(self, event: evt.Event) -> int:
        if not _allowed(self._options.echo_calling_aes, event):
            return status.NOT_AUTHORIZED
        return SUCCESS

    def _on_store(self, event: evt.Event) -> int | Dataset:
        calling = calling_ae(event)
        if not _allowed(self._options.storage_calling_aes, event):
            return status.NOT_AUTHORIZED
        received_at = self._clock()
        received = event.dataset_path  # the data set as it arrived, in a temporary file
        folders = self._folders  # its data flushed while it is read and mapped
        data = None if folders is None else folders.flush_received(received)
        try:
            dataset, logged = read_instance(received)
        except Exception as exc:  # a data set pydicom cannot read
            log.warning("C-STORE from %s unreadable: %s", calling, type(exc).__name__)
            inbound = inbound_record("C-STORE", calling, event, received_at, head_of(received))
            error = DicomMappingError("dataset cannot be read", status.CANNOT_UNDERSTAND)
            return self._refuse(inbound, error)
        inbound = inbound_record("C-STORE", calling, event, received_at, logged)
        try:
            # The UIDs are checked before any of them names a file (PS3.5 9.1).
            uids = read_uids(dataset)
            target = kept_at(self._options.storage_dir, uids)
            events = map_instance(
                dataset,
                calling_ae=calling,
                transfer_syntax=str(event.context.transfer_syntax),
                received_at=received_at,
                facility_tz=self._facility_tz,
                stored_path=str(target or ""),
            )
        except DicomMappingError as exc:
            return self._refuse(inbound, exc)
        except Exception as exc:  # an attribute pydicom cannot decode when it is read
            log.warning("C-STORE from %s unreadable: %s", calling, type(exc).__name__)
            error = DicomMappingError("dataset cannot be read", status.CANNOT_UNDERSTAND)
            return self._refuse(inbound, error)
        linked = False
        if target is not None:
            try:
                linked = place_file(received, target)
            except OSError as exc:
                log.error("C-STORE from %s not written: %s", calling, exc.strerror or exc)
                return failure(status.OUT_OF_RESOURCES, "instance could not be written; resend")
        control_id = uids["SOPInstanceUID"]
        indexing = self._ingest.submit_threadsafe(
            with_events(inbound, self._devices.news(events), control_id=control_id)
        )
        # The file goes to disk while the writer commits the index: the answer waits for
        # both. A crash in between leaves an instance indexed but never acknowledged; the
        # sender sends it again, and that receipt writes the file again before its answer.
        written = target is None or (
            folders is not None and folders.flushed(target, calling, data if linked else None)
        )
        stored = self._indexed(indexing, control_id)
        if stored is None or not written:
            return failure(status.OUT_OF_RESOURCES, "storage unavailable; resend")
        if stored.outcome is Outcome.FAILED:
            return failure(status.PROCESSING_FAILURE, "instance could not be indexed")
        if stored.outcome is Outcome.REJECTED:  # a value the database cannot hold
            return failure(status.CANNOT_UNDERSTAND, "a value cannot be stored")
        return SUCCESS

    def _on_n_create(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        if str(event.request.AffectedSOPClassUID) == InstanceAvailabilityNotification:
            if not _allowed(self._options.ian_calling_aes, event):
                return status.NOT_AUTHORIZED, None
            return on_availability(
                event, submit=self._submit, refuse=self._refuse, received_at=self._clock()
            )
        calling = calling_ae(event)
        if not _allowed(self._options.mpps_calling_aes, event):
            return status.NOT_AUTHORIZED, None
        received_at = self._clock()
        attributes = event.attribute_list
        sop_instance_uid = str(event.request.AffectedSOPInstanceUID or "")
        inbound = inbound_record(
            "N-CREATE", calling, event, received_at, encode_attributes(attributes)
        )
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
            return self._refuse(with_events(inbound, (), f"N-CREATE:{sop_instance_uid}"), exc), None
        stored = self._submit(with_events(inbound, events, f"N-CREATE:{sop_instance_uid}"))
        answer = mpps_answer(stored)
        return answer, (attributes if answer == SUCCESS else None)

    def _on_n_set(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        calling = calling_ae(event)
        if not _allowed(self._options.mpps_calling_aes, event):
            return status.NOT_AUTHORIZED, None
        received_at = self._clock()
        modifications = event.modification_list
        sop_instance_uid = str(event.request.RequestedSOPInstanceUID or "")
        control_id = f"N-SET:{sop_instance_uid}"
        inbound = inbound_record(
            "N-SET", calling, event, received_at, encode_attributes(modifications)
        )
        try:
            events = map_n_set(
                modifications,
                sop_instance_uid=sop_instance_uid,
                received_at=received_at,
                facility_tz=self._facility_tz,
            )
        except DicomMappingError as exc:
            return self._refuse(with_events(inbound, (), control_id), exc), None
        stored = self._submit(with_events(inbound, events, control_id))
        answer = mpps_answer(stored, creating=False)
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
            yield failure(exc.status, exc.reason), None
            return
        except Exception as exc:  # the store out of reach, a timeout
            log.error("worklist query from %s failed: %s", calling_ae(event), exc)
            yield failure(status.OUT_OF_RESOURCES, "worklist unavailable"), None
            return
        yield from worklist_answers(
            event, items, plan, self._worklist_answers, facility_tz=self._facility_tz
        )

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
        return failure(error.status, error.reason)


def _allowed(titles: tuple[str, ...], event: evt.Event) -> bool:
    return not titles or calling_ae(event) in titles


__all__ = ["DicomListener", "DicomOptions"]
