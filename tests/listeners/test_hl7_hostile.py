"""NUL bytes in HL7 values: one rule on both stores, and the message log keeps every message."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fixtures.messages import orm_new_order
from store.schema import messages, orders, patients
from tests.conftest import RunningGateway
from tests.support.mllp_client import MllpClient, segments


async def _send(gateway: RunningGateway, message: bytes) -> dict[str, list[str]]:
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    try:
        return segments(await client.send(message))
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("field", "options"),
    [
        ("PID-5", {"family": "DO\x00E"}),
        ("OBR-4", {"procedure_text": "CT CHEST\x00 W/O"}),
        ("MSH-10", {"control_id": "NUL\x00CTRL"}),
    ],
)
async def test_nul_in_a_value_is_removed_and_the_message_kept_as_received(
    gateway: RunningGateway, field: str, options: dict[str, str]
) -> None:
    """AA on either store; the stored value has no NUL; the log keeps the bytes with NUL."""
    keys = {"control_id": "CTRL1", **options}
    message = orm_new_order("NUL0001", **keys)
    ack = await _send(gateway, message)
    assert ack["MSA"][1] == "AA", (field, ack)

    async with gateway.engine.connect() as conn:
        (logged,) = (await conn.execute(select(messages))).mappings()
        (order,) = (await conn.execute(select(orders))).mappings()
        (patient,) = (await conn.execute(select(patients))).mappings()
    assert logged["raw"] == message and b"\x00" in logged["raw"]
    assert logged["control_id"] == keys["control_id"].replace("\x00", "")
    assert patient["family_name"] == options.get("family", "DOE").replace("\x00", "")
    assert order["procedure_text"] == options.get(
        "procedure_text", "CT CHEST W/O CONTRAST"
    ).replace("\x00", "")

    again = await _send(gateway, message)  # a resend is the same message: AA, nothing new
    assert again["MSA"][1] == "AA"
    async with gateway.engine.connect() as conn:
        assert len((await conn.execute(select(messages.c.id))).all()) == 1


@pytest.mark.parametrize(
    ("options", "location"),
    [
        ({"family": "D" * 129}, "PID^1^5^1^1"),
        ({"procedure_text": "P" * 256}, "OBR^1^4^1^2"),
        ({"control_id": "C" * 256}, "MSH^1^10^1"),
    ],
)
async def test_a_value_longer_than_the_store_keeps_is_ar_naming_it_on_both_stores(
    gateway: RunningGateway, options: dict[str, str], location: str
) -> None:
    """AR (a resend cannot succeed) with ERR naming the field, never AE; the message is in
    the log with the reason, on SQLite as on PostgreSQL."""
    keys = {"control_id": "CTRL1", "version": "2.5.1", **options}
    message = orm_new_order("LONG0001", **keys)
    ack = await _send(gateway, message)
    assert ack["MSA"][1] == "AR", ack
    assert (ack["ERR"][2], ack["ERR"][3]) == (location, "102^Data type error^HL70357")
    async with gateway.engine.connect() as conn:
        (logged,) = (await conn.execute(select(messages))).mappings()
        assert (await conn.execute(select(orders.c.id))).all() == []
    assert (logged["outcome"], logged["raw"]) == ("rejected", message)
    assert "longer than" in logged["error"]
