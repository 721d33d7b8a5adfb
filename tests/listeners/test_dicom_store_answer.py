"""A C-STORE success written directly is byte for byte the response pynetdicom would send."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE

from listeners import dicom_pending
from listeners.dicom_store_answer import is_plain_success

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
uids = st.from_regex(r"\A[1-9][0-9]{0,8}(\.(0|[1-9][0-9]{0,8})){1,7}\Z")


def _answer(
    sop_instance: str, message_id: int, status: int = 0x0000, sop_class: str = CT_IMAGE
) -> C_STORE:
    rsp = C_STORE()
    rsp.MessageIDBeingRespondedTo = message_id
    rsp.AffectedSOPClassUID = sop_class
    rsp.AffectedSOPInstanceUID = sop_instance
    rsp.Status = status
    return rsp


def _pynetdicom(primitive: C_STORE, context_id: int, max_pdu: int) -> list:
    message = C_STORE_RSP()
    message.primitive_to_message(primitive)
    return [
        value
        for pdata in message.encode_msg(context_id, max_pdu)
        for value in pdata.presentation_data_value_list
    ]


def _sent(primitive: C_STORE, context_id: int, max_pdu: int) -> tuple[list, int]:
    """The PDVs our send sends, and in how many P-DATA."""
    sent: list = []
    provider = SimpleNamespace(maximum_pdu_size=max_pdu, dul=SimpleNamespace(send_pdu=sent.append))
    dicom_pending.send_msg(provider, primitive, context_id)  # type: ignore[arg-type]
    return [value for pdata in sent for value in pdata.presentation_data_value_list], len(sent)


@given(sop_instance=uids, sop_class=uids, message_id=st.integers(0, 0xFFFF))
@pytest.mark.parametrize("max_pdu", [0, 16_384, 512])
def test_a_success_is_what_pynetdicom_sends(
    max_pdu: int, sop_instance: str, sop_class: str, message_id: int
) -> None:
    """Odd and even UID lengths (NUL padding), any message ID, one P-DATA."""
    answer = _answer(sop_instance, message_id, sop_class=sop_class)
    assert is_plain_success(answer)
    sent, pdus = _sent(answer, 5, max_pdu)
    assert sent == _pynetdicom(answer, 5, max_pdu)
    assert pdus == 1


@pytest.fixture
def to_pynetdicom(monkeypatch: pytest.MonkeyPatch) -> list[C_STORE]:
    """The answers handed to pynetdicom's own send."""
    handed: list[C_STORE] = []
    monkeypatch.setattr(
        dicom_pending, "_ORIGINAL", lambda _, primitive, __: handed.append(primitive)
    )
    return handed


@pytest.mark.parametrize("status", [0xA700, 0xA900, 0xC000, 0xB000, 0x0001])
def test_other_statuses_are_left_to_pynetdicom(status: int, to_pynetdicom: list) -> None:
    answer = _answer("1.2.3.4", 9, status)
    assert _sent(answer, 1, 16_384) == ([], 0)
    assert to_pynetdicom == [answer]


def test_a_success_with_a_comment_is_left_to_pynetdicom(to_pynetdicom: list) -> None:
    answer = _answer("1.2.3.4", 9)
    answer.ErrorComment = "kept"
    assert _sent(answer, 1, 0) == ([], 0)
    assert to_pynetdicom == [answer]


def test_a_command_too_long_for_the_peer_is_left_to_pynetdicom(to_pynetdicom: list) -> None:
    """A peer whose maximum PDU cannot hold the command gets pynetdicom's fragments."""
    answer = _answer("1.2.3." + "4" * 58, 9)
    assert _sent(answer, 1, 64) == ([], 0)
    assert to_pynetdicom == [answer]
