"""pynetdicom's reactors, on an association the gateway accepted, wait for their work.

Each wait is given a minute; a wait that was not woken would hold its thread that long, so
a thread still waiting after a few seconds is the failure. The timings are never compared.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from listeners import dicom_reactor

A_MINUTE = 60.0
SOON = 5.0


def _waits(wait: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def peer() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


@pytest.fixture
def provider(peer: tuple[socket.socket, socket.socket]) -> Iterator[SimpleNamespace]:
    """A DUL provider's parts the wait looks at: its socket and its outgoing queue."""
    waker = dicom_reactor.Waker()
    yield SimpleNamespace(
        socket=SimpleNamespace(socket=peer[0]),
        to_provider_queue=dicom_reactor.WakingQueue(waker),
        waker=waker,
    )
    waker.close()


def test_the_dul_wakes_when_the_peer_sends(peer, provider) -> None:
    waiting = _waits(lambda: dicom_reactor._wait_for_transport(provider, provider.waker, A_MINUTE))
    peer[1].sendall(b"\x04")
    waiting.join(SOON)
    assert not waiting.is_alive()


def test_the_dul_wakes_when_a_primitive_is_queued(provider) -> None:
    waiting = _waits(lambda: dicom_reactor._wait_for_transport(provider, provider.waker, A_MINUTE))
    time.sleep(0.05)  # let it reach select
    provider.to_provider_queue.put("P-DATA")
    waiting.join(SOON)
    assert not waiting.is_alive()
    assert provider.to_provider_queue.get_nowait() == "P-DATA"


def test_a_queued_primitive_is_not_waited_for(provider) -> None:
    provider.to_provider_queue.put("P-DATA")
    provider.waker.drain()  # even with its wake-up byte gone
    waiting = _waits(lambda: dicom_reactor._wait_for_transport(provider, provider.waker, A_MINUTE))
    waiting.join(SOON)
    assert not waiting.is_alive()


def test_the_dul_without_a_socket_sleeps_as_asked(provider) -> None:
    provider.socket = SimpleNamespace(socket=None)
    started = time.monotonic()
    dicom_reactor._wait_for_transport(provider, provider.waker, 0.05)
    assert time.monotonic() - started >= 0.05


def test_the_association_wakes_when_a_message_arrives() -> None:
    assoc = SimpleNamespace(dimse=SimpleNamespace(msg_queue=queue.Queue()))
    waiting = _waits(lambda: dicom_reactor._wait_for_message(assoc, A_MINUTE))
    time.sleep(0.05)
    assoc.dimse.msg_queue.put((1, "C-STORE-RQ"))
    waiting.join(SOON)
    assert not waiting.is_alive()


def test_other_threads_sleep_as_before() -> None:
    """The gateway's own SCUs, and anything else in pynetdicom, keep its sleeps."""
    started = time.monotonic()
    dicom_reactor.sleep(0.05)
    assert time.monotonic() - started >= 0.05


def test_an_accepted_association_is_served_with_the_waits() -> None:
    """Echoes over real associations to an SCP that marks them: every one answered, and the
    association's threads were the ones marked."""
    dicom_reactor.install()
    watched: list[object] = []

    def mark(event: evt.Event) -> None:
        dicom_reactor.watch(event)
        watched.append(event.assoc)

    scp = AE(ae_title="SCP")
    scp.add_supported_context(Verification)
    server = scp.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_CONN_OPEN, mark)]
    )
    try:
        scu = AE(ae_title="SCU")
        scu.add_requested_context(Verification)
        for _ in range(2):
            assoc = scu.associate("127.0.0.1", server.server_address[1], ae_title="SCP")
            assert assoc.is_established
            statuses = [assoc.send_c_echo().Status for _ in range(20)]
            assoc.release()
            assert statuses == [0x0000] * 20
    finally:
        server.shutdown()
    assert len(watched) == 2
    assert all(isinstance(a.dul.to_provider_queue, dicom_reactor.WakingQueue) for a in watched)


def test_no_wake_up_is_written_while_the_dul_is_busy(provider) -> None:
    """A thousand responses queued while the DUL thread sends cost no thousand writes."""
    for n in range(1000):
        provider.to_provider_queue.put(n)
    provider.waker.readable.setblocking(False)
    with pytest.raises(BlockingIOError):
        provider.waker.readable.recv(1)
