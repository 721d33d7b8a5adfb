"""HL7 v2 over real MLLP sockets into a running gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fixtures.messages import orm_new_order
from store.schema import messages, order_timeline, orders, patients
from tests.conftest import RunningGateway, gateway_settings, start_gateway
from tests.support.mllp_client import END, START, MllpClient, segments

FIXTURES = Path(__file__).parents[2] / "fixtures" / "hl7"


async def _scalar(gateway: RunningGateway, statement):
    async with gateway.engine.connect() as conn:
        return (await conn.execute(statement)).scalar()


async def _count(gateway: RunningGateway, table) -> int:
    return await _scalar(gateway, select(func.count()).select_from(table))


async def _connect(gateway: RunningGateway) -> MllpClient:
    return await MllpClient.connect("127.0.0.1", gateway.mllp_port)


def _msa(ack: bytes) -> list[str]:
    return segments(ack)["MSA"]


async def test_new_order_is_stored_before_it_is_acknowledged(gateway: RunningGateway) -> None:
    """An ORM^O01 NW gets AA, and at that moment the order, patient and log row exist."""
    client = await _connect(gateway)
    ack = await client.send(orm_new_order("ACC100", control_id="MSG100"))
    await client.close()
    assert _msa(ack)[:3] == ["MSA", "AA", "MSG100"]
    async with gateway.engine.connect() as conn:
        order = (await conn.execute(select(orders))).mappings().one()
        patient = (await conn.execute(select(patients))).mappings().one()
        logged = (await conn.execute(select(messages))).mappings().one()
        timeline = (await conn.execute(select(order_timeline))).mappings().all()
    assert (order["accession"], order["status"], order["modality"]) == ("ACC100", "ordered", "CT")
    assert (patient["identifier"], patient["authority"]) == ("MRN0001", "GENERAL_HOSP")
    assert logged["control_id"] == "MSG100"
    assert logged["outcome"] == "applied"
    assert logged["ack_code"] == "AA"
    assert logged["message_type"] == "ORM^O01"
    assert logged["raw"] == orm_new_order("ACC100", control_id="MSG100")
    assert [(t["milestone"], t["message_id"]) for t in timeline] == [("ordered", logged["id"])]


async def test_the_same_message_twice_makes_one_order_and_two_aas(
    gateway: RunningGateway,
) -> None:
    """A resend (same sender, control id, content) is acknowledged again and changes nothing."""
    message = orm_new_order("ACC200", control_id="MSG200")
    client = await _connect(gateway)
    first = await client.send(message)
    second = await client.send(message)
    await client.close()
    assert _msa(first)[1] == _msa(second)[1] == "AA"
    assert await _count(gateway, orders) == 1
    assert await _count(gateway, order_timeline) == 1
    assert await _scalar(gateway, select(messages.c.receive_count)) == 2


async def test_a_reused_control_id_with_other_content_is_processed_and_flagged(
    gateway: RunningGateway,
) -> None:
    """An engine that reset its counter sends a new message: stored, applied, flagged."""
    client = await _connect(gateway)
    await client.send(orm_new_order("ACC300", control_id="MSG300"))
    ack = await client.send(orm_new_order("ACC301", control_id="MSG300"))
    await client.close()
    assert _msa(ack)[1] == "AA"
    assert await _count(gateway, orders) == 2
    flagged = await _scalar(
        gateway, select(func.count()).where(messages.c.control_id_reused.is_(True))
    )
    assert flagged == 1


async def test_a_message_split_byte_by_byte_is_stored_once(gateway: RunningGateway) -> None:
    """MLLP reassembles a frame that arrives one byte per TCP segment."""
    client = await _connect(gateway)
    for byte in START + orm_new_order("ACC400", control_id="MSG400") + END:
        client.writer.write(bytes([byte]))
        await client.writer.drain()
    ack = await client.receive()
    await client.close()
    assert _msa(ack)[:3] == ["MSA", "AA", "MSG400"]
    assert await _count(gateway, orders) == 1


async def test_two_messages_in_one_write_get_two_acks_in_order(gateway: RunningGateway) -> None:
    """Two frames in one write are processed in order, each acknowledged."""
    client = await _connect(gateway)
    client.writer.write(
        START
        + orm_new_order("ACC500", control_id="MSG500")
        + END
        + START
        + orm_new_order("ACC501", control_id="MSG501")
        + END
    )
    await client.writer.drain()
    first, second = await client.receive(), await client.receive()
    await client.close()
    assert [_msa(first)[2], _msa(second)[2]] == ["MSG500", "MSG501"]
    assert await _count(gateway, orders) == 2


async def test_garbage_before_the_start_block_is_discarded(gateway: RunningGateway) -> None:
    """Bytes outside a frame are dropped; the frame after them is taken."""
    client = await _connect(gateway)
    client.writer.write(
        b"\r\nnoise\x00\x1c\r" + START + orm_new_order("ACC600", control_id="M6") + END
    )
    await client.writer.drain()
    ack = await client.receive()
    await client.close()
    assert _msa(ack)[:3] == ["MSA", "AA", "M6"]
    assert await _count(gateway, messages) == 1


async def test_a_connection_closed_mid_frame_stores_nothing(gateway: RunningGateway) -> None:
    """Half a frame and a closed socket: nothing stored, nothing answered, listener serves on."""
    client = await _connect(gateway)
    client.writer.write(START + orm_new_order("ACC700", control_id="M7")[:150])
    await client.writer.drain()
    await client.close()
    await asyncio.sleep(0.2)
    assert await _count(gateway, messages) == 0
    client = await _connect(gateway)
    ack = await client.send(orm_new_order("ACC701", control_id="M71"))
    await client.close()
    assert _msa(ack)[1] == "AA"


@pytest.fixture
async def small_gateway(database_url: str):
    """A gateway whose MLLP size limit is 4 KiB."""
    running = await start_gateway(gateway_settings(database_url, mllp={"max_message_bytes": 4096}))
    yield running
    await running.runner.cleanup()


async def test_an_oversize_message_gets_ar_and_a_closed_connection(
    small_gateway: RunningGateway,
) -> None:
    """Over the size limit: AR naming the limit, the connection closed, the head kept."""
    big = orm_new_order("ACC800", control_id="M8").replace(b"COUGH", b"C" * 10_000)
    client = await _connect(small_gateway)
    ack = await client.send(big)
    assert _msa(ack)[:3] == ["MSA", "AR", "M8"]
    assert "size limit" in _msa(ack)[3]
    assert await asyncio.wait_for(client.reader.read(), 5) == b""  # closed by the gateway
    await client.close()
    async with small_gateway.engine.connect() as conn:
        logged = (await conn.execute(select(messages))).mappings().one()
    assert (logged["outcome"], logged["ack_code"]) == ("rejected", "AR")
    assert logged["raw"].startswith(b"MSH|")
    assert await _count(small_gateway, orders) == 0
    client = await _connect(small_gateway)
    assert _msa(await client.send(orm_new_order("ACC801", control_id="M81")))[1] == "AA"
    await client.close()


@pytest.mark.parametrize(
    ("message", "code", "location", "err_code"),
    [
        pytest.param(
            orm_new_order("ACC900", control_id="M9", version="2.5.1").replace(
                b"MRN0001^^^GENERAL_HOSP^MR", b""
            ),
            "AR",
            "PID^1^3^1^1",
            "101^Required field missing^HL70357",
            id="missing-pid-3",
        ),
        pytest.param(
            orm_new_order("ACC901", control_id="M9", version="2.5.1").replace(
                b"71250^CT CHEST W/O CONTRAST^CPT4", b""
            ),
            "AR",
            "OBR^1^4^1^1",
            "101^Required field missing^HL70357",
            id="missing-obr-4",
        ),
        pytest.param(
            orm_new_order("ACC902", control_id="M9", version="2.5.1").replace(
                b"|19800101|", b"|1980-01-01|"
            ),
            "AR",
            "PID^1^7^1",
            "102^Data type error^HL70357",
            id="bad-birth-date",
        ),
        pytest.param(
            orm_new_order("ACC903", control_id="M9", version="2.5.1").replace(
                b"ORM^O01", b"MFN^M01"
            ),
            "AR",
            "MSH^1^9^1^1",
            "200^Unsupported message type^HL70357",
            id="unsupported-type",
        ),
        pytest.param(
            orm_new_order("ACC904", control_id="M9", version="2.5.1").replace(
                b"|P|2.5.1", b"|P|3.0"
            ),
            "AR",
            "MSH^1^12^1^1",
            "203^Unsupported version id^HL70357",
            id="unsupported-version",
        ),
    ],
)
async def test_bad_messages_get_ar_naming_the_field_and_are_kept(
    gateway: RunningGateway, message: bytes, code: str, location: str, err_code: str
) -> None:
    """A message that cannot be taken is answered AR with ERR-2/ERR-3 and logged with its error."""
    client = await _connect(gateway)
    ack = await client.send(message)
    await client.close()
    fields = segments(ack)
    assert fields["MSA"][:3] == ["MSA", code, "M9"]
    assert fields["ERR"][2] == location
    assert fields["ERR"][3] == err_code
    assert await _count(gateway, orders) == 0
    async with gateway.engine.connect() as conn:
        logged = (await conn.execute(select(messages))).mappings().one()
    assert (logged["outcome"], logged["ack_code"]) == ("rejected", "AR")
    assert logged["error"]
    assert logged["raw"] == message


async def test_text_that_is_no_hl7_gets_ar_and_the_listener_serves_on(
    gateway: RunningGateway,
) -> None:
    """A frame without an MSH is answered AR (no MSA-2 to echo) and kept in the log."""
    client = await _connect(gateway)
    ack = await client.send(b"hello, this is not HL7")
    fields = segments(ack)
    assert fields["MSA"][:3] == ["MSA", "AR", ""]
    assert fields["ERR"][2].startswith("MSH")
    assert _msa(await client.send(orm_new_order("ACC910", control_id="M91")))[1] == "AA"
    await client.close()
    assert await _count(gateway, messages) == 2


async def test_an_admission_updates_the_patient_and_its_visit(gateway: RunningGateway) -> None:
    """ADT^A01 is applied: the patient with the class and location of the visit."""
    client = await _connect(gateway)
    ack = await client.send((FIXTURES / "adt_a01_v25_admit.hl7").read_bytes())
    await client.close()
    assert _msa(ack)[1] == "AA"
    async with gateway.engine.connect() as conn:
        patient = (await conn.execute(select(patients))).mappings().one()
        logged = (await conn.execute(select(messages))).mappings().one()
    assert (logged["outcome"], logged["message_type"]) == ("applied", "ADT^A01")
    assert (patient["identifier"], patient["patient_class"]) == ("GH0112004", "inpatient")
    assert patient["location"] == "3N^304^1"


async def test_a_message_in_scope_without_a_mapping_is_kept_and_accepted(
    gateway: RunningGateway,
) -> None:
    """An ADT^A02 (transfer) changes nothing in the workflow: kept as not mapped, AA."""
    message = (FIXTURES / "adt_a01_v25_admit.hl7").read_bytes().replace(b"ADT^A01", b"ADT^A02")
    client = await _connect(gateway)
    ack = await client.send(message)
    await client.close()
    assert _msa(ack)[1] == "AA"
    async with gateway.engine.connect() as conn:
        logged = (await conn.execute(select(messages))).mappings().one()
    assert (logged["outcome"], logged["message_type"]) == ("not_mapped", "ADT^A02")
    assert await _count(gateway, patients) == 0


@pytest.mark.parametrize(
    ("msh15", "message_ok", "expect"),
    [
        ("AL", True, "CA"),
        ("AL", False, "CR"),
        ("ER", False, "CR"),
        ("SU", True, "CA"),
    ],
)
async def test_enhanced_mode_gets_commit_acknowledgements(
    gateway: RunningGateway, msh15: str, message_ok: bool, expect: str
) -> None:
    """MSH-15/16 valued: the answer is a commit ACK, CA when stored, CR when refused."""
    message = orm_new_order(
        "ACC1000", control_id="M10", version="2.5.1", extra_msh=f"|||{msh15}|AL"
    )
    if not message_ok:
        message = message.replace(b"71250^CT CHEST W/O CONTRAST^CPT4", b"")
    client = await _connect(gateway)
    ack = await client.send(message)
    await client.close()
    assert _msa(ack)[:3] == ["MSA", expect, "M10"]
    assert await _count(gateway, orders) == (1 if message_ok else 0)


async def test_enhanced_mode_ne_stores_without_answering(gateway: RunningGateway) -> None:
    """MSH-15 NE: no commit ACK is sent, the message is stored, the connection stays usable."""
    client = await _connect(gateway)
    client.writer.write(
        START
        + orm_new_order("ACC1100", control_id="M11", version="2.5.1", extra_msh="|||NE|AL")
        + END
    )
    await client.writer.drain()
    ack = await client.send(orm_new_order("ACC1101", control_id="M12", version="2.5.1"))
    await client.close()
    assert _msa(ack)[:3] == ["MSA", "AA", "M12"]
    assert await _count(gateway, orders) == 2


@pytest.mark.parametrize(
    "fixture", ["orm_o01_nw_v251_utf8_mr.hl7", "orm_o01_nw_v231_latin1_cr.hl7"]
)
async def test_non_ascii_names_are_decoded_per_msh_18(
    gateway: RunningGateway, fixture: str
) -> None:
    """UTF-8 and 8859/1 messages are decoded by their MSH-18; names are stored exactly."""
    raw = (FIXTURES / fixture).read_bytes()
    charset = "utf-8" if b"UNICODE UTF-8" in raw else "latin-1"
    pid = next(s for s in raw.decode(charset).split("\r") if s.startswith("PID"))
    expected_family = pid.split("|")[5].split("^")[0]
    assert any(ord(ch) > 127 for ch in pid), "fixture must hold a non-ASCII name"
    client = await _connect(gateway)
    ack = await client.send(raw)
    await client.close()
    assert _msa(ack)[1] in ("AA", "CA")  # some fixtures ask for enhanced mode
    assert segments(ack)["MSH"][18] in ("UNICODE UTF-8", "8859/1")
    assert await _scalar(gateway, select(patients.c.family_name)) == expected_family


async def test_python_hl7_mllp_send_gets_an_aa(gateway: RunningGateway, tmp_path: Path) -> None:
    """python-hl7's `mllp_send` tool, a standard MLLP client, delivers an order."""
    tool = shutil.which("mllp_send", path=str(Path(sys.executable).parent))
    assert tool, "mllp_send comes with the hl7 test dependency"
    message = tmp_path / "order.hl7"
    message.write_bytes(orm_new_order("ACC1200", control_id="M1200").replace(b"\r", b"\n"))
    process = await asyncio.create_subprocess_exec(
        tool,
        "--port",
        str(gateway.mllp_port),
        "--loose",
        "--file",
        str(message),
        "127.0.0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr
    assert "MSA|AA|M1200" in stdout.decode()
    assert await _count(gateway, orders) == 1


async def test_replay_command_sends_a_fixture_file(gateway: RunningGateway) -> None:
    """`imaging-gateway replay FILE` sends each message and prints its ACK code."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "replay",
        str(FIXTURES / "orm_o01_nw_v231_epic_ct.hl7"),
        "--host",
        "127.0.0.1",
        "--port",
        str(gateway.mllp_port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr
    assert "\tAA" in stdout.decode()
    assert await _count(gateway, orders) == 1


async def test_every_sample_is_accepted_and_applied_over_mllp(gateway: RunningGateway) -> None:
    """All samples (every type, trigger, version and character set) are AA/CA and applied."""
    samples = sorted(FIXTURES.glob("*.hl7"))
    assert len(samples) >= 40
    client = await _connect(gateway)
    for path in samples:
        ack = await client.send(path.read_bytes())
        assert _msa(ack)[1] in ("AA", "CA"), (path.name, ack)
    await client.close()
    async with gateway.engine.connect() as conn:
        outcomes = dict(
            (await conn.execute(select(messages.c.control_id, messages.c.outcome))).all()
        )
    assert len(outcomes) == len(samples)
    assert set(outcomes.values()) == {"applied"}, outcomes
