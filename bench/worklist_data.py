"""The worklist benchmark's data: 100,000 open orders of a department's month (patients,
stations, procedures, names with a realistic spread), written straight into a migrated
database, and the queries drawn over them (`bench/worklist.py`)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from store.engine import create_engine
from store.migrate import migrate
from store.schema import orders, patients

SEED = 20240312
DAYS = 30
DAYS_BEFORE_TODAY = 7  # open orders whose day has passed: no-shows, exams never closed
CHUNK = 5_000
PATIENTS_PER_ORDER = 0.7
KINDS = {
    "station": "station AE + date",
    "modality": "modality + 3-day range",
    "name": "patient name wildcard",
}
NAME_PATTERNS = ("SMI*", "JOH*", "GAR*", "NGU*", "HAL*", "KOW*")

# modality: (share of the orders, stations, procedures (CPT code, text))
MODALITIES: dict[str, tuple[float, int, tuple[tuple[str, str], ...]]] = {
    "CT": (
        0.22,
        6,
        (
            ("71250", "CT CHEST W/O CONTRAST"),
            ("74177", "CT ABD & PELVIS W/ CONTRAST"),
            ("70450", "CT HEAD W/O CONTRAST"),
        ),
    ),
    "MR": (
        0.14,
        5,
        (("70551", "MRI BRAIN W/O CONTRAST"), ("72148", "MRI LUMBAR SPINE W/O CONTRAST")),
    ),
    "CR": (0.18, 5, (("71046", "XR CHEST 2 VIEWS"), ("73030", "XR SHOULDER 2+ VIEWS"))),
    "DX": (0.10, 3, (("73560", "XR KNEE 1-2 VIEWS"), ("72100", "XR LUMBAR SPINE 2-3 VIEWS"))),
    "US": (0.16, 6, (("76700", "US ABDOMEN COMPLETE"), ("76856", "US PELVIS COMPLETE"))),
    "MG": (0.08, 3, (("77067", "MAMMO SCREENING BILATERAL"),)),
    "NM": (0.04, 2, (("78452", "NM MYOCARDIAL PERFUSION SPECT"),)),
    "XA": (0.04, 2, (("93458", "CARDIAC CATH W/ ANGIOGRAPHY"),)),
    "RF": (0.04, 2, (("74220", "FL ESOPHAGUS"),)),
}

# US census 2010 frequencies per 100,000 people: the head of the distribution; the rest of
# the names (about 88%) come from a long tail of made-up but plausible surnames.
COMMON_SURNAMES = {
    "SMITH": 828, "JOHNSON": 655, "WILLIAMS": 550, "BROWN": 487, "JONES": 483, "GARCIA": 469,
    "MILLER": 436, "DAVIS": 393, "RODRIGUEZ": 369, "MARTINEZ": 359, "HERNANDEZ": 355,
    "LOPEZ": 302, "GONZALEZ": 280, "WILSON": 272, "ANDERSON": 265, "THOMAS": 255,
    "TAYLOR": 253, "MOORE": 234, "JACKSON": 231, "MARTIN": 230, "LEE": 229, "PEREZ": 226,
    "THOMPSON": 224, "WHITE": 223, "HARRIS": 212, "SANCHEZ": 210, "CLARK": 187,
    "RAMIREZ": 185, "LEWIS": 181, "ROBINSON": 180, "WALKER": 175, "YOUNG": 167, "ALLEN": 163,
    "KING": 161, "WRIGHT": 160, "SCOTT": 150, "TORRES": 150, "NGUYEN": 147, "HILL": 146,
    "FLORES": 146, "GREEN": 145, "ADAMS": 144, "NELSON": 143, "BAKER": 142, "HALL": 135,
    "RIVERA": 133, "CAMPBELL": 128, "MITCHELL": 128, "CARTER": 124, "ROBERTS": 123,
    "KOWALSKI": 20, "SMITHERS": 5, "HALVORSEN": 5,
}  # fmt: skip
TAIL_HEADS = (
    "AB", "BAR", "BEL", "BRAN", "CAL", "COR", "DAL", "DEV", "EL", "FAR", "FEN", "GAL", "GRE",
    "HAR", "HOL", "IV", "JAN", "KAS", "KEL", "KRA", "LAN", "LIN", "MAC", "MAR", "MEL", "MOR",
    "NOR", "OL", "PAR", "PET", "QUIN", "RAD", "REN", "ROS", "SAL", "SEV", "STO", "TAL", "TOR",
    "UL", "VAL", "VER", "WAL", "WEST", "YAR", "ZEL", "BROOK", "CHAN", "DORN", "FITZ", "GOLD",
    "HUNT", "LOCK", "NASH", "OAK", "PRESS", "SHAW", "THORN", "WOOD", "ASH",
)  # fmt: skip
TAIL_ENDS = (
    "ANDER", "BERG", "BURN", "DALE", "EN", "ER", "ESCU", "ETTI", "FORD", "HAM", "IAN", "ICH",
    "INSKI", "ISON", "KOV", "LAND", "LEY", "MAN", "NER", "OFF", "OVA", "RIDGE", "SEN", "STEIN",
    "TON", "VILLE", "WELL", "WICK", "YK", "ZADEH",
)  # fmt: skip
GIVEN_F = (
    "MARY", "PATRICIA", "JENNIFER", "LINDA", "ELIZABETH", "BARBARA", "SUSAN", "JESSICA",
    "SARAH", "KAREN", "NANCY", "LISA", "MARIA", "ANA", "SOFIA", "EMMA", "OLIVIA", "AVA",
    "MEI", "FATIMA", "AISHA", "PRIYA", "HANNA", "ROSA", "GRACE", "CHLOE",
)  # fmt: skip
GIVEN_M = (
    "JAMES", "ROBERT", "JOHN", "MICHAEL", "DAVID", "WILLIAM", "RICHARD", "JOSEPH", "THOMAS",
    "CHARLES", "JOSE", "LUIS", "CARLOS", "JUAN", "WEI", "MINH", "OMAR", "AHMED", "RAJ",
    "KENJI", "LIAM", "NOAH", "ETHAN", "DANIEL", "MATTHEW", "ANDREW",
)  # fmt: skip
PROVIDERS = (
    ("NAKAMURA", "KENJI"), ("OKAFOR", "CHIDI"), ("SCHULTZ", "ANNA"), ("PATEL", "RAVI"),
    ("MORENO", "LUCIA"), ("COHEN", "DAVID"), ("OBRIEN", "SEAN"), ("LINDQVIST", "ERIK"),
)  # fmt: skip


# --- the data --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the database holds, enough to ask queries that find something."""

    base: date  # the first scheduled day
    stations: dict[str, list[str]]  # modality -> station AE titles


def stations() -> dict[str, list[str]]:
    return {
        modality: [f"GH_{modality}{n:02d}" for n in range(1, count + 1)]
        for modality, (_, count, _) in MODALITIES.items()
    }


def _surname_sampler(rng: random.Random) -> Any:
    tail = [head + end for head in TAIL_HEADS for end in TAIL_ENDS]
    common = list(COMMON_SURNAMES)
    common_share = sum(COMMON_SURNAMES.values()) / 100_000
    weights = list(COMMON_SURNAMES.values())

    def sample() -> str:
        if rng.random() < common_share:
            return rng.choices(common, weights)[0]
        return rng.choice(tail)

    return sample


def make_rows(count: int, now: datetime) -> tuple[Loaded, list[dict], list[dict]]:
    """`count` open orders and their patients (about 0.7 per order), all in the next days."""
    rng = random.Random(SEED)
    surname = _surname_sampler(rng)
    base = now.date() - timedelta(days=DAYS_BEFORE_TODAY)
    patient_rows = []
    for number in range(1, max(1, int(count * PATIENTS_PER_ORDER)) + 1):
        female = rng.random() < 0.52
        given = rng.choice(GIVEN_F if female else GIVEN_M)
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 33_000))
        patient_rows.append(
            {
                "id": number,
                "identifier": f"MRN{number:08d}",
                "authority": "GENERAL_HOSP",
                "family_name": surname(),
                "given_name": given,
                "middle_name": rng.choice(("", "", "", "A", "J", "M", "ELENA", "LEE")),
                "name_prefix": "",
                "name_suffix": "",
                "birth_date": born,
                "sex": "F" if female else "M",
                "patient_class": "",
                "location": "",
                "visit_number": "",
                "merged_into_id": None,
                "demographics_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    modalities = list(MODALITIES)
    shares = [MODALITIES[m][0] for m in modalities]
    by_modality = stations()
    order_rows = []
    for number in range(1, count + 1):
        modality = rng.choices(modalities, shares)[0]
        code, text = rng.choice(MODALITIES[modality][2])
        day = base + timedelta(days=rng.randrange(DAYS))
        start = datetime(day.year, day.month, day.day, 7, tzinfo=UTC) + timedelta(
            minutes=15 * rng.randrange(52)
        )
        ordered = start - timedelta(minutes=rng.randrange(60, 21 * 24 * 60))
        booked = rng.random() < 0.85
        provider = rng.randrange(len(PROVIDERS))
        family, given = PROVIDERS[provider]
        accession = f"ACC{number:09d}"
        order_rows.append(
            {
                "id": number,
                "accession": accession,
                "patient_id": rng.randrange(1, len(patient_rows) + 1),
                "placer_number": f"PL{number:09d}",
                "filler_number": accession,
                "procedure_code": code,
                "procedure_text": text,
                "procedure_system": "C4",
                "requested_procedure_id": f"RP{number:09d}",
                "modality": modality,
                "priority": rng.choices(("R", "S", "A"), (90, 5, 5))[0],
                "ordering_provider_id": f"P{provider + 1:05d}",
                "ordering_provider_name": f"{family}^{given}",
                "ordering_provider_family": family,
                "ordering_provider_given": given,
                "reason": "",
                "patient_class": rng.choice(("O", "O", "O", "I", "E")),
                "location": "RAD",
                "study_instance_uid": f"2.25.{uuid.UUID(int=rng.getrandbits(128)).int}",
                "details_at": ordered,
                "scheduled_start": start,
                "scheduled_duration_minutes": 30 if booked else None,
                "scheduled_resource": rng.choice(by_modality[modality]) if booked else "",
                "schedule_at": ordered if booked else None,
                "status": "scheduled" if booked else "ordered",
                "ordered_at": ordered,
                "scheduled_at": ordered + timedelta(minutes=5) if booked else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    return Loaded(base, by_modality), patient_rows, order_rows


async def populate(url: str, count: int) -> Loaded:
    """Migrate the database at `url` and fill it with `count` open orders."""
    now = datetime.now(UTC).replace(microsecond=0)
    data, patient_rows, order_rows = make_rows(count, now)
    engine = create_engine(url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            for table, rows in ((patients, patient_rows), (orders, order_rows)):
                for first in range(0, len(rows), CHUNK):
                    await conn.execute(insert(table), rows[first : first + CHUNK])
            if conn.dialect.name == "postgresql":
                for table in ("patients", "orders"):
                    await conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
        if engine.dialect.name == "postgresql":
            # What autovacuum does soon after a bulk load; SQLite keeps no statistics unless
            # told to, and the gateway never tells it, so it gets none here either.
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return data


# --- the queries -------------------------------------------------------------------------


def plan(data: Loaded, count: int) -> dict[str, list[dict[str, str]]]:
    """`count` parameter sets per kind of query, drawn once (the same for every run)."""
    rng = random.Random(SEED + 1)
    modalities = list(MODALITIES)
    shares = [MODALITIES[m][0] for m in modalities]

    def day(offset: int = 0) -> str:
        return (data.base + timedelta(days=offset)).strftime("%Y%m%d")

    result: dict[str, list[dict[str, str]]] = {kind: [] for kind in KINDS}
    for n in range(count):
        modality = rng.choices(modalities, shares)[0]
        first = rng.randrange(DAYS)
        result["station"].append(
            {"station": rng.choice(data.stations[modality]), "date": day(first)}
        )
        first = rng.randrange(DAYS - 2)
        result["modality"].append({"modality": modality, "date": f"{day(first)}-{day(first + 2)}"})
        result["name"].append({"name": NAME_PATTERNS[n % len(NAME_PATTERNS)]})
    return result
