"""Acknowledgements as HL7 v2 chapter 2.9 defines them, field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mappers.errors import ErrorCode, Location
from mappers.hl7v2.ack import AckError, Responder, Verdict, build_ack, should_acknowledge
from mappers.hl7v2.header import read_header

NOW = datetime(2026, 11, 22, 8, 30, 5, tzinfo=UTC)
US = Responder("IMAGING_GW", "RADIOLOGY")


def _message(version: str = "2.5.1", msh15: str = "", msh16: str = "", msh18: str = "") -> str:
    tail = f"|||{msh15}|{msh16}||{msh18}" if (msh15 or msh16 or msh18) else ""
    return (
        f"MSH|^~\\&|RIS|GENERAL_HOSP|PACSGW|RAD_DEPT|20261122083000||ORM^O01^ORM_O01|CTRL42"
        f"|P|{version}{tail}\rPID|1||123^^^HOSP^MR\r"
    )


def _fields(ack: str) -> dict[str, list[str]]:
    out = {}
    for line in ack.split("\r"):
        if line:
            fields = line.split("|")
            if fields[0] == "MSH":
                fields = ["MSH", "|", *fields[1:]]
            out[fields[0]] = fields
    return out


def _ack(text: str, verdict: Verdict, error: AckError | None = None) -> dict[str, list[str]]:
    ack = build_ack(read_header(text), verdict, error, control_id="ACK0001", now=NOW, responder=US)
    assert ack.endswith("\r"), "segments end with CR"
    return _fields(ack)


def test_aa_swaps_sender_and_receiver_and_echoes_the_control_id() -> None:
    """An AA names us as sender, the sender as receiver, ACK^<trigger>^ACK and MSA-2."""
    ack = _ack(_message(), Verdict.ACCEPTED)
    msh, msa = ack["MSH"], ack["MSA"]
    assert msh[2] == "^~\\&"
    assert (msh[3], msh[4], msh[5], msh[6]) == ("PACSGW", "RAD_DEPT", "RIS", "GENERAL_HOSP")
    assert msh[7] == "20261122083005+0000"
    assert msh[9] == "ACK^O01^ACK"
    assert msh[10] == "ACK0001"
    assert (msh[11], msh[12]) == ("P", "2.5.1")
    assert msa == ["MSA", "AA", "CTRL42"]
    assert "ERR" not in ack


def test_empty_receiver_fields_are_filled_with_our_names() -> None:
    """When MSH-5/6 are empty, the ACK's MSH-3/4 carry the configured application/facility."""
    text = _message().replace("|PACSGW|RAD_DEPT|", "|||")
    msh = _ack(text, Verdict.ACCEPTED)["MSH"]
    assert (msh[3], msh[4]) == ("IMAGING_GW", "RADIOLOGY")


@pytest.mark.parametrize(
    ("version", "msh9"),
    [("2.3", "ACK^O01"), ("2.3.1", "ACK^O01^ACK"), ("2.4", "ACK^O01^ACK"), ("2.6", "ACK^O01^ACK")],
)
def test_ack_type_follows_the_version(version: str, msh9: str) -> None:
    """MSH-9.3 (message structure) appears from v2.3.1; the ACK keeps the message's version."""
    msh = _ack(_message(version), Verdict.ACCEPTED)["MSH"]
    assert msh[9] == msh9
    assert msh[12] == version


def test_ar_in_v25_names_the_field_in_err_2_and_the_code_in_err_3() -> None:
    """From v2.5 the ERR segment carries ERL location, table 0357 code, severity, message."""
    error = AckError(
        ErrorCode.REQUIRED_FIELD_MISSING, "patient identifier is empty", Location.parse("PID-3.1")
    )
    ack = _ack(_message("2.5.1"), Verdict.REJECTED, error)
    assert ack["MSA"][:3] == ["MSA", "AR", "CTRL42"]
    err = ack["ERR"]
    assert err[1] == ""
    assert err[2] == "PID^1^3^1^1"
    assert err[3] == "101^Required field missing^HL70357"
    assert err[4] == "E"
    assert err[8] == "patient identifier is empty"


def test_ae_in_v23_uses_err_1_element_location() -> None:
    """Before v2.5 the ERR segment has one field, ERR-1 (ELD), with the code as subcomponents."""
    error = AckError(
        ErrorCode.APPLICATION_INTERNAL_ERROR, "storage unavailable", Location.parse("OBR(2)-4")
    )
    ack = _ack(_message("2.3"), Verdict.ERROR, error)
    assert ack["MSA"][:3] == ["MSA", "AE", "CTRL42"]
    assert ack["MSA"][3] == "storage unavailable"
    assert ack["ERR"] == ["ERR", "OBR^2^4^207&Application internal error&HL70357"]


def test_reason_text_is_escaped_so_it_cannot_break_the_ack() -> None:
    """Delimiters and line breaks in a reason are written as escape sequences."""
    error = AckError(ErrorCode.DATA_TYPE_ERROR, "bad value a|b^c\rd", Location.parse("PID-7"))
    ack = build_ack(
        read_header(_message()), Verdict.REJECTED, error, control_id="X", now=NOW, responder=US
    )
    assert ack.count("\r") == 3
    assert _fields(ack)["ERR"][8] == "bad value a\\F\\b\\S\\c\\.br\\d"


@pytest.mark.parametrize(
    ("verdict", "code"),
    [(Verdict.ACCEPTED, "CA"), (Verdict.ERROR, "CE"), (Verdict.REJECTED, "CR")],
)
def test_enhanced_mode_answers_with_commit_codes(verdict: Verdict, code: str) -> None:
    """With MSH-15/16 valued, MSA-1 is a commit acknowledgement: CA, CE or CR."""
    error = None if verdict is Verdict.ACCEPTED else AckError(ErrorCode.DATA_TYPE_ERROR, "x")
    ack = _ack(_message(msh15="AL", msh16="NE"), verdict, error)
    assert ack["MSA"][1] == code


@pytest.mark.parametrize(
    ("msh15", "msh16", "verdict", "expected"),
    [
        ("", "", Verdict.ACCEPTED, True),
        ("AL", "NE", Verdict.ACCEPTED, True),
        ("NE", "AL", Verdict.ACCEPTED, False),
        ("NE", "AL", Verdict.REJECTED, False),
        ("ER", "", Verdict.ACCEPTED, False),
        ("ER", "", Verdict.ERROR, True),
        ("SU", "", Verdict.ACCEPTED, True),
        ("SU", "", Verdict.REJECTED, False),
        ("", "AL", Verdict.ACCEPTED, True),
    ],
)
def test_accept_ack_conditions_follow_table_0155(
    msh15: str, msh16: str, verdict: Verdict, expected: bool
) -> None:
    """MSH-15 AL/NE/ER/SU decides whether a commit acknowledgement is sent at all."""
    header = read_header(_message(msh15=msh15, msh16=msh16))
    assert should_acknowledge(header, verdict) is expected


def test_ack_echoes_the_character_set() -> None:
    """MSH-18 of the ACK names the set the message declared (and the ACK is encoded in)."""
    msh = _ack(_message(msh18="UNICODE UTF-8"), Verdict.ACCEPTED)["MSH"]
    assert msh[18] == "UNICODE UTF-8"


def test_unreadable_message_gets_an_ack_with_default_delimiters() -> None:
    """Without a readable MSH, the ACK still follows the standard with empty MSA-2."""
    error = AckError(
        ErrorCode.SEGMENT_SEQUENCE_ERROR, "message does not start with MSH", Location("MSH")
    )
    ack = build_ack(None, Verdict.REJECTED, error, control_id="X", now=NOW, responder=US)
    fields = _fields(ack)
    assert fields["MSH"][9] == "ACK^^ACK"
    assert fields["MSH"][12] == "2.5.1"
    assert fields["MSA"][:3] == ["MSA", "AR", ""]
    assert fields["ERR"][2] == "MSH^1"


def test_custom_delimiters_are_used_in_the_ack() -> None:
    """An ACK is written with the encoding characters of the message it answers."""
    text = _message().replace("|", "#").replace("MSH#^~\\&", "MSH#$~\\&").replace("^", "$")
    ack = build_ack(
        read_header(text), Verdict.ACCEPTED, None, control_id="X", now=NOW, responder=US
    )
    assert ack.startswith("MSH#$~\\&#PACSGW#RAD_DEPT#RIS#GENERAL_HOSP#")
    assert "#ACK$O01$ACK#" in ack
