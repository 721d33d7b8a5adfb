"""Pending C-FIND responses sent by the shortcut are the P-DATA pynetdicom itself would send."""

from __future__ import annotations

from io import BytesIO
from types import SimpleNamespace

import pytest
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND

from listeners import dicom_pending

WORKLIST = "1.2.840.10008.5.1.4.31"


def _pending(identifier: bytes, message_id: int = 7) -> C_FIND:
    rsp = C_FIND()
    rsp.MessageIDBeingRespondedTo = message_id
    rsp.AffectedSOPClassUID = WORKLIST
    rsp.Status = 0xFF00
    rsp.Identifier = BytesIO(identifier)
    return rsp


def _pynetdicom(primitive: C_FIND, context_id: int, max_pdu: int) -> list:
    message = C_FIND_RSP()
    message.primitive_to_message(primitive)
    fragments = message.encode_msg(context_id, max_pdu)
    return [value for p in fragments for value in p.presentation_data_value_list]


class _Provider(SimpleNamespace):
    """A DIMSE provider's two attributes the send uses, recording what it sends."""


def _sent(primitives: list[C_FIND], context_id: int, max_pdu: int) -> list[list]:
    """The PDVs sent for each response, in order, each P-DATA checked to fit the PDU limit."""
    sent: list = []
    provider = _Provider(maximum_pdu_size=max_pdu, dul=SimpleNamespace(send_pdu=sent.append))
    answers = []
    for primitive in primitives:
        dicom_pending.send_msg(provider, primitive, context_id)  # type: ignore[arg-type]
        for pdata in sent:
            length = sum(6 + len(value) - 1 for _, value in pdata.presentation_data_value_list)
            assert max_pdu == 0 or length <= max_pdu
        answers.append([value for p in sent for value in p.presentation_data_value_list])
        sent.clear()
    return answers


@pytest.mark.parametrize("max_pdu", [0, 16_384, 64, 7])
@pytest.mark.parametrize("size", [1, 2, 57, 58, 59, 700])
def test_the_shortcut_sends_what_pynetdicom_sends(max_pdu: int, size: int) -> None:
    """Command and identifier fragments, headers and order, for any PDU size and length, in
    P-DATA within the limit; the command made once serves every later response."""
    identifiers = [bytes([n]) * size for n in range(3)]
    sent = _sent([_pending(data) for data in identifiers], 3, max_pdu)
    expected = [_pynetdicom(_pending(data), 3, max_pdu) for data in identifiers]
    assert sent == expected


def test_a_new_query_makes_its_own_command() -> None:
    """Another Message ID Being Responded To (the next query) gets its own command set."""
    first, second = _pending(b"AB", 1), _pending(b"AB", 2)
    assert _sent([first, second], 1, 0) == [_pynetdicom(first, 1, 0), _pynetdicom(second, 1, 0)]


def test_other_messages_take_pynetdicoms_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """A final (success) response is handed to pynetdicom's own send."""
    seen = []
    monkeypatch.setattr(dicom_pending, "_ORIGINAL", lambda *args: seen.append(args))
    final = _pending(b"AB")
    final.Status = 0x0000
    final.Identifier = None
    provider = _Provider(maximum_pdu_size=0, dul=SimpleNamespace(send_pdu=None))
    dicom_pending.send_msg(provider, final, 1)  # type: ignore[arg-type]
    assert len(seen) == 1


def test_a_small_answer_leaves_in_one_pdu() -> None:
    """Command and identifier that fit in the peer's PDU share one P-DATA."""
    sent: list = []
    provider = _Provider(maximum_pdu_size=16_384, dul=SimpleNamespace(send_pdu=sent.append))
    dicom_pending.send_msg(provider, _pending(b"X" * 600), 1)  # type: ignore[arg-type]
    assert len(sent) == 1 and len(sent[0].presentation_data_value_list) == 2
