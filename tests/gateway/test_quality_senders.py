"""The sender scorecard over real MLLP: two senders, one of them careless, every figure
checked against what was sent."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from store.figures import percentile
from tests.conftest import RunningGateway
from tests.support.mllp_client import MllpClient, segments

ORM = (
    (Path(__file__).parents[2] / "fixtures" / "hl7" / "orm_o01_nw_v231_epic_ct.hl7")
    .read_bytes()
    .decode("latin-1")
)
ADT = (
    "MSH|^~\\&|{app}|{fac}|IMAGING_GW|RADIOLOGY|{sent}||ADT^{event}|{control}|P|2.5.1\r"
    "EVN|{event}|{sent}\r"
    "PID|1||{mrn}^^^GENERAL_HOSP^MR||DOE^JANE||19700101|F\r"
    "PV1|1|O|RAD^R1\r"
)


def _hl7_time(at: datetime | None) -> str:
    return at.strftime("%Y%m%d%H%M%S") if at else ""


def _with(message: str, changes: dict[tuple[str, int], str], drop: tuple[str, ...] = ()) -> str:
    """`message` with fields set ((segment, field) -> value; MSH counted as the standard
    does) and whole segments left out."""
    lines = []
    for line in message.strip().split("\r"):
        fields = line.split("|")
        name = fields[0]
        if name in drop:
            continue
        for (segment, number), value in changes.items():
            if segment == name:
                index = number - 1 if name == "MSH" else number
                fields += [""] * (index + 1 - len(fields))
                fields[index] = value
        lines.append("|".join(fields))
    return "\r".join(lines) + "\r"


def _orm(app: str, fac: str, control: str, sent: datetime, accession: str, **fields: str) -> str:
    changes = {
        ("MSH", 3): app,
        ("MSH", 4): fac,
        ("MSH", 7): _hl7_time(sent),
        ("MSH", 10): control,
    }
    drop = ("PV1",) if fields.pop("no_pv1", None) else ()
    for name, value in fields.items():
        segment, number = name.split("_")
        changes[(segment, int(number))] = value
    return _with(ORM.replace("ACC240312002", accession), changes, drop)


def _adt(app: str, fac: str, control: str, sent: datetime | None, *, event: str, mrn: str) -> str:
    return ADT.format(app=app, fac=fac, control=control, sent=_hl7_time(sent), event=event, mrn=mrn)


async def _send(client: MllpClient, message: str) -> str:
    ack = segments(await client.send(message.encode("latin-1")))
    return ack["MSA"][1]


async def _get(gateway: RunningGateway, path: str, **params: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{gateway.http_url}{path}", params=params) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


def _late(received_at: str, sent: datetime) -> float:
    """Whole seconds, each end floored to its second."""
    received = datetime.fromisoformat(received_at)
    return float(math.floor(received.timestamp()) - math.floor(sent.timestamp()))


async def test_the_scorecard_counts_each_senders_quality_exactly(gateway: RunningGateway) -> None:
    """Types, refusals by reason and field, missing fields, lateness, resends, reused ids."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    now = datetime.now(UTC).replace(microsecond=0)
    sent = {
        "A1": now - timedelta(seconds=30),
        "A2": now - timedelta(seconds=90),
        "B1": now - timedelta(hours=2),
        "B2": now - timedelta(minutes=10),
        "B3": now - timedelta(hours=1),
    }
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    try:
        # A careful sender: a complete order and a registration.
        assert await _send(client, _orm("RIS_A", "HOSP", "A1", sent["A1"], "QA0001")) == "AA"
        assert (
            await _send(client, _adt("RIS_A", "HOSP", "A2", sent["A2"], event="A04", mrn="M1"))
            == "AA"
        )
        # A careless one: no visit, no ordering provider, no priority; sent three times.
        careless = _orm(
            "EHR_B", "CLINIC", "B1", sent["B1"], "QB0001",
            ORC_12="", ORC_7="", OBR_27="", no_pv1="yes",
        )  # fmt: skip
        for _ in range(3):
            assert await _send(client, careless) == "AA"
        # No procedure code: refused, naming OBR-4.1.
        no_code = _orm("EHR_B", "CLINIC", "B2", sent["B2"], "QB0002", OBR_4="")
        assert await _send(client, no_code) == "AR"
        # The control id of B1 again, for other content.
        assert (
            await _send(client, _adt("EHR_B", "CLINIC", "B1", sent["B3"], event="A08", mrn="M2"))
            == "AA"
        )
        # A type the gateway does not take, without a message time.
        mdm = _adt("EHR_B", "CLINIC", "B4", None, event="A08", mrn="M3").replace(
            "ADT^A08", "MDM^T02"
        )
        assert await _send(client, mdm) == "AR"
    finally:
        await client.close()

    log = (await _get(gateway, "/api/v1/messages", limit="100"))["items"]
    received = {(m["sending_application"], m["control_id"], m["message_type"]): m for m in log}
    late_a = [_late(received["RIS_A", c, t]["received_at"], sent[c]) for c, t in
              (("A1", "ORM^O01"), ("A2", "ADT^A04"))]  # fmt: skip
    late_b = [
        _late(received["EHR_B", "B1", "ORM^O01"]["received_at"], sent["B1"]),
        _late(received["EHR_B", "B2", "ORM^O01"]["received_at"], sent["B2"]),
        _late(received["EHR_B", "B1", "ADT^A08"]["received_at"], sent["B3"]),
    ]

    card = await _get(gateway, "/api/v1/quality/senders", since=start.isoformat())
    assert card["fields"] == ["OBR-4", "PV1-2", "ORC-12", "priority"]
    by_sender = {(s["sending_application"], s["sending_facility"]): s for s in card["items"]}
    assert set(by_sender) == {("RIS_A", "HOSP"), ("EHR_B", "CLINIC")}

    careful = by_sender["RIS_A", "HOSP"]
    assert careful["protocol"] == "hl7v2"
    assert (careful["messages"], careful["received"]) == (2, 2)
    assert careful["by_type"] == {"ADT^A04": 1, "ORM^O01": 1}
    assert (careful["rejected"], careful["failed"], careful["refused_share"]) == (0, 0, 0.0)
    assert careful["refusals"] == []
    assert careful["missing_fields"] == {"OBR-4": 0, "PV1-2": 0, "ORC-12": 0, "priority": 0}
    assert careful["with_missing_fields"] == 0
    assert careful["lateness"] == {
        "count": 2,
        "p50_seconds": percentile(late_a, 50),
        "p90_seconds": percentile(late_a, 90),
    }
    assert (careful["resent_messages"], careful["resends"], careful["reused_control_ids"]) == (
        0,
        0,
        0,
    )

    sloppy = by_sender["EHR_B", "CLINIC"]
    assert (sloppy["messages"], sloppy["received"]) == (4, 6)
    assert sloppy["by_type"] == {"ADT^A08": 1, "MDM^T02": 1, "ORM^O01": 2}
    assert (sloppy["rejected"], sloppy["failed"], sloppy["refused_share"]) == (2, 0, 0.5)
    assert sloppy["refusals"] == [
        {"outcome": "rejected", "reason": "message type 'MDM' is not taken", "field": "MSH-9.1",
         "count": 1},
        {"outcome": "rejected", "reason": "procedure code is empty", "field": "OBR-4.1",
         "count": 1},
    ]  # fmt: skip
    assert sloppy["missing_fields"] == {"OBR-4": 1, "PV1-2": 1, "ORC-12": 1, "priority": 1}
    assert sloppy["with_missing_fields"] == 2
    assert sloppy["lateness"] == {
        "count": 3,
        "p50_seconds": percentile(late_b, 50),
        "p90_seconds": percentile(late_b, 90),
    }
    # By hand: 600, 3600 and 7200 s late (plus the second or two in transit); p90 lies 0.8 of
    # the way from the second to the third.
    assert 3600 <= sloppy["lateness"]["p50_seconds"] <= 3602
    assert 6480 <= sloppy["lateness"]["p90_seconds"] <= 6482
    assert (sloppy["resent_messages"], sloppy["resends"], sloppy["reused_control_ids"]) == (
        1,
        2,
        1,
    )


async def test_the_window_leaves_out_earlier_arrivals(gateway: RunningGateway) -> None:
    """A window starting after the last arrival scores no sender; `since` >= `until` is a 400."""
    client = await MllpClient.connect("127.0.0.1", gateway.mllp_port)
    try:
        sent = datetime.now(UTC)
        assert await _send(client, _adt("RIS_A", "HOSP", "W1", sent, event="A04", mrn="M1")) == "AA"
    finally:
        await client.close()
    later = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    assert (await _get(gateway, "/api/v1/quality/senders", since=later))["items"] == []
    assert len((await _get(gateway, "/api/v1/quality/senders"))["items"]) == 1
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{gateway.http_url}/api/v1/quality/senders", params={"since": later, "until": later}
        ) as response,
    ):
        assert response.status == 400
        assert "since" in (await response.json())["detail"]
