"""On both stores: migration 0016 reads the message time (MSH-7) and the missing recommended
fields of HL7 messages logged before it, from their kept bodies, in the facility time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    LargeBinary,
    String,
    column,
    insert,
    select,
    table,
)

from store.engine import create_engine
from store.migrate import _upgrade, alembic_config
from store.schema import UtcDateTime, messages

ORDER_WITHOUT_VISIT = (
    b"MSH|^~\\&|RIS|H|IMAGING_GW|RAD|20260314073000||ORM^O01|C1|P|2.3.1\r"
    b"PID|1||M1^^^H^MR||DOE^JANE\r"
    b"ORC|NW|P1|F1||||^^^20260314073000^^S\r"
    b"OBR|1|P1|F1|70450^CT HEAD^CPT4\r"
)


def _to_0014_with_a_message(conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "0014")
    # The log as 0014 had it: no sent_at, no missing_fields.
    old = table(
        "messages",
        *(column(c, t) for c, t in (("protocol", String), ("peer", String), ("raw", LargeBinary))),
        *(column(c, String) for c in ("content_sha256", "outcome", "control_id", "charset")),
        column("receive_count", Integer),
        column("control_id_reused", Boolean),
        column("received_at", UtcDateTime()),
        column("last_received_at", UtcDateTime()),
    )
    at = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    common = {
        "protocol": "hl7v2",
        "peer": "p",
        "outcome": "applied",
        "receive_count": 1,
        "control_id_reused": False,
        "received_at": at,
        "last_received_at": at,
    }
    body = {"raw": ORDER_WITHOUT_VISIT, "charset": "ASCII", "content_sha256": "a"}
    pruned = {"raw": b"", "charset": None, "content_sha256": "b"}
    conn.execute(
        insert(old),
        [{**common, **body, "control_id": "C1"}, {**common, **pruned, "control_id": "C2"}],
    )


async def test_the_upgrade_reads_message_times_and_missing_fields(empty_database_url: str) -> None:
    """MSH-7 in the facility zone (08:30 in New York is 12:30 UTC); a pruned body stays empty."""
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_to_0014_with_a_message)
            await conn.run_sync(_upgrade, "America/New_York")
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        messages.c.control_id, messages.c.sent_at, messages.c.missing_fields
                    ).order_by(messages.c.control_id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("C1", datetime(2026, 3, 14, 11, 30, tzinfo=UTC), "PV1-2 ORC-12"),
        ("C2", None, ""),
    ]
