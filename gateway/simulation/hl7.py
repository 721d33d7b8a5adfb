"""The HL7 v2 messages of a simulated day, as the RIS, the ADT system and the reporting
system of a real department send them (two RIS styles: ORM^O01 v2.3.1 and OMI^O23 v2.5.1)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.simulation.department import Event, Exam, Step

FACILITY = "GENERAL_HOSP"
REFERRER = "004471^OKAFOR^CHIDI^^^DR"
RADIOLOGIST = "556677&NOVAK&PETRA&M&&DR"
# Where each kind of message comes from (MSH-3).
_SENDERS = {
    Step.REGISTER: "HIS_ADT",
    Step.ARRIVE: "RIS_ADT",
    Step.SCHEDULE: "RIS_SCHED",
    Step.NO_SHOW: "RIS_SCHED",
    Step.PRELIMINARY: "POWERSCRIBE",
    Step.FINAL: "POWERSCRIBE",
}


def hl7_message(event: Event) -> bytes:
    """The message that tells the gateway about `event`, segments separated by CR.

    Raises:
        ValueError: the step is not told in HL7 (the modality tells it in DICOM).
    """
    exam, at = event.exam, event.at
    match event.step:
        case Step.REGISTER:
            kind = "ADT^A01" if exam.patient_class == "I" else "ADT^A04"
            body = [f"EVN|{kind[-3:]}|{_ts(at)}", _pid(exam), _pv1(exam)]
        case Step.ORDER | Step.CANCEL:
            return _order(event)
        case Step.SCHEDULE:
            kind, body = "SIU^S12^SIU_S12", _booking(exam, at, "Booked")
        case Step.NO_SHOW:
            kind, body = "SIU^S26^SIU_S12", _booking(exam, at, "NOSHOW")
        case Step.ARRIVE:
            kind = "ADT^A10^ADT_A09"
            body = [f"EVN|A10|{_ts(at)}|||FD02^MORALES^LUCIA|{_ts(at)}", _pid(exam), _pv1(exam)]
        case Step.PRELIMINARY | Step.FINAL:
            kind, body = "ORU^R01^ORU_R01", _report(exam, at, final=event.step is Step.FINAL)
        case _:
            raise ValueError(f"{event.step} is not an HL7 step")
    return _message(_SENDERS[event.step], kind, "2.5", event, body)


def _order(event: Event) -> bytes:
    exam, at = event.exam, event.at
    control = "CA" if event.step is Step.CANCEL else "NW"
    status = "CA" if control == "CA" else ""
    when = _ts(at)
    orc = (
        f"ORC|{control}|PLC{exam.accession}|{exam.accession}||{status}||^^^{when}^^"
        f"{exam.priority}||{when}|||{REFERRER}"
    )
    obr = (
        f"OBR|1|PLC{exam.accession}|{exam.accession}|{exam.code}^{exam.text}^CPT4|||{when}"
        f"||||||Clinical question|||{REFERRER}||{exam.accession}||||||"
        f"{exam.scanner.modality}|||^^^{when}^^{exam.priority}"
    )
    if exam.ris == "EPIC":
        body = [_pid(exam), _pv1(exam), orc, obr]
        return _message("EPIC", "ORM^O01", "2.3.1", event, body)
    ipc = (
        f"IPC|{exam.accession}^RIS|RP{exam.accession}^RIS||SPS{exam.accession}^RIS|"
        f"{exam.scanner.modality}||{exam.scanner.name}|{exam.scanner.location}|"
        f"{exam.scanner.ae_title}"
    )
    tq1 = f"TQ1|1||||||{when}||{exam.priority}^^HL70485"
    body = [_pid(exam), _pv1(exam), orc, tq1, obr, ipc]
    return _message("RADIANT", "OMI^O23^OMI_O23", "2.5.1", event, body)


def _booking(exam: Exam, at: datetime, status: str) -> list[str]:
    start = _ts(at)
    sch = _segment(
        "SCH",
        {
            1: f"APT{exam.accession}^RIS",
            2: f"APT{exam.accession}^RIS",
            6: "NEW",
            9: str(exam.minutes),
            10: "MIN",
            11: f"^^^{start}",
            25: status,
            27: f"{exam.accession}^RIS",  # the filler order number: the accession
        },
    )
    return [
        sch,
        _pid(exam),
        _pv1(exam),
        "RGS|1|A",
        f"AIS|1|A|{exam.code}^{exam.text}^CPT4|{start}|||{exam.minutes}|MIN",
        f"AIL|1|A|RADOP^{exam.scanner.ae_title}^^{FACILITY}",
    ]


def _segment(name: str, fields: dict[int, str]) -> str:
    """A segment from its numbered fields; the ones not given are empty."""
    return "|".join([name, *(fields.get(n, "") for n in range(1, max(fields) + 1))])


def _report(exam: Exam, at: datetime, *, final: bool) -> list[str]:
    status = "F" if final else "P"
    when = _ts(at)
    lines = [
        f"EXAM: {exam.text}.",
        "FINDINGS: No acute abnormality." if final else "PRELIMINARY: no acute abnormality.",
        "IMPRESSION: Normal study.",
    ]
    obx = [
        f"OBX|{n}|TX|RPT^Report text^L|{n}|{text}||||||{status}"
        for n, text in enumerate(lines, start=1)
    ]
    return [
        _pid(exam),
        _pv1(exam),
        f"ORC|RE|PLC{exam.accession}|{exam.accession}||CM",
        f"OBR|1|PLC{exam.accession}|{exam.accession}|{exam.code}^{exam.text}^CPT4|||{when}"
        f"|||||||||{REFERRER}||{exam.accession}||||{when}||{exam.scanner.modality}|{status}"
        f"||1^^^{when}^^{exam.priority}|||||{RADIOLOGIST}^{when}",
        *obx,
    ]


def _message(sender: str, kind: str, version: str, event: Event, body: list[str]) -> bytes:
    control = f"{event.exam.accession}-{event.step.value}"[:20]
    msh = f"MSH|^~\\&|{sender}|{FACILITY}|IMAGING_GW|RADIOLOGY|{_ts(event.at)}||{kind}|{control}"
    return ("\r".join([f"{msh}|P|{version}", *body]) + "\r").encode("ascii")


def _pid(exam: Exam) -> str:
    return (
        f"PID|1||{exam.patient_id}^^^{FACILITY}^MR||{exam.family}^{exam.given}||"
        f"{exam.birth_date}|{exam.sex}"
    )


def _pv1(exam: Exam) -> str:
    point = {"E": "ED", "I": "WARD4"}.get(exam.patient_class, "RADOP")
    return f"PV1|1|{exam.patient_class}|{point}^^^{FACILITY}||||{REFERRER}"


def _ts(at: datetime) -> str:
    """An HL7 TS with its offset, so no facility time zone is needed to read it."""
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
