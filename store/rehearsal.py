"""A rehearsal of the writer's commonest batch, rolled back, before the first real one.

A new writer connection's first batch took 56 ms on PostgreSQL where the next took 15: every
statement was compiled (store/driver.py), prepared and planned, and the new server process
read the catalogue entries of each table, index and foreign key it touched. The 16 senders
of that batch all waited for it, so it alone set the ACK p99 of a short run. The rehearsal
does that work at start, on the writer's kept connection (store/commit.py), with two batches
of made-up new orders (a new patient, then the same patient again), and rolls back. Nothing
stays in the database; on PostgreSQL the id sequences move on by a few numbers, as after any
rolled-back transaction.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from mappers.events import (
    CodedValue,
    OrderDetails,
    OrderPlaced,
    PatientClass,
    PatientId,
    PatientUpserted,
    PersonName,
    Provider,
    Visit,
)
from store.fold.outbox import Destinations
from store.inbound import Inbound, Outcome
from store.write import write_batch

_PATIENT = PatientId("REHEARSAL", "IMAGING_GW")


def rehearse_orders(
    conn: Connection, now: datetime, destinations: Destinations, tz: ZoneInfo
) -> None:
    """Write two batches of made-up new orders on `conn`; the caller rolls them back."""
    for number in (1, 2):
        write_batch(conn, [_order(number, now)], now, destinations, tz)


def _order(number: int, now: datetime) -> Inbound:
    name = PersonName("REHEARSAL", "ORDER", "", "", "")
    visit = Visit(PatientClass.OUTPATIENT, "RAD", "")
    details = OrderDetails(
        placer_number=f"REHEARSAL{number}",
        filler_number=f"REHEARSAL{number}",
        procedure=CodedValue("REHEARSAL", "REHEARSAL", "L"),
        requested_procedure_id=f"REHEARSAL{number}",
        modality="CT",
        priority="R",
        ordering_provider=Provider("REHEARSAL", name),
        reason="REHEARSAL",
        patient_class=PatientClass.OUTPATIENT,
        location="RAD",
        study_instance_uid=f"2.25.{number}",
    )
    events = (
        PatientUpserted(_PATIENT, name, None, "U", now, visit),
        OrderPlaced(f"REHEARSAL{number}", _PATIENT, details, now, now),
    )
    return Inbound(
        protocol="hl7v2",
        received_at=now,
        peer="rehearsal",
        raw=f"REHEARSAL {number}".encode(),
        outcome=Outcome.APPLIED,
        events=events,
        sending_application="IMAGING_GW",
        sending_facility="REHEARSAL",
        control_id=f"REHEARSAL{number}",
        message_type="ORM^O01",
        version="2.3.1",
        ack_code="AA",
        sent_at=now,
    )
