"""One batch in one transaction: log, lock, load, fold, flush; the caller commits.

    lock the keys (PostgreSQL) -> the message log: new rows, resends counted
    -> load the rows the events name -> fold (pure) -> flush table by table
    -> refused messages marked in the log

Plain synchronous code on a synchronous connection: on SQLite in the writer's own thread, on
PostgreSQL through `AsyncConnection.run_sync`, so no statement pays an event-loop hop.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Connection,
    Select,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from store import driver
from store.errors import EventRejected
from store.flush import add_outbox_rows, flush, give_ids
from store.flush_read_models import flush_read_models
from store.fold.batch import UTC_ZONE, Folding, fold_batch
from store.fold.messages import Arrival, Identity, Logged, Verdict, judge
from store.fold.outbox import NO_DESTINATIONS, Destinations
from store.inbound import Inbound, Outcome, Stored
from store.keylocks import LOCKED, lock_hashes, lock_keys
from store.keys import collect_keys
from store.load import load
from store.plans import replan_as_tables_grow
from store.schema import messages

log = logging.getLogger(__name__)

_ACCEPTED = frozenset(o.value for o in Outcome if o.accepted)


def identity(inbound: Inbound) -> Identity:
    """What makes two sendings the same message: sender, control id and content."""
    return (
        inbound.sending_application,
        inbound.sending_facility,
        inbound.control_id,
        inbound.content_sha256,
    )


def write_batch(
    conn: Connection,
    inbounds: Sequence[Inbound],
    now: datetime,
    destinations: Destinations = NO_DESTINATIONS,
    tz: ZoneInfo = UTC_ZONE,
) -> list[Stored]:
    """Store and apply a batch whose message identities are distinct; one answer each. The
    outbox rows the changes owe the `destinations` are written in the same
    transaction."""
    applying = [inbound.events for inbound in inbounds if inbound.outcome is Outcome.APPLIED]
    keys = collect_keys(applying)
    identities = [identity(inbound) for inbound in inbounds]
    locks: list[str] = []
    if conn.dialect.name == "postgresql":
        triples = {f"c\x1f{a}\x1f{b}\x1f{c}" for a, b, c, _ in identities}
        locks = [*keys.lock_names(), *triples]
    logged, used = _load_log(conn, identities, locks)
    arrivals = [
        Arrival(ident, check_reuse=_checks_reuse(inbound), replay=inbound.replay)
        for ident, inbound in zip(identities, inbounds, strict=True)
    ]
    verdicts = judge(arrivals, logged, used, _ACCEPTED)
    message_ids = _log(conn, inbounds, verdicts)
    replan_as_tables_grow(conn, max((i for i in message_ids if i is not None), default=0))

    folding = [
        index
        for index, (inbound, verdict) in enumerate(zip(inbounds, verdicts, strict=True))
        if inbound.outcome is Outcome.APPLIED and not verdict.duplicate
    ]
    refusals: dict[int, Exception] = {}
    created: dict[int, list[int]] = {}
    if folding:
        loaded = load(conn, keys)
        folded = fold_batch(
            loaded.tables,
            [Folding(message_ids[i], inbounds[i].events) for i in folding],
            now,
            destinations,
            tz,
        )
        flush(conn, loaded, folded.state)
        add_outbox_rows(conn, folded.outbox)
        flush_read_models(conn, loaded.ids.get("orders", {}), folded.read_models)
        for made in folded.state.appended["made"]:
            created.setdefault(made["message_id"], []).append(
                loaded.ids[made["table"]][made["key"]]
            )
        refusals = {
            i: error for i, error in zip(folding, folded.refusals, strict=True) if error is not None
        }
    if refusals:
        _mark_refused(conn, inbounds, message_ids, refusals)
    answers = []
    for i, (inbound, verdict) in enumerate(zip(inbounds, verdicts, strict=True)):
        message_id = message_ids[i]
        stored = _answer(inbound, verdict, message_id or 0, refusals.get(i))
        if message_id in created:
            stored = replace(stored, created=tuple(created[message_id]))
        answers.append(stored)
    return answers


def _checks_reuse(inbound: Inbound) -> bool:
    # Only HL7 engines reset MSH-10 counters; a DICOM key (a UID) is never reused.
    return inbound.protocol == "hl7v2" and None not in (
        inbound.sending_application,
        inbound.sending_facility,
        inbound.control_id,
    )


def _answer(
    inbound: Inbound, verdict: Verdict, message_id: int, refusal: Exception | None
) -> Stored:
    if verdict.duplicate:
        assert verdict.seen is not None
        return Stored(message_id, Outcome(verdict.seen.outcome), True, verdict.control_id_reused)
    if isinstance(refusal, EventRejected):
        return Stored(
            message_id, Outcome.REJECTED, False, verdict.control_id_reused, rejection=refusal.kind
        )
    if refusal is not None:
        return Stored(message_id, Outcome.FAILED, False, verdict.control_id_reused)
    return Stored(message_id, inbound.outcome, False, verdict.control_id_reused)


def _load_log(
    conn: Connection, identities: list[Identity], locks: list[str]
) -> tuple[dict[Identity, Logged], set[tuple[Any, Any, Any]]]:
    """Take the batch's locks (PostgreSQL); the log rows of these identities, and which
    (sender, control id) pairs are taken.

    The locks ride on this query to save a round trip. Its snapshot may predate a commit it
    waited for, so a message another process logged meanwhile can look new here: inserting
    it then breaks the log's unique constraint, and the batch is taken again message by
    message. Every later query sees what the lock waited for.
    """
    triples = {ident[:3] for ident in identities if None not in ident[:3]}
    postgres = conn.dialect.name == "postgresql"
    if not triples:
        if locks:
            lock_keys(conn, locks)
        return {}, set()
    found = driver.rows(
        conn,
        _log_query(conn.dialect.name),
        _log_params(sorted(triples), lock_hashes(locks) if postgres else []),
    )
    logged: dict[Identity, Logged] = {}
    used: set[tuple[Any, Any, Any]] = set()
    for row in found:
        triple = (row["sending_application"], row["sending_facility"], row["control_id"])
        if triple not in triples:
            continue
        used.add(triple)
        logged[(*triple, row["content_sha256"])] = Logged(
            row["id"], row["receive_count"], row["outcome"], row["control_id_reused"]
        )
    return logged, used


@functools.cache
def _log_query(dialect: str) -> Select[Any]:
    columns = (
        messages.c.id,
        messages.c.sending_application,
        messages.c.sending_facility,
        messages.c.control_id,
        messages.c.content_sha256,
        messages.c.receive_count,
        messages.c.outcome,
        messages.c.control_id_reused,
    )
    if dialect != "postgresql":
        # SQLite: three IN lists walk the identity index; the rows found are then matched by
        # (application, facility, control id) in Python. A row-value IN did not use the index.
        return select(*columns).where(
            messages.c.sending_application.in_(bindparam("apps", expanding=True)),
            messages.c.sending_facility.in_(bindparam("facilities", expanding=True)),
            messages.c.control_id.in_(bindparam("controls", expanding=True)),
        )
    # One index lookup per (application, facility, control id), whatever the statistics say.
    text_array = ARRAY(messages.c.control_id.type)
    wanted = (
        func.unnest(
            bindparam("apps", type_=text_array),
            bindparam("facilities", type_=text_array),
            bindparam("controls", type_=text_array),
        )
        .table_valued("app", "facility", "control")
        .render_derived()
    )
    return (
        select(*columns)
        .select_from(wanted)
        .join(
            messages,
            (messages.c.sending_application == wanted.c.app)
            & (messages.c.sending_facility == wanted.c.facility)
            & (messages.c.control_id == wanted.c.control),
        )
        .where(LOCKED >= 0)
    )


def _log_params(triples: list[tuple[Any, Any, Any]], keys: list[int]) -> dict[str, Any]:
    return {
        "keys": keys,
        "apps": [t[0] for t in triples],
        "facilities": [t[1] for t in triples],
        "controls": [t[2] for t in triples],
    }


def _log(
    conn: Connection, inbounds: Sequence[Inbound], verdicts: list[Verdict]
) -> list[int | None]:
    """Insert the new messages' rows and count the resends; each message's row id (None for
    one not kept in the log)."""
    ids: list[int | None] = [None] * len(inbounds)
    new = [i for i, verdict in enumerate(verdicts) if verdict.seen is None and inbounds[i].logged]
    if new:
        rows = [_log_row(inbounds[i], verdicts[i].control_id_reused) for i in new]
        if conn.dialect.name == "sqlite":
            returned = give_ids(conn, messages, rows)
        else:
            returned = [row["id"] for row in driver.insert_returning(conn, messages, rows, ("id",))]
        for i, message_id in zip(new, returned, strict=True):
            ids[i] = message_id
    resent = []
    for i, verdict in enumerate(verdicts):
        if verdict.seen is None:
            continue
        ids[i] = verdict.seen.id
        inbound = inbounds[i]
        fresh = not verdict.duplicate  # refused or failed before: processed afresh
        resent.append(
            {
                "b_id": verdict.seen.id,
                "b_last_received_at": inbound.received_at,
                "b_outcome": inbound.outcome.value if fresh else verdict.seen.outcome,
                "b_ack_code": inbound.ack_code,
                "b_error": inbound.error,
                "b_error_location": inbound.error_location,
                "b_fresh": fresh,
            }
        )
    if resent:
        driver.execute_many(conn, _LOG_RESENT, resent)
    return ids


def _log_row(inbound: Inbound, reused: bool) -> dict[str, Any]:
    return {
        "protocol": inbound.protocol,
        "received_at": inbound.received_at,
        "last_received_at": inbound.received_at,
        "receive_count": 1,
        "peer": inbound.peer,
        "sending_application": inbound.sending_application,
        "sending_facility": inbound.sending_facility,
        "control_id": inbound.control_id,
        "content_sha256": inbound.content_sha256,
        "message_type": inbound.message_type,
        "version": inbound.version,
        "charset": inbound.charset,
        "raw": inbound.raw,
        "outcome": inbound.outcome.value,
        "ack_code": inbound.ack_code,
        "error": inbound.error,
        "error_location": inbound.error_location,
        "control_id_reused": reused,
        "sent_at": inbound.sent_at,
        "missing_fields": " ".join(inbound.missing_fields),
    }


def _fresh_or_kept(name: str) -> Any:
    # A duplicate keeps what it was told; a message processed afresh takes the new answer.
    return case(
        (
            bindparam("b_fresh", type_=Boolean()),
            bindparam(f"b_{name}", type_=messages.c[name].type),
        ),
        else_=messages.c[name],
    )


_LOG_RESENT = (
    update(messages)
    .where(messages.c.id == bindparam("b_id"))
    .values(
        # Counted in SQL: another process may count a resend of the same message too.
        receive_count=messages.c.receive_count + 1,
        last_received_at=bindparam("b_last_received_at", type_=messages.c.last_received_at.type),
        outcome=bindparam("b_outcome"),
        ack_code=_fresh_or_kept("ack_code"),
        error=_fresh_or_kept("error"),
        error_location=_fresh_or_kept("error_location"),
    )
)


def _mark_refused(
    conn: Connection,
    inbounds: Sequence[Inbound],
    message_ids: list[int | None],
    refusals: dict[int, Exception],
) -> None:
    # A refused probe (its device went away) is not in the log: nothing to mark.
    """Keep what the fold refused as rejected (with the reason) or failed (AE/CE)."""
    rows = []
    for i, error in refusals.items():
        inbound = inbounds[i]
        if isinstance(error, EventRejected):
            outcome, ack, text = Outcome.REJECTED, None, error.reason
        else:
            log.error(
                "applying message %s from %s failed: %s",
                inbound.control_id,
                inbound.peer,
                type(error).__name__,
            )
            log.debug("apply failure detail", exc_info=error)
            # The sender is told AE (original mode) or CE (enhanced mode): record the one it saw.
            ack = "CE" if (inbound.ack_code or "").startswith("C") else "AE"
            outcome, text = Outcome.FAILED, f"{type(error).__name__}: {error}"[:2000]
        if message_ids[i] is not None:
            rows.append(
                {"b_id": message_ids[i], "b_outcome": outcome.value, "b_ack": ack, "b_error": text}
            )
    if rows:
        driver.execute_many(conn, _MARK_REFUSED, rows)


_MARK_REFUSED = (
    update(messages)
    .where(messages.c.id == bindparam("b_id"))
    .values(outcome=bindparam("b_outcome"), ack_code=bindparam("b_ack"), error=bindparam("b_error"))
)
