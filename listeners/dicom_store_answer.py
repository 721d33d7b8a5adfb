"""A successful C-STORE response's command set, encoded directly rather than by pynetdicom.

For every response pynetdicom builds a DIMSE message, fills a pydicom Dataset with the
command elements, sorts and encodes it and cuts it into P-DATA: measured with `storescu`
against a bare pynetdicom SCP, that was about two fifths of all the SCP's own work per
instance. A C-STORE success holds six fixed elements (PS3.7 9.3.1.2), always in Implicit VR
Little Endian (PS3.7 6.3.1), so its bytes are written here, in tag order, behind the
Command Group Length; the message has no data set (Command Data Set Type 0x0101). Any
other status, or a response carrying an Error Comment or an Offending Element, is left to
pynetdicom. `tests/listeners/test_dicom_store_answer.py` checks the bytes are pynetdicom's.
"""

from __future__ import annotations

import struct
from typing import Any

from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA

SUCCESS = 0x0000
_C_STORE_RSP = 0x8001
_NO_DATA_SET = 0x0101
_LAST_COMMAND_FRAGMENT = b"\x03"  # message control header: command, last fragment
_PDV_HEADER = 6  # PDV item length (4), presentation context ID (1), message control (1)
_OPTIONAL = ("ErrorComment", "OffendingElement", "ErrorID")


def is_plain_success(primitive: Any) -> bool:
    """A C-STORE response with status Success and nothing beyond the required elements."""
    return (
        isinstance(primitive, C_STORE)
        and primitive.MessageIDBeingRespondedTo is not None
        and primitive.Status == SUCCESS
        and primitive.AffectedSOPClassUID is not None
        and primitive.AffectedSOPInstanceUID is not None
        and all(getattr(primitive, name, None) is None for name in _OPTIONAL)
    )


def success_fragments(primitive: C_STORE, context_id: int, max_pdu: int) -> tuple[P_DATA, ...]:
    """The response's one P-DATA (none when the command would not fit the peer's PDU)."""
    command = encode_command(
        str(primitive.AffectedSOPClassUID),
        int(primitive.MessageIDBeingRespondedTo),  # type: ignore[arg-type]
        str(primitive.AffectedSOPInstanceUID),
    )
    if max_pdu and len(command) + _PDV_HEADER > max_pdu:
        return ()
    pdata = P_DATA()
    pdata.presentation_data_value_list.append((context_id, _LAST_COMMAND_FRAGMENT + command))
    return (pdata,)


def encode_command(sop_class: str, message_id: int, sop_instance: str) -> bytes:
    """The command set, Command Group Length first, then the elements by tag."""
    body = b"".join(
        (
            _element(0x0002, _uid(sop_class)),  # Affected SOP Class UID
            _element(0x0100, _us(_C_STORE_RSP)),  # Command Field
            _element(0x0120, _us(message_id)),  # Message ID Being Responded To
            _element(0x0800, _us(_NO_DATA_SET)),  # Command Data Set Type
            _element(0x0900, _us(SUCCESS)),  # Status
            _element(0x1000, _uid(sop_instance)),  # Affected SOP Instance UID
        )
    )
    return _element(0x0000, struct.pack("<I", len(body))) + body


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _us(number: int) -> bytes:
    return struct.pack("<H", number)


def _uid(uid: str) -> bytes:
    encoded = uid.encode("ascii")
    return encoded + b"\0" if len(encoded) % 2 else encoded  # UI pads with NUL (PS3.5 6.2)
