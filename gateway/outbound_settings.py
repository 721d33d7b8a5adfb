"""The `[outbound]` section: HL7 destinations (`[[outbound.hl7]]`), webhooks
(`[[outbound.webhooks]]`) and how delivery paces itself (DESIGN.md, "Names other programs
rely on")."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from listeners.options import Host, Port, Seconds, Text, comma_list
from mappers.hl7v2.status import DEFAULT_STATUS_CODES
from store.fold.outbox import HL7_EVENTS, WEBHOOK_EVENTS

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ORDER_STATUS = frozenset({"A", "CA", "CM", "DC", "ER", "HD", "IP", "RP", "SC"})  # table 0038


def _subset_of(allowed: tuple[str, ...]) -> AfterValidator:
    def check(value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(allowed))
        if unknown or not value:
            raise ValueError("not allowed")
        return value

    return AfterValidator(check)


def _name_ok(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError("not allowed")
    return value


Name = Annotated[
    str,
    AfterValidator(_name_ok),
    Field(description="a name of letters, digits, '_', '.', '-' (up to 64)"),
]
_Hl7Text = Annotated[
    Text,
    AfterValidator(lambda v: v if "|" not in v and "^" not in v else _refuse()),
    Field(description="an HL7 name without | or ^"),
]


def _refuse() -> str:
    raise ValueError("not allowed")


class Destination(BaseModel):
    """A frozen table of a destination; unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Hl7Destination(Destination):
    """A RIS (or any HL7 v2 system) that gets procedure status updates over MLLP."""

    name: Name
    host: Host
    port: Port
    version: Annotated[
        Literal["2.3.1", "2.5.1"],
        Field(description='"2.3.1" (ORM^O01) or "2.5.1" (OMI^O23)'),
    ] = "2.5.1"
    events: Annotated[
        tuple[str, ...],
        BeforeValidator(comma_list),
        _subset_of(HL7_EVENTS),
        Field(description="a list of " + ", ".join(HL7_EVENTS)),
    ] = HL7_EVENTS
    receiving_application: _Hl7Text = ""  # MSH-5
    receiving_facility: _Hl7Text = ""  # MSH-6
    # MSH-3 and MSH-4; empty takes [hl7] application and facility.
    sending_application: _Hl7Text = ""
    sending_facility: _Hl7Text = ""
    # ORC-5 per milestone (HL7 table 0038), where the RIS expects other codes.
    status_codes: Annotated[
        tuple[tuple[str, str], ...],
        BeforeValidator(lambda v: tuple(sorted({**DEFAULT_STATUS_CODES, **dict(v)}.items()))),
        AfterValidator(
            lambda t: t if all(k in HL7_EVENTS and v in _ORDER_STATUS for k, v in t) else _refuse()
        ),
        Field(description="a table of milestone to ORC-5 code (HL7 table 0038)"),
    ] = tuple(sorted(DEFAULT_STATUS_CODES.items()))
    ack_timeout: Seconds = 30.0


class WebhookDestination(Destination):
    """A downstream app that gets signed JSON events."""

    name: Name
    url: Annotated[
        str,
        AfterValidator(lambda v: v if v.startswith(("http://", "https://")) else _refuse()),
        Field(description="an http:// or https:// URL"),
    ]
    secret: Annotated[SecretStr, Field(description="the HMAC-SHA256 key", min_length=1)]
    events: Annotated[
        tuple[str, ...],
        BeforeValidator(comma_list),
        _subset_of(WEBHOOK_EVENTS),
        Field(description="a list of " + ", ".join(WEBHOOK_EVENTS)),
    ] = WEBHOOK_EVENTS
    timeout: Seconds = 30.0


class OutboundSettings(Destination):
    """Where the gateway sends, and how delivery retries."""

    hl7: tuple[Hl7Destination, ...] = ()
    webhooks: tuple[WebhookDestination, ...] = ()
    # Seconds between looks at the outbox when no commit wakes the sender.
    poll_interval: Seconds = 1.0
    # Seconds a claim holds a row: a process killed mid-delivery gives it back after this.
    lease: Seconds = 120.0
    backoff_base: Seconds = 1.0  # the first retry's delay; doubled per attempt
    backoff_max: Seconds = 300.0
    # Minutes after its first image that a study matching no order is announced
    # (unmatched_study), and seconds between looks for such studies.
    unmatched_study_after_minutes: Seconds = 60.0
    unmatched_check_interval: Seconds = 60.0

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    @model_validator(mode="after")
    def _names_unique(self) -> OutboundSettings:
        names = [d.name for d in (*self.hl7, *self.webhooks)]
        if len(names) != len(set(names)):
            raise ValueError("hl7: destination names must be unique")
        longest = max([d.ack_timeout for d in self.hl7] + [d.timeout for d in self.webhooks] + [0])
        if self.lease <= longest:
            raise ValueError("lease: must be longer than every destination's timeout")
        return self
