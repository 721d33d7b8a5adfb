"""pynetdicom's two reactor loops woken by what they wait for, not by 1 ms polls.

Each association pynetdicom serves runs two polling loops: the DUL thread sleeps 1 ms
whenever a turn found nothing to do (`time.sleep(self._run_loop_delay)` in pynetdicom.dul),
and the association thread sleeps 1 ms before every look at the DIMSE queue. A C-STORE
crosses both loops on its way in and the DUL loop again on its way out, so a sender that
waits for each answer (as `storescu` and every modality do) waits up to three polls per
instance. With `storescu` against a bare pynetdicom SCP that only answers, most of the
4 ms an instance took was those polls (bench/dicom.py).

For the associations the gateway accepts (marked by `watch` on EVT_CONN_OPEN, before their
threads start), each of those sleeps becomes a wait, bounded by the same time, for exactly
what the loop polls for:
- the DUL thread waits until the peer's socket is readable or a primitive is queued to be
  sent (its outgoing queue writes a byte to a socket pair the wait also watches);
- the association thread waits until the DIMSE queue holds a message.
So every turn the loops make is the one they would have made, only sooner. Every other
sleep, and every thread of an association the gateway did not accept (its own SCUs), sleeps
as before. `install` swaps the `time` that pynetdicom's two modules see for a copy whose
`sleep` does this; `tests/listeners/test_dicom_reactor.py` holds it to that.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import ssl
import threading
import time
import types
import weakref
from typing import Any

from pynetdicom import association as pynetdicom_association
from pynetdicom import dul as pynetdicom_dul
from pynetdicom import evt

_WAKER = "_imaging_gw_waker"  # on a DUL provider: its Waker
_WATCHED = "_imaging_gw_watched"  # on an association: True


class Waker:
    """A socket pair: a byte written to one end makes the other readable, so a thread in
    `select` on it wakes up. The byte is written only while that thread waits: a worklist
    answer queues a thousand responses while the DUL thread is busy sending them."""

    def __init__(self) -> None:
        self.readable, self._writable = socket.socketpair()
        self.readable.setblocking(False)
        self._writable.setblocking(False)
        # Set by the waiting thread before it looks at its queue one last time, so a put
        # after that look sees it set (and one before it is seen by the look).
        self.waiting = False

    def wake(self) -> None:
        if not self.waiting:
            return
        # A full pair already holds a wake-up; a closed one has no waiter left.
        with contextlib.suppress(OSError):
            self._writable.send(b"\0")

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            while self.readable.recv(4096):
                pass

    def close(self) -> None:
        self.readable.close()
        self._writable.close()


class WakingQueue(queue.Queue[Any]):
    """A DUL provider's outgoing queue that wakes its thread when a primitive is put."""

    def __init__(self, waker: Waker) -> None:
        super().__init__()
        self._waker = waker

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._waker.wake()


def watch(event: evt.Event) -> None:
    """EVT_CONN_OPEN: mark an accepted association's two threads to wait, not poll."""
    assoc = event.assoc
    provider = assoc.dul
    waker = Waker()
    provider.to_provider_queue = WakingQueue(waker)
    setattr(provider, _WAKER, waker)
    setattr(assoc, _WATCHED, True)
    weakref.finalize(provider, waker.close)


def sleep(seconds: float) -> None:
    """`time.sleep` for pynetdicom's modules: a wait for work on a watched thread."""
    thread = threading.current_thread()
    waker = getattr(thread, _WAKER, None)
    if waker is not None:
        _wait_for_transport(thread, waker, seconds)
    elif getattr(thread, _WATCHED, False):
        _wait_for_message(thread, seconds)
    else:
        time.sleep(seconds)


def _wait_for_transport(provider: Any, waker: Waker, seconds: float) -> None:
    """Until the peer sent something or a primitive waits to be sent, at most `seconds`."""
    peer = getattr(provider.socket, "socket", None)
    if peer is None or (isinstance(peer, ssl.SSLSocket) and peer.pending()):
        time.sleep(seconds)  # closed, or TLS holds decrypted bytes that select cannot see
        return
    waker.waiting = True
    try:
        if not provider.to_provider_queue.empty():
            return
        select.select([peer, waker.readable], [], [], seconds)
    except (OSError, ValueError):  # the socket closed meanwhile: the loop will see it
        time.sleep(seconds)
    finally:
        waker.waiting = False
    waker.drain()


def _wait_for_message(assoc: Any, seconds: float) -> None:
    """Until the DIMSE queue holds a message, at most `seconds`; a plain sleep when one is
    there already (the loop that sleeps is not the one that takes it)."""
    messages = assoc.dimse.msg_queue
    with messages.not_empty:
        if not messages.queue:  # not qsize(): that takes the lock held here
            messages.not_empty.wait(seconds)
            return
    time.sleep(seconds)


def _time_with(sleeper: Any) -> types.SimpleNamespace:
    names = {name: getattr(time, name) for name in dir(time) if not name.startswith("__")}
    return types.SimpleNamespace(**{**names, "sleep": sleeper})


def install() -> None:
    """Let pynetdicom's DUL and association modules sleep through `sleep` (idempotent)."""
    patched = _time_with(sleep)
    pynetdicom_dul.time = patched  # type: ignore[attr-defined]
    pynetdicom_association.time = patched  # type: ignore[attr-defined]
