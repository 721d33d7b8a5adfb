"""C-FIND pending responses sent without pynetdicom building each message from scratch.

For every worklist item pynetdicom's DIMSE provider turned a C-FIND response primitive into a
message, built and encoded its command set, then cut command and identifier into P-DATA
fragments: about 0.28 ms per item, more than all the gateway's own work for it. Yet every
pending response of one query has the same command set (PS3.7 9.3.2.2: Affected SOP Class
UID, Command Field, Message ID Being Responded To, Command Data Set Type, Status 0xFF00).

`send_msg` below does what pynetdicom's does for every message, except a pending C-FIND
response whose command it has made before on this association: then the command's P-DATA
primitives made the first time are sent again, and the identifier (already encoded, see
`listeners/dicom_worklist.py`) is cut into P-DATA fragments as pynetdicom cuts them (PS3.8
9.3.1, Annex E); a command and identifier that fit in one PDU leave in one.
`tests/listeners/test_dicom_pending.py` checks that the PDVs sent are those pynetdicom
makes. pynetdicom's EVT_DIMSE_SENT is not triggered for those responses, nor for a C-STORE
success (`listeners/dicom_store_answer.py`): the gateway binds no handler to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from typing import Any

from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.pdu_primitives import P_DATA

from listeners.dicom_store_answer import is_plain_success, success_fragments

PENDING = 0xFF00
_COMMAND_BIT = 0x01
_PDV_HEADER = 6  # PDV item length (4), presentation context ID (1), message control (1)
_PDV_ITEM = 5  # item length and context ID before a P_DATA value (which holds the control)
_COMMAND_AND_DATA = 2
_ORIGINAL = DIMSEServiceProvider.send_msg
_CACHE = "_imaging_gw_pending_command"


def install() -> None:
    """Use the send below for every association of this process (idempotent)."""
    DIMSEServiceProvider.send_msg = send_msg  # type: ignore[method-assign]


def send_msg(provider: DIMSEServiceProvider, primitive: Any, context_id: int) -> None:
    """pynetdicom's `DIMSEServiceProvider.send_msg`, with the pending C-FIND shortcut and
    the C-STORE success written directly (`listeners/dicom_store_answer.py`)."""
    if is_plain_success(primitive):
        fragments = success_fragments(primitive, context_id, provider.maximum_pdu_size)
        if fragments:
            for pdata in fragments:
                provider.dul.send_pdu(pdata)
            return
    if not _is_pending_find(primitive):
        _ORIGINAL(provider, primitive, context_id)
        return
    max_pdu = provider.maximum_pdu_size
    key = (str(primitive.AffectedSOPClassUID), primitive.MessageIDBeingRespondedTo, context_id)
    cached = getattr(provider, _CACHE, None)
    if cached is None or cached[0] != (key, max_pdu):
        command = command_fragments(primitive, context_id, max_pdu)
        setattr(provider, _CACHE, ((key, max_pdu), command))
    else:
        command = cached[1]
    identifier = primitive.Identifier.getvalue()
    fragments = (*command, *data_fragments(identifier, context_id, max_pdu))
    for pdata in together(fragments, max_pdu):
        provider.dul.send_pdu(pdata)


def command_fragments(primitive: C_FIND, context_id: int, max_pdu: int) -> tuple[P_DATA, ...]:
    """The P-DATA primitives of the response's command set, as pynetdicom makes them."""
    message = C_FIND_RSP()
    message.primitive_to_message(primitive)
    message.context_id = context_id
    return tuple(
        pdata
        for pdata in message.encode_msg(context_id, max_pdu)
        if pdata.presentation_data_value_list[0][1][0] & _COMMAND_BIT
    )


def data_fragments(data: bytes, context_id: int, max_pdu: int) -> Iterator[P_DATA]:
    """The identifier in P-DATA fragments of at most `max_pdu` (0: no limit); the last one
    says so in its message control header (PS3.8 E.2)."""
    if not data:
        return
    size = len(data) if max_pdu == 0 else max_pdu - _PDV_HEADER
    starts = range(0, len(data), size)
    last = starts[-1]
    for start in starts:
        pdata = P_DATA()
        header = b"\x02" if start == last else b"\x00"
        pdata.presentation_data_value_list.append((context_id, header + data[start : start + size]))
        yield pdata


def together(fragments: tuple[P_DATA, ...], max_pdu: int) -> tuple[P_DATA, ...]:
    """The message's PDVs in as few P-DATA as fit (PS3.8 9.3.5: a P-DATA-TF carries one or
    more PDVs, in order), so that a small answer leaves in one PDU rather than two."""
    values = [value for pdata in fragments for value in pdata.presentation_data_value_list]
    # One command and one identifier PDV, each an item of length, context ID and the value
    # (message control header and data), both within the peer's maximum PDU length.
    if len(values) != _COMMAND_AND_DATA or (
        max_pdu and sum(_PDV_ITEM + len(value) for _, value in values) > max_pdu
    ):
        return fragments
    pdata = P_DATA()
    pdata.presentation_data_value_list.extend(values)
    return (pdata,)


def _is_pending_find(primitive: Any) -> bool:
    return (
        isinstance(primitive, C_FIND)
        and primitive.MessageIDBeingRespondedTo is not None
        and primitive.Status == PENDING
        and isinstance(primitive.Identifier, BytesIO)
    )
