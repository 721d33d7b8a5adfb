"""The one path an HL7 v2 message takes: decode -> map -> store (commit) -> acknowledge.

The MLLP edge hands each framed payload to `Hl7Receiver.handle` and sends back what it returns.
An ACK AA (or CA) is built only after the store has committed the message and its effects;
every other answer names the reason in an ERR segment.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mappers.errors import CharsetError, ErrorCode, Location, MappingError
from mappers.hl7v2.ack import AckError, Responder, Verdict, build_ack, should_acknowledge
from mappers.hl7v2.charset import decode_message, encode_message, without_nul
from mappers.hl7v2.dispatch import map_message
from mappers.hl7v2.er7 import parse_message
from mappers.hl7v2.header import Header, check_header, read_header
from mappers.hl7v2.quality import message_time, missing_recommended
from mappers.hl7v2.rules import MappingRules
from store.errors import StoreError
from store.ingest import Inbound, Ingest, Outcome, Stored

log = logging.getLogger(__name__)

# (protocol, message type, outcome, seconds from receipt to answer) -> None
Observer = Callable[[str, str, str, float], None]


@dataclass(frozen=True, slots=True)
class ReceiverOptions:
    """What the receiver needs from the settings."""

    default_charset: str
    accepted_processing_ids: tuple[str, ...]
    rules: MappingRules
    responder: Responder


@dataclass(frozen=True, slots=True)
class _Reading:
    """What decoding and mapping made of a payload, before anything is stored."""

    header: Header | None
    charset: str | None
    outcome: Outcome
    events: tuple = ()
    error: AckError | None = None
    missing_fields: tuple[str, ...] = ()


def _new_control_id() -> str:
    # MSH-10 is at most 20 characters up to v2.4.
    return uuid.uuid4().hex[:20]


class Hl7Receiver:
    """Turns one framed HL7 v2 payload into a stored message and its acknowledgement."""

    def __init__(
        self,
        ingest: Ingest,
        options: ReceiverOptions,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_control_id: Callable[[], str] = _new_control_id,
        observe: Observer | None = None,
    ) -> None:
        self._ingest = ingest
        self._options = options
        self._clock = clock
        self._new_control_id = new_control_id
        self._observe = observe

    async def handle(self, payload: bytes, peer: str, *, replay: bool = False) -> bytes | None:
        """Store the message, then answer it; None when enhanced mode asks for no answer.

        With `replay`, a message kept before without being applied (not mapped, rejected,
        failed) is processed afresh rather than answered as a duplicate.
        """
        started = time.perf_counter()
        received_at = self._clock()
        reading = self._read(payload)
        inbound = self._inbound(payload, peer, received_at, reading, replay=replay)
        try:
            stored = await self._ingest.submit(inbound)
        except StoreError as exc:
            log.error("message %s from %s not stored: %s", _control_id(reading), peer, exc)
            error = AckError(ErrorCode.APPLICATION_INTERNAL_ERROR, "storage unavailable; resend")
            answer = self._answer(reading, Verdict.ERROR, error)
            self._observed(inbound, "store_unavailable", started)
            return answer
        answer = self._answer_stored(reading, stored, peer)
        self._observed(inbound, stored.outcome.value, started)
        return answer

    def _observed(self, inbound: Inbound, outcome: str, started: float) -> None:
        if self._observe is not None:
            message_type = inbound.message_type or "unreadable"
            self._observe("hl7v2", message_type, outcome, time.perf_counter() - started)

    async def reject_oversize(self, head: bytes, peer: str) -> bytes | None:
        """Answer AR to a message over the size limit; keep its head in the message log."""
        received_at = self._clock()
        header = _header_of_undecodable(head)
        error = AckError(
            ErrorCode.APPLICATION_INTERNAL_ERROR,
            "message exceeds the size limit",
            Location("MSH"),
        )
        reading = _Reading(header, header.charset if header else None, Outcome.REJECTED, (), error)
        inbound = self._inbound(head, peer, received_at, reading)
        try:
            await self._ingest.submit(inbound)
        except StoreError as exc:
            log.error("oversize message from %s not logged: %s", peer, exc)
        log.warning("oversize message %s from %s rejected", _control_id(reading), peer)
        return self._answer(reading, Verdict.REJECTED, error)

    def _read(self, payload: bytes) -> _Reading:
        """Decode, check and map: pure work, no I/O."""
        header: Header | None = None
        charset: str | None = None
        missing: tuple[str, ...] = ()
        try:
            text, charset = decode_message(payload, self._options.default_charset)
            header = read_header(text)
            check_header(header, self._options.accepted_processing_ids)
            message = parse_message(text)
            missing = missing_recommended(message, header)
            events = map_message(message, header, self._options.rules)
        except CharsetError as exc:
            header = _header_of_undecodable(payload)
            return _Reading(header, charset, Outcome.REJECTED, (), _ack_error(exc))
        except MappingError as exc:
            return _Reading(header, charset, Outcome.REJECTED, (), _ack_error(exc), missing)
        if events is None:
            return _Reading(header, charset, Outcome.NOT_MAPPED, (), None, missing)
        return _Reading(header, charset, Outcome.APPLIED, tuple(events), None, missing)

    def _inbound(
        self,
        payload: bytes,
        peer: str,
        received_at: datetime,
        reading: _Reading,
        *,
        replay: bool = False,
    ) -> Inbound:
        header = reading.header
        verdict = Verdict.REJECTED if reading.outcome is Outcome.REJECTED else Verdict.ACCEPTED
        enhanced = header.enhanced_mode if header else False
        return Inbound(
            protocol="hl7v2",
            received_at=received_at,
            peer=peer,
            raw=payload,
            outcome=reading.outcome,
            events=reading.events,
            charset=reading.charset,
            # The log's header columns hold 255 characters; a longer value is refused (AR) by
            # check_header, and the raw bytes keep it whole.
            sending_application=header.sending_application[:255] if header else None,
            sending_facility=header.sending_facility[:255] if header else None,
            control_id=(header.control_id[:255] or None) if header else None,
            message_type=header.message_type[:32] if header else None,
            version=header.version[:16] if header else None,
            ack_code=verdict.code(enhanced).value,
            error=reading.error.reason if reading.error else None,
            error_location=str(reading.error.location)
            if reading.error and reading.error.location
            else None,
            replay=replay,
            sent_at=message_time(header, self._options.rules.facility_tz) if header else None,
            missing_fields=reading.missing_fields,
        )

    def _answer_stored(self, reading: _Reading, stored: Stored, peer: str) -> bytes | None:
        control_id = _control_id(reading)
        if stored.outcome is Outcome.REJECTED:
            # Refused by the mappers (the reading names the field), or by the store: a value
            # the database cannot hold. Either way a resend cannot succeed: AR, not AE.
            error = reading.error or AckError(
                ErrorCode.DATA_TYPE_ERROR, "a value is too long or otherwise cannot be stored"
            )
            log.warning(
                "message %s from %s rejected: %s at %s",
                control_id,
                peer,
                error.code.text,
                error.location,
            )
            log.debug("message %s rejection detail: %s", control_id, error.reason)
            return self._answer(reading, Verdict.REJECTED, error)
        if stored.outcome is Outcome.FAILED:
            error = AckError(ErrorCode.APPLICATION_INTERNAL_ERROR, "message could not be applied")
            return self._answer(reading, Verdict.ERROR, error)
        if stored.control_id_reused and not stored.duplicate:
            log.warning("control id %s from %s reused for other content", control_id, peer)
        log.debug(
            "message %s from %s %s%s",
            control_id,
            peer,
            stored.outcome.value,
            " (duplicate)" if stored.duplicate else "",
        )
        return self._answer(reading, Verdict.ACCEPTED, None)

    def _answer(self, reading: _Reading, verdict: Verdict, error: AckError | None) -> bytes | None:
        header = reading.header
        if not should_acknowledge(header, verdict):
            return None
        ack = build_ack(
            header,
            verdict,
            error,
            control_id=self._new_control_id(),
            now=self._clock(),
            responder=self._options.responder,
        )
        return encode_message(ack, reading.charset, self._options.default_charset)


def _ack_error(exc: MappingError) -> AckError:
    return AckError(exc.code, exc.reason, exc.location)


def _header_of_undecodable(payload: bytes) -> Header | None:
    """The MSH of a message whose body cannot be decoded: MSH is plain ASCII in every set
    we take, so reading the bytes one to one (latin-1) recovers it for the ACK."""
    try:
        return read_header(without_nul(payload.decode("latin-1")))
    except MappingError:
        return None


def _control_id(reading: _Reading) -> str:
    return reading.header.control_id if reading.header and reading.header.control_id else "-"
