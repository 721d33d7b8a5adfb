"""A large, plausible imaging department on PostgreSQL, generated server-side in seconds.

A fresh database `imaging_gw_bench_<hex>` gets the gateway's own migrations, then is filled
with `INSERT ... SELECT ... FROM generate_series(...)`: patients, devices, orders over the 90
days before now with every milestone (increasing times; a few % cancelled, discontinued, not
shown, or missing an end), and studies (with series) and MPPS steps for a third of the exams.
Milestones later than now are left empty and each order's status is its furthest milestone,
so recent orders are open and the board has a department to show.

The orders' secondary indexes are dropped during the fill and rebuilt from their own
definitions after it (a bulk build is several times faster than 1,000,000 index inserts);
foreign keys are not checked during the fill (the rows are consistent by construction).
The message log and the timeline are left empty: no benchmarked query reads them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.engine import make_url

from bench.common import POSTGRES_ADMIN_URL
from store.engine import create_engine
from store.migrate import migrate
from store.rebuild import rebuild_read_models

FULL_ORDERS = 1_000_000
QUICK_ORDERS = 50_000
ORDERS_PER_PATIENT = 5
DAYS = 90
MODALITIES = ("CT", "CR", "MR", "US", "MG", "NM")
SAMPLE = 2_000  # accessions and patient ids handed to the load tool


@dataclass(frozen=True, slots=True)
class Dataset:
    """A filled database: its URLs, what it holds, and samples to query."""

    name: str
    url: str  # for the gateway (postgresql+asyncpg://...)
    dsn: str  # for asyncpg
    now: datetime
    orders: int
    patients: int
    studies: int
    seconds: float  # generation time, migrations and the read models' rebuild included
    rebuild_seconds: float  # of which `rebuild-read-models`
    accessions: tuple[str, ...]
    study_patients: tuple[int, ...]  # patient ids that have studies


_PATIENTS = """
INSERT INTO patients (id, identifier, authority, family_name, given_name, middle_name,
    name_prefix, name_suffix, birth_date, sex, patient_class, location, visit_number,
    merged_into_id, demographics_at, created_at, updated_at)
SELECT g, 'MRN' || lpad(g::text, 8, '0'), 'HOSP',
    (ARRAY['Smith','Jones','Garcia','Miller','Davis','Martin','Lopez','Wilson','Moore','Taylor',
           'Thomas','White','Harris','Clark','Lewis','Young','King','Scott','Green','Baker'])
        [1 + g % 20],
    (ARRAY['Anna','Ben','Clara','David','Emma','Felix','Grace','Hugo','Ines','Jon','Kira',
           'Leo','Mia','Noah','Olga','Paul','Rosa','Sam','Tara','Ugo'])[1 + (g * 7) % 20],
    '', '', '', date '1930-01-01' + (g * 37) % 32000, CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END,
    '', '', '', NULL, $1::timestamptz - interval '100 days', $1::timestamptz - interval '100 days',
    $1::timestamptz - interval '100 days'
FROM generate_series(1, $2::int) AS g
"""

_DEVICES = """
INSERT INTO devices (ae_title, station_name, modality, manufacturer, model, serial_number, name,
    location, host, port, monitored, first_seen_at, last_seen_at, created_at, updated_at)
SELECT m || n, m || '_ROOM' || n, m, 'ACME', m || '-5000', m || n || '-SN', m || ' ' || n,
    'Radiology', '', NULL, false, $1::timestamptz - interval '100 days', $1::timestamptz,
    $1::timestamptz - interval '100 days', $1::timestamptz
FROM unnest($2::text[]) AS m CROSS JOIN generate_series(1, 2) AS n
"""

# Level a: one row per order with its random draws; b: the times as they would happen;
# c: only what has happened by now; d: the status (the furthest milestone).
# OFFSET 0 keeps each level's random() evaluated once per row.
_ORDERS = """
INSERT INTO orders (id, accession, patient_id, placer_number, filler_number, procedure_code,
    procedure_text, procedure_system, requested_procedure_id, modality, priority,
    ordering_provider_id, ordering_provider_name, ordering_provider_family,
    ordering_provider_given, reason, patient_class, location, study_instance_uid, details_at,
    scheduled_start, scheduled_duration_minutes, scheduled_resource, schedule_at, no_show_at,
    status, ordered_at, scheduled_at, arrived_at, exam_started_at, exam_completed_at,
    images_available_at, preliminary_report_at, final_report_at, cancelled_at, discontinued_at,
    created_at, updated_at)
SELECT g, 'ACC' || lpad(g::text, 9, '0'), patient_id, 'PL' || g, 'FL' || g,
    modality || '-' || (1 + g % 5), modality || ' exam ' || (1 + g % 5), 'LOCAL', 'RP' || g,
    modality, priority, 'DR' || (g % 300), 'Doctor ' || (g % 300), 'Doctor', 'Dr',
    'clinical question', pclass,
    CASE pclass WHEN 'emergency' THEN 'ED' WHEN 'inpatient' THEN 'WARD' || g % 12 ELSE 'OPD' END,
    CASE WHEN g % 3 = 0 AND images_at IS NOT NULL THEN '1.2.826.0.1.3680043.10.543.' || g
         ELSE '' END,
    o, sched_start, duration, CASE WHEN sched_start IS NULL THEN '' ELSE modality || '1' END,
    sched_at, no_show_at,
    CASE WHEN cancel_at IS NOT NULL THEN 'cancelled'
         WHEN disc_at IS NOT NULL THEN 'discontinued'
         WHEN final_at IS NOT NULL THEN 'final_report'
         WHEN prelim_at IS NOT NULL THEN 'preliminary_report'
         WHEN images_at IS NOT NULL THEN 'images_available'
         WHEN completed_at IS NOT NULL THEN 'exam_completed'
         WHEN started_at IS NOT NULL THEN 'exam_started'
         WHEN arrived_at IS NOT NULL THEN 'arrived'
         WHEN sched_at IS NOT NULL THEN 'scheduled'
         ELSE 'ordered' END,
    o, sched_at, arrived_at, started_at, completed_at, images_at, prelim_at, final_at, cancel_at,
    disc_at, o,
    greatest(o, sched_at, arrived_at, started_at, completed_at, images_at, prelim_at, final_at,
             cancel_at, disc_at, no_show_at)
FROM (
  SELECT g, o, patient_id, modality, priority, pclass, duration, sched_start,
    CASE WHEN sched_at <= $1 THEN sched_at END AS sched_at,
    CASE WHEN no_show_at <= $1 THEN no_show_at END AS no_show_at,
    CASE WHEN arrived_at <= $1 THEN arrived_at END AS arrived_at,
    CASE WHEN started_at <= $1 THEN started_at END AS started_at,
    CASE WHEN completed_at <= $1 THEN completed_at END AS completed_at,
    CASE WHEN images_at <= $1 THEN images_at END AS images_at,
    CASE WHEN prelim_at <= $1 THEN prelim_at END AS prelim_at,
    CASE WHEN final_at <= $1 THEN final_at END AS final_at,
    CASE WHEN cancel_at <= $1 THEN cancel_at END AS cancel_at,
    CASE WHEN disc_at <= $1 THEN disc_at END AS disc_at
  FROM (
    SELECT g, o, patient_id, modality, priority, pclass, duration, sched_start, sched_at,
      CASE WHEN fate = 'no_show' THEN sched_start + interval '1 hour' END AS no_show_at,
      CASE WHEN fate IN ('cancelled', 'no_show') THEN NULL ELSE arrived_at END AS arrived_at,
      CASE WHEN fate IN ('cancelled', 'no_show') THEN NULL ELSE started_at END AS started_at,
      CASE WHEN fate IN ('cancelled', 'no_show', 'discontinued', 'no_completion') THEN NULL
           ELSE started_at + duration * interval '1 minute' END AS completed_at,
      CASE WHEN fate IN ('cancelled', 'no_show', 'discontinued') THEN NULL
           ELSE started_at + (duration + 0.5 + r6 * 8) * interval '1 minute' END AS images_at,
      CASE WHEN fate IN ('cancelled', 'no_show', 'discontinued') THEN NULL
           WHEN r7 < CASE pclass WHEN 'emergency' THEN 0.7 WHEN 'inpatient' THEN 0.3
                                 ELSE 0.05 END
           THEN started_at + (duration + 10 + r8 * 50) * interval '1 minute' END AS prelim_at,
      CASE WHEN fate IN ('cancelled', 'no_show', 'discontinued', 'no_report') THEN NULL
           ELSE started_at + (duration + 70 * (r7 < CASE pclass WHEN 'emergency' THEN 0.7
                                                   WHEN 'inpatient' THEN 0.3 ELSE 0.05 END)::int
                 + CASE pclass WHEN 'emergency' THEN 15 + 180 * r8 ^ 3
                               WHEN 'inpatient' THEN 45 + 900 * r8 ^ 3
                               ELSE 90 + 2880 * r8 ^ 3 END) * interval '1 minute'
      END AS final_at,
      CASE WHEN fate = 'cancelled'
           THEN o + (coalesce(sched_start, o + interval '2 hours') - o) * rf END AS cancel_at,
      CASE WHEN fate = 'discontinued' THEN started_at + duration * 0.4 * interval '1 minute'
      END AS disc_at
    FROM (
      SELECT g, o, patient_id, modality, priority, pclass, duration, sched_start, r6, r7, r8, rf,
        fate, arrived_at,
        CASE WHEN sched_start IS NULL THEN NULL
             ELSE o + (sched_start - o) * (0.05 + 0.3 * r2) END AS sched_at,
        greatest(coalesce(arrived_at, sched_start, o + interval '20 minutes'),
                 coalesce(sched_start, o) - interval '5 minutes')
          + (-ln(1 - r4 * 0.999) * CASE pclass WHEN 'emergency' THEN 8 WHEN 'inpatient' THEN 20
                                                ELSE 15 END) * interval '1 minute'
          AS started_at
      FROM (
        SELECT g, o, patient_id, modality, priority, pclass, duration, sched_start, r2, r4, r6,
          r7, r8, rf, fate,
          CASE WHEN r3 < 0.05 THEN NULL
               WHEN pclass = 'emergency' THEN o + (3 + r3 * 20) * interval '1 minute'
               WHEN pclass = 'inpatient' THEN sched_start - r3 * 20 * interval '1 minute'
               ELSE sched_start - (5 + r3 * 25) * interval '1 minute' END AS arrived_at
        FROM (
          SELECT g, o, patient_id, modality, pclass, r2, r3, r4, r6, r7, r8, rf,
            CASE WHEN pclass = 'emergency' THEN CASE WHEN rp < 0.6 THEN 'S' ELSE 'A' END
                 WHEN pclass = 'inpatient' THEN CASE WHEN rp < 0.15 THEN 'S'
                                                     WHEN rp < 0.4 THEN 'A' ELSE 'R' END
                 ELSE CASE WHEN rp < 0.02 THEN 'A' ELSE 'R' END END AS priority,
            CASE modality WHEN 'CR' THEN 3 + r5 * 7 WHEN 'CT' THEN 8 + r5 * 17
                          WHEN 'MR' THEN 25 + r5 * 35 WHEN 'US' THEN 10 + r5 * 25
                          WHEN 'MG' THEN 10 + r5 * 10 ELSE 20 + r5 * 40 END AS duration,
            CASE WHEN pclass = 'outpatient' THEN o + (0.5 + r1 * 13.5) * interval '1 day'
                 WHEN pclass = 'inpatient' THEN o + (30 + r1 * 240) * interval '1 minute'
                 WHEN r1 < 0.6 THEN NULL
                 ELSE o + (10 + r1 * 30) * interval '1 minute' END AS sched_start,
            CASE WHEN rx < 0.03 THEN 'cancelled'
                 WHEN rx < 0.035 THEN 'discontinued'
                 WHEN rx < 0.0355 THEN 'no_report'
                 WHEN rx < 0.0455 THEN 'no_completion'
                 WHEN rx < 0.0655 AND pclass = 'outpatient' THEN 'no_show'
                 ELSE 'done' END AS fate
          FROM (
            SELECT g, o, rp, r1, r2, r3, r4, r5, r6, r7, r8, rf, rx,
              1 + floor(rpat * $3::int)::int AS patient_id,
              CASE WHEN rc < 0.25 THEN 'emergency' WHEN rc < 0.5 THEN 'inpatient'
                   ELSE 'outpatient' END AS pclass,
              CASE WHEN rm < 0.30 THEN 'CT' WHEN rm < 0.60 THEN 'CR' WHEN rm < 0.75 THEN 'MR'
                   WHEN rm < 0.90 THEN 'US' WHEN rm < 0.97 THEN 'MG' ELSE 'NM' END AS modality
            FROM (
              SELECT g, $1::timestamptz - random() * interval '90 days' AS o,
                random() AS rc, random() AS rp, random() AS rm, random() AS rpat,
                random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
                random() AS r6, random() AS r7, random() AS r8, random() AS rf, random() AS rx
              FROM generate_series(1, $2::int) AS g OFFSET 0
            ) a OFFSET 0
          ) b OFFSET 0
        ) c OFFSET 0
      ) d OFFSET 0
    ) e OFFSET 0
  ) f OFFSET 0
) h
"""

_STUDIES = """
INSERT INTO studies (study_instance_uid, order_id, accession, patient_identifier,
    patient_authority, study_started_at, description, device_id, first_instance_at,
    last_instance_at, instance_count, created_at, updated_at)
SELECT o.study_instance_uid, o.id, o.accession, p.identifier, p.authority, o.exam_started_at,
    o.procedure_text, d.id, o.images_available_at,
    o.images_available_at + interval '3 minutes', 50 + o.id % 400, o.images_available_at,
    o.images_available_at + interval '3 minutes'
FROM orders o
JOIN patients p ON p.id = o.patient_id
JOIN devices d ON d.ae_title = o.modality || (1 + o.id % 2)
WHERE o.study_instance_uid <> ''
ORDER BY o.id
"""

_SERIES = """
INSERT INTO series (series_instance_uid, study_id, modality, body_part, instance_count)
SELECT s.study_instance_uid || '.' || k, s.id, o.modality,
    (ARRAY['HEAD','CHEST','ABDOMEN','PELVIS','SPINE','EXTREMITY'])[1 + s.id % 6],
    s.instance_count / (1 + s.id % 2)
FROM studies s JOIN orders o ON o.id = s.order_id
CROSS JOIN LATERAL generate_series(1, 1 + s.id % 2) AS k
ORDER BY s.id, k
"""

_STEPS = """
INSERT INTO procedure_steps (sop_instance_uid, order_id, accession, requested_procedure_id,
    study_instance_uid, status, device_id, station_ae_title, modality, started_at, ended_at, dose,
    created_at, updated_at)
SELECT '1.2.826.0.1.3680043.10.544.' || o.id, o.id, o.accession, o.requested_procedure_id,
    o.study_instance_uid,
    CASE WHEN o.discontinued_at IS NOT NULL THEN 'DISCONTINUED'
         WHEN o.exam_completed_at IS NOT NULL THEN 'COMPLETED' ELSE 'IN PROGRESS' END,
    d.id, d.ae_title, o.modality, o.exam_started_at,
    coalesce(o.exam_completed_at, o.discontinued_at), '{}', o.exam_started_at,
    coalesce(o.exam_completed_at, o.discontinued_at, o.exam_started_at)
FROM orders o
JOIN devices d ON d.ae_title = o.modality || (1 + o.id % 2)
WHERE o.id % 3 = 0 AND o.exam_started_at IS NOT NULL
ORDER BY o.id
"""

# Secondary indexes (not those behind a primary key or unique constraint), rebuilt after a fill.
_SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid
WHERE i.indrelid = $1::regclass AND c.oid IS NULL
"""


def asyncpg_dsn(url: str) -> str:
    """The URL as asyncpg takes it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(admin_url: str, name: str, driver: str = "postgresql+asyncpg") -> str:
    """The admin URL pointed at another database."""
    return make_url(admin_url).set(drivername=driver, database=name).render_as_string(False)


async def create(quick: bool, *, admin_url: str = POSTGRES_ADMIN_URL) -> Dataset:
    """Create, migrate, fill and analyze a fresh database; the caller drops it (`drop`)."""
    n_orders = QUICK_ORDERS if quick else FULL_ORDERS
    n_patients = n_orders // ORDERS_PER_PATIENT
    name = f"imaging_gw_bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url(admin_url, name)
    dsn = asyncpg_dsn(url)
    started = time.perf_counter()
    try:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        now = datetime.now(UTC)
        conn = await asyncpg.connect(dsn)
        try:
            indexes = await _fill(conn, now, n_orders, n_patients)
            await _reindex(dsn, indexes)
            # The rows were written behind the fold: their read models made as a rebuild does.
            rebuild_started = time.perf_counter()
            engine = create_engine(url)
            try:
                async with engine.begin() as sa_conn:
                    await sa_conn.run_sync(rebuild_read_models, ZoneInfo("UTC"))
            finally:
                await engine.dispose()
            rebuild_seconds = time.perf_counter() - rebuild_started
            await conn.execute("VACUUM (ANALYZE)")
            studies = await conn.fetchval("SELECT count(*) FROM studies")
            await conn.execute("SELECT setseed(0.7)")
            accessions = await conn.fetch(
                "SELECT accession FROM orders ORDER BY random() LIMIT $1", SAMPLE
            )
            study_patients = await conn.fetch(
                "SELECT patient_id FROM (SELECT DISTINCT o.patient_id FROM studies s "
                "JOIN orders o ON o.id = s.order_id) AS p ORDER BY random() LIMIT $1",
                SAMPLE,
            )
        finally:
            await conn.close()
    except BaseException:
        await drop_database(name, admin_url=admin_url)
        raise
    return Dataset(
        name=name,
        url=url,
        dsn=dsn,
        now=now,
        orders=n_orders,
        patients=n_patients,
        studies=int(studies),
        seconds=time.perf_counter() - started,
        rebuild_seconds=rebuild_seconds,
        accessions=tuple(r["accession"] for r in accessions),
        study_patients=tuple(r["patient_id"] for r in study_patients),
    )


async def _fill(
    conn: asyncpg.Connection, now: datetime, n_orders: int, n_patients: int
) -> list[str]:
    """Fill the tables; returns the definitions of the indexes dropped for the fill."""
    await conn.execute("SET synchronous_commit = off")
    await conn.execute("SET work_mem = '64MB'")
    # Foreign keys are enforced by triggers; the rows are consistent by construction.
    await conn.execute("SET session_replication_role = replica")
    await conn.execute("SELECT setseed(0.42)")
    indexes = []
    for table in ("orders", "studies", "series", "procedure_steps"):
        for row in await conn.fetch(_SECONDARY_INDEXES, table):
            await conn.execute(f"DROP INDEX {row['name']}")
            indexes.append(row["definition"])
    await conn.execute(_PATIENTS, now, n_patients)
    await conn.execute(_DEVICES, now, list(MODALITIES))
    await conn.execute(_ORDERS, now, n_orders, n_patients)
    await conn.execute(_STUDIES)
    await conn.execute(_SERIES)
    await conn.execute(_STEPS)
    for table in ("patients", "orders"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    await conn.execute("RESET session_replication_role")
    return indexes


async def _reindex(dsn: str, indexes: list[str]) -> None:
    """Rebuild the dropped indexes, two at a time (one per core)."""
    pending = list(indexes)

    async def worker() -> None:
        worker_conn = await asyncpg.connect(dsn)
        try:
            await worker_conn.execute("SET maintenance_work_mem = '256MB'")
            await worker_conn.execute("SET max_parallel_maintenance_workers = 0")
            while pending:
                await worker_conn.execute(pending.pop())
        finally:
            await worker_conn.close()

    await asyncio.gather(worker(), worker())


async def drop_database(name: str, *, admin_url: str = POSTGRES_ADMIN_URL) -> None:
    """Drop a benchmark database, closing whatever is still connected to it."""
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextmanager
def generated(quick: bool) -> Iterator[Dataset]:
    """A filled database for the length of a `with` block, dropped at its end."""
    dataset = asyncio.run(create(quick))
    try:
        yield dataset
    finally:
        asyncio.run(drop_database(dataset.name))


if __name__ == "__main__":
    import os

    quick_run = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    with generated(quick_run) as made:
        print(
            f"{made.name}: {made.orders:,} orders, {made.patients:,} patients, "
            f"{made.studies:,} studies in {made.seconds:.1f} s"
        )
