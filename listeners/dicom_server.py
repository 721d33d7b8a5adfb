"""The DICOM AE's network side: its services, its listening sockets, and their threads.

pynetdicom runs each association on threads of its own; this module builds the AE, binds its
ports (plain and TLS) with a real listen backlog, and keeps pynetdicom's per-association setup
cheap. The handlers live in `listeners/dicom.py`.
"""

from __future__ import annotations

import copy
import logging
import socket
import socketserver
import ssl
import threading
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, dsutils, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom import service_class as pynetdicom_service_class
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    InstanceAvailabilityNotification,
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from listeners import dicom_pending, dicom_reactor, dicom_store_request

if TYPE_CHECKING:
    from listeners.options import DicomOptions

log = logging.getLogger("listeners.dicom")

SHUTDOWN_POLL = 0.05  # seconds between the acceptor's checks for a shutdown request


def application_entity(options: DicomOptions) -> AE:
    """The AE with every service the gateway offers, its limits and timeouts from `options`."""
    # pynetdicom's standard handlers format every DIMSE message for its log, whatever the
    # log level: about 7% of a worklist answer's CPU. Our handlers log what matters.
    pynetdicom_config.LOG_HANDLER_LEVEL = "none"
    # Likewise its C-FIND service formats every request and answer identifier for the log
    # before the log level is looked at: about 0.3 ms per worklist item (bench/worklist.py).
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
    # A C-STORE data set is written to a temporary file as it arrives, never held whole in
    # memory: a 200 MB instance costs a few PDUs (listeners/dicom_files.py).
    pynetdicom_config.STORE_RECV_CHUNKED_DATASET = True
    # A worklist answer already encoded for its context is sent as it is: pynetdicom's C-FIND
    # service would otherwise write a Dataset for every item (about 70 us each).
    pynetdicom_service_class.encode = encode_identifier
    # ...and its pending response reuses the command set made for the query's first one.
    dicom_pending.install()
    # Its reactors wait for work instead of polling every millisecond (bound by `watch`).
    dicom_reactor.install()
    # A C-STORE request's command is read directly, not through two Datasets.
    dicom_store_request.install()
    ae = AdmittingAE(ae_title=options.ae_title)
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
    # A PACS tells which instances it holds (IHE RAD-49): the images are available.
    ae.add_supported_context(InstanceAvailabilityNotification, ALL_TRANSFER_SYNTAXES)
    return ae


class AdmittingAE(AE):
    """An AE whose association limit admits associations in the order they ask.

    pynetdicom counts every live acceptor thread, the ones still negotiating included, when
    it decides whether one more may be accepted; fifty modalities connecting at once were
    therefore all refused with a limit of twenty. Here each association is decided once, under
    a lock, against the associations admitted before it that are still alive.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admission = threading.Lock()
        self._admitted: dict[threading.Thread, bool] = {}

    @property
    def active_associations(self) -> list[Any]:
        """As pynetdicom's, except for the acceptor asking about itself: the associations
        admitted before it, plus itself when the limit leaves it no room (so it is refused)."""
        active = super().active_associations
        current = threading.current_thread()
        if current not in active or not getattr(current, "is_acceptor", False):
            return active
        with self._admission:
            for gone in [t for t in self._admitted if not t.is_alive()]:
                del self._admitted[gone]
            admitted = [t for t, yes in self._admitted.items() if yes and t is not current]
            if current not in self._admitted:
                self._admitted[current] = len(admitted) < self.maximum_associations
            if self._admitted[current]:
                return [*admitted, current]
            return [current] * (self.maximum_associations + 1)  # past the limit: refused


class EncodedIdentifier(Dataset):
    """A C-FIND answer identifier already encoded in its presentation context's transfer
    syntax (`mappers/dicom/worklist_encoding.py`); pynetdicom sends its bytes unchanged.

    Made without a Dataset's set-up, which took a third of the gateway's time per worklist
    item: pynetdicom hands it only to `encode_identifier`, which reads the bytes alone, and
    the gateway never logs response identifiers (LOG_RESPONSE_IDENTIFIERS is off).
    """

    encoded_bytes: bytes

    def __init__(self, encoded: bytes) -> None:  # no Dataset.__init__: see above
        object.__setattr__(self, "encoded_bytes", encoded)


def encode_identifier(
    ds: Dataset, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False
) -> bytes | None:
    """pynetdicom's `dsutils.encode`, except that an EncodedIdentifier is its own encoding."""
    if isinstance(ds, EncodedIdentifier) and not deflated:
        return ds.encoded_bytes
    return dsutils.encode(ds, is_implicit_vr, is_little_endian, deflated)


def serve(
    ae: AE,
    options: DicomOptions,
    port: int,
    handlers: list[Any],
    ssl_context: ssl.SSLContext | None = None,
) -> ThreadedAssociationServer:
    """Bind one port for the AE and accept on a thread of our own: socketserver's default
    0.5 s poll would make every shutdown wait up to half a second."""
    server = ae.make_server(
        (options.host, port),
        evt_handlers=handlers,
        server_class=_Server,
        ssl_context=ssl_context,
        listen_backlog=options.listen_backlog,
    )
    threading.Thread(
        target=server.serve_forever, args=(SHUTDOWN_POLL,), name="dicom-acceptor", daemon=True
    ).start()
    return server


class _Server(ThreadedAssociationServer):
    """pynetdicom's threaded server, started and stopped by us rather than by its AE."""

    def __init__(self, *args: Any, listen_backlog: int, **kwargs: Any) -> None:
        # socketserver listens with a backlog of 5: fifty modalities connecting at once had
        # their SYNs dropped and retried for seconds. Set before the base class listens.
        self.request_queue_size = listen_backlog
        super().__init__(*args, **kwargs)
        self.contexts = _SupportedContexts(self.contexts)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection; with TLS, leave the handshake to the association's thread.

        pynetdicom shakes hands in the accepting thread, so one client that connects and says
        nothing would hold every other client of the TLS port until its timeout.
        """
        client, address = self.socket.accept()
        if self.ssl_context is not None:
            client = self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client, address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """On the association's own thread: finish the TLS handshake, within the ACSE
        timeout, before pynetdicom reads; a client that fails it is one INFO line."""
        if isinstance(request, ssl.SSLSocket):
            timeout = request.gettimeout()
            try:
                request.settimeout(self.ae.acse_timeout)
                request.do_handshake()
                request.settimeout(timeout)
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or type(exc).__name__
                log.info("TLS handshake from %s:%s failed: %s", *client_address[:2], reason)
                self.shutdown_request(request)
                return
        super().process_request_thread(request, client_address)

    def shutdown(self) -> None:
        """Stop accepting and close the socket (the AE never listed this server)."""
        socketserver.BaseServer.shutdown(self)
        self.server_close()


class _SupportedContexts(list[PresentationContext]):
    """The contexts the AE supports, copied for each association without deepcopy's cost.

    pynetdicom deep-copies them for every association, since negotiation marks its own copy:
    171 contexts of 45 transfer syntaxes took about 80 ms of CPU under the GIL, so fifty
    associations opened at once waited up to 4 s. A shallow copy of each context, with its
    own list of (immutable) transfer syntax UIDs, is all negotiation needs.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> list[PresentationContext]:
        return [_own_copy(context) for context in self]


def _own_copy(context: PresentationContext) -> PresentationContext:
    fresh = copy.copy(context)
    fresh._transfer_syntax = list(context.transfer_syntax)
    return fresh


def set_nodelay(event: evt.Event) -> None:
    """Small DIMSE responses must not wait for Nagle's algorithm (about 40 ms each)."""
    sock = getattr(event.assoc.dul.socket, "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def log_rejection(event: evt.Event) -> None:
    """One line per rejected association (a stranger's AE title, or the association limit)."""
    log.info("association from %s at %s rejected", calling_ae(event), peer(event))


def calling_ae(event: evt.Event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def peer(event: evt.Event) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.address}:{requestor.port}"
