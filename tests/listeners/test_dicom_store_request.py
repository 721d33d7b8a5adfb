"""A C-STORE request read by the direct path is the primitive and file pynetdicom would make."""

from __future__ import annotations

import queue
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynetdicom import _config as pynetdicom_config
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_ECHO_RQ, C_STORE_RQ
from pynetdicom.dimse_primitives import C_ECHO, C_STORE
from pynetdicom.pdu_primitives import P_DATA

from listeners import dicom_store_request
from listeners.dicom_server import application_entity
from listeners.dicom_store_request import StoreRequest, read_store_command
from listeners.options import DicomOptions

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
uids = st.from_regex(r"\A[1-9][0-9]{0,8}(\.(0|[1-9][0-9]{0,8})){1,7}\Z")


def _request(sop_instance: str, message_id: int, priority: int, sop_class: str) -> C_STORE:
    request = C_STORE()
    request.MessageID = message_id
    request.AffectedSOPClassUID = sop_class
    request.AffectedSOPInstanceUID = sop_instance
    request.Priority = priority
    return request


def _pdatas(request: C_STORE, data: bytes, context_id: int, max_pdu: int) -> list[P_DATA]:
    """The P-DATA a pynetdicom SCU sends for the request (command, then data fragments)."""
    message = C_STORE_RQ()
    request.DataSet = BytesIO(data)
    message.primitive_to_message(request)
    return list(message.encode_msg(context_id, max_pdu))


def _provider(transfer_syntax: str = EXPLICIT_LE) -> DIMSEServiceProvider:
    """A DIMSE provider on an association that accepted context 1 with `transfer_syntax`."""
    context = SimpleNamespace(transfer_syntax=[transfer_syntax])
    assoc = SimpleNamespace(_accepted_cx={1: context, 3: context}, get_handlers=lambda _: [])
    provider = DIMSEServiceProvider.__new__(DIMSEServiceProvider)
    provider._assoc = assoc  # type: ignore[attr-defined]
    provider.message = None
    provider.msg_queue = queue.Queue()
    provider.cancel_req = {}
    return provider


def _received(receive: Any, pdatas: list[P_DATA]) -> tuple[int, C_STORE, bytes]:
    provider = _provider()
    for pdata in pdatas:
        receive(provider, pdata)
    context_id, primitive = provider.msg_queue.get_nowait()
    assert provider.msg_queue.empty() and provider.message is None
    primitive._dataset_file.close()
    path = Path(primitive._dataset_path)
    written = path.read_bytes()
    path.unlink()
    return context_id, primitive, written


def _fields(primitive: C_STORE) -> dict[str, Any]:
    names = [n for n in dir(primitive) if n[0].isupper() and n != "DataSet"]
    return {name: getattr(primitive, name) for name in names} | {
        "context": primitive._context_id,
        "data": primitive.DataSet.getvalue(),
        "class": type(primitive),
    }


@pytest.fixture(autouse=True)
def _chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pynetdicom_config, "STORE_RECV_CHUNKED_DATASET", True)


@given(
    case=st.fixed_dictionaries(
        {
            "sop_instance": uids,
            "sop_class": uids,
            "message_id": st.integers(0, 0xFFFF),
            "priority": st.sampled_from([0, 1, 2]),
        }
    ),
    data=st.binary(min_size=1, max_size=300),
    max_pdu=st.sampled_from([0, 16_384, 40, 9]),
    context_id=st.sampled_from([1, 3]),
)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_a_store_request_is_what_pynetdicom_makes(
    case: dict[str, Any], data: bytes, max_pdu: int, context_id: int
) -> None:
    """Odd and even UIDs, any message ID and priority, data in one fragment or many: the same
    request primitive, and the same file (File Meta Information, then the data set)."""
    request = _request(**case)
    pdatas = _pdatas(request, data, context_id, max_pdu)
    direct = read_store_command(pdatas[0].presentation_data_value_list[0][1]) is not None
    assert direct == (max_pdu in (0, 16_384))  # a command in several fragments: pynetdicom's
    ours = _received(dicom_store_request.receive_primitive, pdatas)
    theirs = _received(dicom_store_request._ORIGINAL, pdatas)
    assert ours[0] == theirs[0] == context_id
    assert _fields(ours[1]) == _fields(theirs[1])
    assert ours[2] == theirs[2]


def test_command_and_data_in_one_pdata() -> None:
    """A P-DATA holding the command and the data set (PS3.8 9.3.5) makes the same request."""
    request = _request("1.2.3.4", 9, 0, CT_IMAGE)
    pdatas = _pdatas(request, b"\x08\x00\x16\x00\x02\x00\x00\x00AB", 1, 0)
    together = P_DATA()
    together.presentation_data_value_list.extend(
        value for pdata in pdatas for value in pdata.presentation_data_value_list
    )
    ours = _received(dicom_store_request.receive_primitive, [together])
    theirs = _received(dicom_store_request._ORIGINAL, pdatas)
    assert _fields(ours[1]) == _fields(theirs[1]) and ours[2] == theirs[2]


def test_the_command_dataset_is_there_when_asked() -> None:
    """Whoever reads the message's command set (an EVT_DIMSE_RECV handler) gets pynetdicom's."""
    request = _request("1.2.3.4", 9, 2, CT_IMAGE)
    pdatas = _pdatas(request, b"AB", 1, 0)
    provider = _provider()
    dicom_store_request.receive_primitive(provider, pdatas[0])
    message = provider.message
    assert isinstance(message, StoreRequest)
    assert message.command_set.AffectedSOPInstanceUID == "1.2.3.4"
    assert message.command_set.Priority == 2
    message._data_set_file.close()
    Path(message._data_set_path).unlink()


@pytest.mark.parametrize(
    "change",
    [
        lambda r: setattr(r, "MoveOriginatorApplicationEntityTitle", "MOVER"),
        lambda r: setattr(r, "MoveOriginatorMessageID", 3),
    ],
)
def test_a_move_originator_is_left_to_pynetdicom(change: Any) -> None:
    """A C-STORE sub-operation of a C-MOVE (Move Originator elements) takes pynetdicom's way."""
    request = _request("1.2.3.4", 9, 0, CT_IMAGE)
    change(request)
    pdatas = _pdatas(request, b"AB", 1, 0)
    assert read_store_command(pdatas[0].presentation_data_value_list[0][1]) is None
    ours = _received(dicom_store_request.receive_primitive, pdatas)
    assert (
        ours[1].MoveOriginatorApplicationEntityTitle
        == _received(dicom_store_request._ORIGINAL, pdatas)[1].MoveOriginatorApplicationEntityTitle
    )


@pytest.mark.parametrize(
    "pdv",
    [
        b"\x03",
        b"\x01" + bytes(20),  # not the last command fragment
        b"\x03\x00\x00\x00\x00\x04\x00\x00\x00",  # cut short
        b"\x03" + bytes(8),  # a group length of no length
    ],
)
def test_odd_commands_are_left_to_pynetdicom(pdv: bytes) -> None:
    """Commands cut short, in several fragments or malformed are read by pynetdicom."""
    assert read_store_command(pdv) is None


def test_other_commands_are_left_to_pynetdicom() -> None:
    """A C-ECHO request is not a C-STORE: read by pynetdicom."""
    echo = C_ECHO()
    echo.MessageID = 1
    echo.AffectedSOPClassUID = "1.2.840.10008.1.1"
    message = C_ECHO_RQ()
    message.primitive_to_message(echo)
    (pdata,) = message.encode_msg(1, 0)
    assert read_store_command(pdata.presentation_data_value_list[0][1]) is None
    provider = _provider()
    dicom_store_request.receive_primitive(provider, pdata)
    _, received = provider.msg_queue.get_nowait()
    assert isinstance(received, C_ECHO) and received.MessageID == 1


def test_the_gateways_ae_reads_requests_directly() -> None:
    """Building the gateway's AE puts the direct read in pynetdicom's DIMSE provider."""
    application_entity(DicomOptions())
    assert DIMSEServiceProvider.receive_primitive is dicom_store_request.receive_primitive
