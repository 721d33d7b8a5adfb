"""Integrity findings about studies: images that match no order (with the orders they may
belong to), and an order's patient that its study's header contradicts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.integrity import (
    ACCESSION_REUSED,
    PATIENT_MISMATCH,
    UNORDERED_STUDY,
    Candidate,
    Finding,
    PatientFacts,
    Thresholds,
    dicom_name,
    order_link,
    patient_finding,
    study_link,
    suggest_orders,
)
from store.reading.sql import at
from store.schema import devices, orders, patients, series, studies

MOST = 2000  # candidates per check, as in store.reading.integrity


async def unordered_studies(
    conn: AsyncConnection, now: datetime, thresholds: Thresholds, since: datetime | None
) -> list[Finding]:
    """Studies with no order longer than the threshold after their first image, each with
    the orders that may be theirs."""
    s = studies.c
    statement = (
        select(
            s.id,
            s.study_instance_uid,
            s.accession,
            s.patient_identifier,
            s.patient_authority,
            s.study_started_at,
            s.first_instance_at,
            s.instance_count,
            func.coalesce(devices.c.ae_title, "").label("device"),
        )
        .select_from(studies.outerjoin(devices, s.device_id == devices.c.id))
        .where(
            s.order_id.is_(None),
            s.first_instance_at < at(now - thresholds.unordered_study_after),
        )
        .order_by(s.id.desc())
        .limit(MOST)
    )
    if since is not None:
        statement = statement.where(s.first_instance_at >= at(since))
    rows = (await conn.execute(statement)).mappings().all()
    modalities = await _modalities(conn, [row["id"] for row in rows])
    candidates = await _candidates(conn, {row["patient_identifier"] for row in rows})
    found = []
    for row in rows:
        kinds = modalities.get(row["id"], [])
        performed = row["study_started_at"] or row["first_instance_at"]
        found.append(
            Finding(
                UNORDERED_STUDY,
                row["first_instance_at"],
                accession=row["accession"],
                study_instance_uid=row["study_instance_uid"],
                modality=kinds[0] if kinds else "",
                link=study_link(row["id"]),
                evidence={
                    "patient_id": row["patient_identifier"],
                    "patient_authority": row["patient_authority"],
                    "device": row["device"],
                    "study_started_at": row["study_started_at"],
                    "instances": row["instance_count"],
                    "modalities": kinds,
                    "suggested_orders": suggest_orders(
                        row["patient_identifier"], kinds, performed, candidates
                    ),
                },
            )
        )
    return found


async def _modalities(conn: AsyncConnection, study_ids: list[int]) -> dict[int, list[str]]:
    if not study_ids:
        return {}
    statement = (
        select(series.c.study_id, series.c.modality)
        .where(series.c.study_id.in_(study_ids), series.c.modality != "")
        .distinct()
        .order_by(series.c.study_id, series.c.modality)
    )
    found: dict[int, list[str]] = {}
    for study_id, modality in await conn.execute(statement):
        found.setdefault(study_id, []).append(modality)
    return found


async def _candidates(conn: AsyncConnection, identifiers: Iterable[str]) -> list[Candidate]:
    """Open orders of these patients that have no study yet."""
    wanted = sorted(i for i in identifiers if i)
    if not wanted:
        return []
    o = orders.c
    statement = (
        select(
            o.accession,
            patients.c.identifier,
            o.modality,
            func.coalesce(o.scheduled_start, o.ordered_at).label("at"),
        )
        .select_from(orders.join(patients, o.patient_id == patients.c.id))
        .where(
            patients.c.identifier.in_(wanted),
            o.cancelled_at.is_(None),
            o.images_available_at.is_(None),
        )
        .limit(MOST)
    )
    return [Candidate(*row) for row in await conn.execute(statement)]


async def patient_findings(conn: AsyncConnection, since: datetime | None) -> list[Finding]:
    """Orders whose study's header names another patient: by the study's own accession (one
    accession used for two patients), or by the study linked to the order (a mismatch)."""
    found = []
    reused = _order_and_study(studies.c.accession == orders.c.accession, since)
    for row in (await conn.execute(reused)).mappings():
        found += _patient_finding(row, keep=ACCESSION_REUSED)
    linked = _order_and_study(studies.c.order_id == orders.c.id, since)
    for row in (await conn.execute(linked)).mappings():
        found += _patient_finding(row, keep=PATIENT_MISMATCH)
    return found


def _order_and_study(joined: Any, since: datetime | None) -> Select[Any]:
    s, p = studies.c, patients.c
    statement = (
        select(
            orders.c.accession.label("order_accession"),
            orders.c.modality,
            s.id.label("study_id"),
            s.study_instance_uid,
            s.accession.label("study_accession"),
            s.patient_identifier,
            s.patient_authority,
            s.patient_name,
            s.patient_birth_date,
            s.patient_sex,
            s.first_instance_at,
            p.identifier,
            p.authority,
            p.family_name,
            p.given_name,
            p.birth_date,
            p.sex,
        )
        .select_from(
            studies.join(orders, joined).join(patients, orders.c.patient_id == patients.c.id)
        )
        .where(_may_disagree())
        .order_by(s.id.desc())
        .limit(MOST)
    )
    if since is not None:
        statement = statement.where(s.first_instance_at >= at(since))
    return statement


def _may_disagree() -> ColumnElement[bool]:
    """The rows where some field may differ: every disagreement `mappers.integrity` finds is
    among them (a few more, such as names that differ in spacing only, are dropped there)."""
    s, p = studies.c, patients.c

    def both(ours: Any, theirs: Any, empty: Any = "") -> ColumnElement[bool]:
        if empty is None:
            return and_(ours.is_not(None), theirs.is_not(None), ours != theirs)
        return and_(ours != empty, theirs != empty, ours != theirs)

    full_name = func.upper(p.family_name + "^" + p.given_name)
    unknown_sex = ("", "U", "u")
    return or_(
        both(s.patient_identifier, p.identifier),
        both(s.patient_authority, p.authority),
        and_(s.patient_name != "", p.family_name != "", func.upper(s.patient_name) != full_name),
        both(s.patient_birth_date, p.birth_date, None),
        and_(
            s.patient_sex.not_in(unknown_sex),
            p.sex.not_in(unknown_sex),
            func.upper(s.patient_sex) != func.upper(p.sex),
        ),
    )


def _patient_finding(row: Any, *, keep: str) -> list[Finding]:
    family, given = dicom_name(row["patient_name"])
    ordered = PatientFacts(
        row["identifier"],
        row["authority"],
        row["family_name"],
        row["given_name"],
        row["birth_date"],
        row["sex"],
    )
    imaged = PatientFacts(
        row["patient_identifier"],
        row["patient_authority"],
        family,
        given,
        row["patient_birth_date"],
        row["patient_sex"],
    )
    same_accession = row["study_accession"] == row["order_accession"]
    decided = patient_finding(ordered, imaged, same_accession=same_accession)
    if decided is None or decided[0] != keep:
        return []
    kind, fields = decided
    return [
        Finding(
            kind,
            row["first_instance_at"],
            accession=row["order_accession"],
            study_instance_uid=row["study_instance_uid"],
            modality=row["modality"],
            link=order_link(row["order_accession"]),
            evidence={"disagreements": fields, "study": study_link(row["study_id"])},
        )
    ]
