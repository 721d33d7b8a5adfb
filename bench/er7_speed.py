"""Per-message cost of our ER7 reader (parse + 20 field reads) against hl7apy's parse alone.

Run: `.venv/bin/python bench/er7_speed.py`. A measurement, not a test: numbers vary by machine,
the ratio is what to compare.
"""

from __future__ import annotations

import timeit

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message as hl7apy_parse

from mappers.hl7v2.er7 import parse_message

# A 10-segment ORM^O01 as an Epic-style RIS sends it.
ORM = "\r".join(
    [
        "MSH|^~\\&|EPIC_RAD|GENERAL_HOSP|IMAGING_GW|RADIOLOGY|20240312091233||ORM^O01|EP0001|P|2.3.1",
        "PID|1|E4471203|E4471203^^^GENERAL_HOSP^MR~123-45-6789^^^SSA^SS||GARCIA^MARIA^ELENA^^^^L~"
        "LOPEZ^MARIA^^^^^M|LOPEZ^ROSA|19710823|F||2106-3^WHITE^HL70005|42 HARBOR VIEW RD^APT 3B^"
        "SPRINGFIELD^IL^62701^USA^H||^PRN^PH^^^217^5550199||SPA|M||H00457812|123-45-6789",
        "PV1|1|E|ED^ED14^B^GENERAL_HOSP^^^MAIN^1|E|||102938^NAKAMURA^KENJI^T^^DR^MD|||EMR||||||||E|"
        "H00457812",
        "ORC|NW|E99120001^EPC|ACC240312002^RAD||SC||1^^^20240312091200^^S||20240312091200|"
        "T55021^WONG^KAREN^^^^RN||102938^NAKAMURA^KENJI^T^^DR^MD|ED^ED14^B^GENERAL_HOSP|"
        "(217)555-0100",
        "OBR|1|E99120001^EPC|ACC240312002^RAD|71250^CT CHEST W/O CONTRAST^CPT4|||20240312091200"
        "||||||Chest pain\\.br\\elevated D-dimer|||102938^NAKAMURA^KENJI^T^^DR^MD|(217)555-0100|"
        "ACC240312002|CT1|||||CT|||1^^^20240312091200^^S",
        "DG1|1|I10|R07.9^CHEST PAIN, UNSPECIFIED^I10|CHEST PAIN, UNSPECIFIED||W",
        "AL1|1|DA|70618^PENICILLIN^RXNORM|SV|HIVES",
        "NTE|1|P|Patient is pregnant\\F\\unsure; confirm before scan",
        "NTE|2|P|Prior CT 2023\\S\\11 at outside facility",
        "ZDS|1.2.840.113619.2.55.3.604688119.969.1710403820.005^EPIC^Application^DICOM",
        "",
    ]
)

# The 20 reads a mapper makes for an order.
READS = [
    ("MSH", 9, 1),
    ("MSH", 9, 2),
    ("MSH", 10, 1),
    ("MSH", 12, 1),
    ("PID", 3, 1),
    ("PID", 3, 4),
    ("PID", 5, 1),
    ("PID", 5, 2),
    ("PID", 7, 1),
    ("PID", 8, 1),
    ("PV1", 2, 1),
    ("PV1", 3, 1),
    ("ORC", 1, 1),
    ("ORC", 9, 1),
    ("ORC", 12, 2),
    ("OBR", 4, 1),
    ("OBR", 4, 2),
    ("OBR", 18, 1),
    ("OBR", 24, 1),
    ("OBR", 27, 6),
]


def read_with_er7() -> list[str]:
    """Parse the ORM and read the 20 fields with our reader."""
    message = parse_message(ORM)
    return [message.segment(name).value(field, component) for name, field, component in READS]


def parse_with_hl7apy() -> object:
    """Parse the ORM with hl7apy, as tolerant and as cheap as it goes."""
    return hl7apy_parse(
        ORM, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT, force_validation=False
    )


def per_call(function: object, seconds: float = 1.0) -> float:
    """Best-of-5 seconds per call, each round running about `seconds`."""
    timer = timeit.Timer(function)  # type: ignore[arg-type]
    number, _ = timer.autorange()
    number = max(1, int(number * seconds / 0.2))
    return min(timer.repeat(repeat=5, number=number)) / number


def main() -> None:
    """Print both per-message costs and their ratio."""
    ours = per_call(read_with_er7)
    theirs = per_call(parse_with_hl7apy, seconds=0.5)
    print(f"er7 parse + 20 reads : {ours * 1e6:10.2f} µs/message")
    print(f"hl7apy parse only    : {theirs * 1e6:10.2f} µs/message")
    print(f"ratio (hl7apy / er7) : {theirs / ours:10.0f}x")


if __name__ == "__main__":
    main()
