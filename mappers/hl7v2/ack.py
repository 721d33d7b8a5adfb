"""Acknowledgements as HL7 v2 chapter 2.9 defines them (original and enhanced mode).

Pure: the ACK's own control id and time are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mappers.errors import ErrorCode, Location
from mappers.hl7v2.er7 import Delimiters, escape
from mappers.hl7v2.header import Header
from mappers.hl7v2.timestamps import format_dtm

# When a message cannot be read at all there is no version to echo; this one is understood
# by every engine that speaks 2.x.
FALLBACK_VERSION = "2.5.1"


class AckCode(StrEnum):
    """MSA-1 (HL7 table 0008)."""

    APPLICATION_ACCEPT = "AA"
    APPLICATION_ERROR = "AE"
    APPLICATION_REJECT = "AR"
    COMMIT_ACCEPT = "CA"
    COMMIT_ERROR = "CE"
    COMMIT_REJECT = "CR"


class Verdict(StrEnum):
    """What became of a message, independent of the acknowledgement mode that reports it."""

    ACCEPTED = "accepted"  # stored (and applied): AA / CA
    ERROR = "error"  # not stored for a reason that may pass (storage): AE / CE; send again
    REJECTED = "rejected"  # will never be taken as sent: AR / CR; fix the message

    def code(self, enhanced: bool) -> AckCode:
        """The MSA-1 code for this verdict in the given mode."""
        table = _ENHANCED if enhanced else _ORIGINAL
        return table[self]


_ORIGINAL = {
    Verdict.ACCEPTED: AckCode.APPLICATION_ACCEPT,
    Verdict.ERROR: AckCode.APPLICATION_ERROR,
    Verdict.REJECTED: AckCode.APPLICATION_REJECT,
}
_ENHANCED = {
    Verdict.ACCEPTED: AckCode.COMMIT_ACCEPT,
    Verdict.ERROR: AckCode.COMMIT_ERROR,
    Verdict.REJECTED: AckCode.COMMIT_REJECT,
}


@dataclass(frozen=True, slots=True)
class AckError:
    """What the ERR segment says: HL7 error code, where, and a short human reason."""

    code: ErrorCode
    reason: str
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Responder:
    """Who we are in the ACK when the sender left MSH-5/6 empty."""

    application: str
    facility: str


def should_acknowledge(header: Header | None, verdict: Verdict) -> bool:
    """Whether an ACK is sent at all: original mode always; enhanced mode per MSH-15.

    HL7 table 0155: AL always, NE never, ER only on error or reject, SU only on success.
    An empty MSH-15 beside a valued MSH-16 is taken as AL, since an MLLP sender waits for an
    answer before it sends the next message.
    """
    if header is None or not header.enhanced_mode:
        return True
    condition = header.accept_ack_type or "AL"
    if condition == "NE":
        return False
    if condition == "ER":
        return verdict is not Verdict.ACCEPTED
    if condition == "SU":
        return verdict is Verdict.ACCEPTED
    return True


def build_ack(
    header: Header | None,
    verdict: Verdict,
    error: AckError | None,
    *,
    control_id: str,
    now: datetime,
    responder: Responder,
) -> str:
    """Write the ACK for a message, segments separated by CR.

    `header` is None when not even the MSH could be read: the ACK then names no trigger and
    echoes no control id, and uses the default delimiters.
    """
    delimiters = header.delimiters if header else Delimiters()
    version = header.version if header and header.version else FALLBACK_VERSION
    enhanced = header.enhanced_mode if header else False
    f, c = delimiters.field, delimiters.component

    msh = [
        "MSH",
        delimiters.encoding_characters,
        (header.receiving_application if header else "") or responder.application,
        (header.receiving_facility if header else "") or responder.facility,
        header.sending_application if header else "",
        header.sending_facility if header else "",
        format_dtm(now),
        "",
        _ack_type(header, version, c),
        control_id,
        (header.processing_id if header else "") or "P",
        version,
    ]
    if header and header.charset:
        # MSH-18 echoes the sender's character set: the ACK is encoded in it too.
        msh += ["", "", "", "", "", header.charset]
    segments = [f.join(msh)]

    msa = [
        "MSA",
        verdict.code(enhanced),
        header.control_id if header else "",
    ]
    if error is not None:
        # MSA-3 (text message) is deprecated from v2.4 but is what many engines display.
        msa.append(escape(error.reason, delimiters)[:80])
    segments.append(f.join(msa))

    if error is not None:
        segments.append(_err_segment(error, version, delimiters))
    return "\r".join(segments) + "\r"


def _ack_type(header: Header | None, version: str, c: str) -> str:
    trigger = header.trigger_event if header else ""
    # MSH-9.3 (message structure) exists from v2.3.1 on.
    if version in ("2.1", "2.2", "2.3"):
        return f"ACK{c}{trigger}" if trigger else "ACK"
    return f"ACK{c}{trigger}{c}ACK"


def _err_segment(error: AckError, version: str, d: Delimiters) -> str:
    """ERR as the message's version defines it: ERR-1 (ELD) before v2.5, ERR-2..8 from v2.5."""
    f, c, s = d.field, d.component, d.subcomponent
    where = error.location
    reason = escape(error.reason, d)
    code_text = escape(error.code.text, d)
    if version in ("2.1", "2.2", "2.3", "2.3.1", "2.4"):
        # ELD: segment ID ^ sequence ^ field position ^ code (a CE, written as subcomponents)
        eld = [
            where.segment if where else "",
            str(where.sequence) if where else "",
            str(where.field) if where and where.field is not None else "",
            s.join([str(int(error.code)), code_text, "HL70357"]),
        ]
        return f.join(["ERR", c.join(eld)])
    erl = (
        [
            where.segment,
            str(where.sequence),
            str(where.field) if where.field is not None else "",
            str(where.repetition) if where.field is not None else "",
            str(where.component) if where.component is not None else "",
            str(where.subcomponent) if where.subcomponent is not None else "",
        ]
        if where
        else []
    )
    fields = [
        "ERR",
        "",  # ERR-1 ELD: kept for backward compatibility only from v2.5
        c.join(erl).rstrip(c),
        c.join([str(int(error.code)), code_text, "HL70357"]),
        "E",  # ERR-4 severity: error
        "",
        "",
        "",
        reason,  # ERR-8 user message
    ]
    return f.join(fields)
