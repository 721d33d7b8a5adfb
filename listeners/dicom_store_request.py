"""A C-STORE request's command set read directly rather than through a pydicom Dataset.

For every request pynetdicom's DIMSE provider decoded the command set into a Dataset, built
the File Meta Information as another Dataset and encoded it into the temporary file, then
turned the command Dataset's elements one by one into the request primitive: with `storescu`
against the gateway, about half of the DUL thread's work per instance (`bench/dicom.py`).
Yet a C-STORE-RQ is six or seven elements of group 0000 in Implicit VR Little Endian
(PS3.7 9.3.1.1, 6.3.1), and its File Meta Information six (PS3.10 7.1).

`receive_primitive` below reads such a command itself when it arrives whole in one fragment
(as DCMTK and pynetdicom send it), writes the File Meta Information bytes pynetdicom would
write, and leaves the message on the provider as pynetdicom would have left it: its data set
fragments then go through pynetdicom's own `decode_msg`. Anything else (another command, a
Move Originator, a command in several fragments, an element it does not expect, a data set
held in memory) is pynetdicom's. The command Dataset is still there for whoever asks
(`EVT_DIMSE_RECV` handlers): decoded on first access. `tests/listeners/test_dicom_store_request.py`
holds the primitive and the file to pynetdicom's.
"""

from __future__ import annotations

import re
import struct
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
from pynetdicom import _config as pynetdicom_config
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import decode
from pynetdicom.pdu_primitives import P_DATA

_ORIGINAL = DIMSEServiceProvider.receive_primitive
_LAST_COMMAND_FRAGMENT = 0x03
_C_STORE_RQ = 0x0001
_NO_DATA_SET = 0x0101
_HEADER = struct.Struct("<HHI")
_US = struct.Struct("<H")
# The command elements a plain C-STORE-RQ holds (element numbers of group 0000), each once.
_GROUP_LENGTH, _SOP_CLASS, _FIELD, _MESSAGE_ID, _PRIORITY, _DATA_SET_TYPE, _SOP_INSTANCE = (
    0x0000,
    0x0002,
    0x0100,
    0x0110,
    0x0700,
    0x0800,
    0x1000,
)
_REQUIRED = frozenset(
    (_GROUP_LENGTH, _SOP_CLASS, _FIELD, _MESSAGE_ID, _PRIORITY, _DATA_SET_TYPE, _SOP_INSTANCE)
)
_UID = re.compile(rb"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_PREAMBLE = b"\x00" * 128 + b"DICM"


def install() -> None:
    """Use the receive below for every association of this process (idempotent)."""
    DIMSEServiceProvider.receive_primitive = receive_primitive  # type: ignore[method-assign]


def receive_primitive(provider: DIMSEServiceProvider, primitive: P_DATA) -> None:
    """pynetdicom's `DIMSEServiceProvider.receive_primitive`, a plain C-STORE-RQ's command
    read directly."""
    values = getattr(primitive, "presentation_data_value_list", None)
    chunked = pynetdicom_config.STORE_RECV_CHUNKED_DATASET
    if provider.message is not None or not values or not chunked:
        _ORIGINAL(provider, primitive)
        return
    context_id, data = values[0]
    fields = read_store_command(data) if data[:1] == b"\x03" else None
    if fields is None:
        _ORIGINAL(provider, primitive)
        return
    transfer_syntax = str(provider.assoc._accepted_cx[context_id].transfer_syntax[0])
    provider.message = StoreRequest(data[1:], fields, context_id, transfer_syntax)
    if len(values) > 1:  # data set fragments in the same P-DATA: pynetdicom's from here
        rest = P_DATA()
        rest.presentation_data_value_list.extend(values[1:])
        _ORIGINAL(provider, rest)


def read_store_command(pdv: bytes) -> dict[int, Any] | None:
    """A plain C-STORE-RQ's values by element number from its PDV (message control header
    first), or None for any other command (pynetdicom reads those)."""
    if len(pdv) < 2 or pdv[0] & _LAST_COMMAND_FRAGMENT != _LAST_COMMAND_FRAGMENT:
        return None
    command, offset, end = pdv, 1, len(pdv)
    fields: dict[int, Any] = {}
    while offset < end:
        if offset + 8 > end:
            return None
        group, element, length = _HEADER.unpack_from(command, offset)
        offset += 8
        value = command[offset : offset + length]
        offset += length
        if group != 0 or element in fields or element not in _REQUIRED or len(value) != length:
            return None
        fields[element] = value
    if fields.keys() != _REQUIRED or not _numbers(fields):
        return None
    if fields[_FIELD] != _C_STORE_RQ or fields[_DATA_SET_TYPE] == _NO_DATA_SET:
        return None
    if fields[_GROUP_LENGTH] != end - 1 - 12:  # the bytes after the group length element
        return None
    for uid in (_SOP_CLASS, _SOP_INSTANCE):
        text = fields[uid].rstrip(b"\0")
        if not 0 < len(text) <= 64 or not _UID.fullmatch(text):
            return None
        fields[uid] = text.decode("ascii")
    return fields


def _numbers(fields: dict[int, Any]) -> bool:
    """Decode the US and UL values in place; False when one has the wrong length."""
    if len(fields[_GROUP_LENGTH]) != 4:
        return False
    fields[_GROUP_LENGTH] = struct.unpack("<I", fields[_GROUP_LENGTH])[0]
    for us in (_FIELD, _MESSAGE_ID, _PRIORITY, _DATA_SET_TYPE):
        if len(fields[us]) != 2:
            return False
        fields[us] = _US.unpack(fields[us])[0]
    return True


def file_meta(sop_class: str, sop_instance: str, transfer_syntax: str) -> bytes:
    """The preamble, prefix and File Meta Information pynetdicom writes before a received
    data set (Explicit VR Little Endian, PS3.10 7.1), as `write_file_meta_info` encodes it."""
    body = b"".join(
        (
            _explicit(0x0001, b"OB", b"\x00\x01"),
            _explicit(0x0002, b"UI", _padded(sop_class, b"\0")),
            _explicit(0x0003, b"UI", _padded(sop_instance, b"\0")),
            _explicit(0x0010, b"UI", _padded(transfer_syntax, b"\0")),
            _explicit(0x0012, b"UI", _padded(PYNETDICOM_IMPLEMENTATION_UID, b"\0")),
            _explicit(0x0013, b"SH", _padded(PYNETDICOM_IMPLEMENTATION_VERSION, b" ")),
        )
    )
    return _PREAMBLE + _explicit(0x0000, b"UL", struct.pack("<I", len(body))) + body


def _explicit(element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":  # a long VR: two reserved bytes, then a 32-bit length (PS3.5 7.1.2)
        return struct.pack("<HH", 0x0002, element) + vr + struct.pack("<HI", 0, len(value)) + value
    return struct.pack("<HH", 0x0002, element) + vr + struct.pack("<H", len(value)) + value


def _padded(text: str, pad: bytes) -> bytes:
    encoded = text.encode("ascii")
    return encoded + pad if len(encoded) % 2 else encoded


class StoreRequest(C_STORE_RQ):
    """A C-STORE-RQ message as pynetdicom's `decode_msg` leaves it once the command set is in,
    its command read directly; its Dataset is decoded only if asked for."""

    def __init__(
        self, command: bytes, fields: dict[int, Any], context_id: int, transfer_syntax: str
    ) -> None:  # no DIMSEMessage.__init__: it fills a command Dataset
        self.context_id = context_id
        self.encoded_command_set = BytesIO()
        self.encoded_command_set.write(command)
        self.data_set = BytesIO()
        self._fields: dict[int, Any] | None = fields
        sop_class, sop_instance = fields[_SOP_CLASS], fields[_SOP_INSTANCE]
        file = tempfile.NamedTemporaryFile(delete=False, mode="wb", suffix=".dcm")  # noqa: SIM115
        self._data_set_file = file
        self._data_set_path = Path(file.name)
        file.write(file_meta(sop_class, sop_instance, transfer_syntax))

    @property  # type: ignore[override]
    def command_set(self) -> Dataset:
        """The command set as pynetdicom decodes it (on first access)."""
        if "command_set" not in self.__dict__:
            self.__dict__["command_set"] = decode(
                BytesIO(self.encoded_command_set.getvalue()), True, True
            )
        return self.__dict__["command_set"]

    @command_set.setter
    def command_set(self, value: Dataset) -> None:
        # pynetdicom decoded a command itself (another command fragment came): its way now.
        self.__dict__["command_set"] = value
        self._fields = None

    def message_to_primitive(self) -> Any:
        """The C-STORE request primitive, as pynetdicom's `message_to_primitive` makes it."""
        fields = self._fields
        if fields is None:
            return super().message_to_primitive()
        primitive = C_STORE()
        primitive.AffectedSOPClassUID = fields[_SOP_CLASS]
        primitive.MessageID = fields[_MESSAGE_ID]
        primitive.Priority = fields[_PRIORITY]
        primitive.AffectedSOPInstanceUID = fields[_SOP_INSTANCE]
        primitive.DataSet = self.data_set
        primitive._context_id = self.context_id
        primitive._dataset_path = self._data_set_path
        primitive._dataset_file = self._data_set_file
        return primitive


StoreRequest.__name__ = StoreRequest.__qualname__ = "C_STORE_RQ"  # pynetdicom reads the name
