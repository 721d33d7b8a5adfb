"""Dose against diagnostic reference levels: per exam, then p50 and p75 per protocol or device.

An exam's dose is its CT dose reports' (store.schema.imaging: the study's largest CTDIvol and
its total DLP, summed over reports of the same study), or else its MPPS steps' (CTDIvol
(0018,9345) and any DLP kept in `procedure_steps.dose`). A dose report reaches its order
through its study, which the store links when the order arrives (or by its accession), so a
report that came first counts for its order once the order is placed.

The protocol of an exam is `modality/procedure code` of its order, the key the reference
levels are set by (`[dose.drl."CT/70450"]`); an exam with no order goes by its study
description. Percentiles as every figure's (store/reading/ranks.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Float,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from store.reading.ranks import percentiles_by_group
from store.reading.sql import at
from store.schema import TOTAL, dose_events, orders, procedure_steps, studies

GroupBy = Literal["protocol", "device"]
PERCENTS = (50, 75)
UNKNOWN = "(unknown)"


@dataclass(frozen=True, slots=True)
class ReferenceLevel:
    """A diagnostic reference level: CTDIvol (mGy) and DLP (mGy.cm); either may be unset."""

    ctdivol: float | None = None
    dlp: float | None = None


@dataclass(frozen=True, slots=True)
class Spread:
    """p50 and p75 of one dose quantity over the exams that report it."""

    count: int
    p50: float | None
    p75: float | None


@dataclass(frozen=True, slots=True)
class DoseGroup:
    """One protocol's or device's dose, beside its reference level when one is set."""

    group: str
    exams: int
    ctdivol: Spread
    dlp: Spread
    reference: ReferenceLevel | None
    # The median against the level, as dose audits compare (1.2 is 20 % above it).
    ctdivol_p50_to_reference: float | None
    dlp_p50_to_reference: float | None


@dataclass(frozen=True, slots=True)
class ExamDose:
    """An exam whose dose is above its protocol's reference level."""

    accession: str
    study_instance_uid: str
    protocol: str
    device: str
    source: str  # dose_report / mpps
    performed_at: datetime
    ctdivol: float | None
    dlp: float | None
    reference: ReferenceLevel


@dataclass(frozen=True, slots=True)
class DoseSummary:
    """The groups, and the exams above their reference level (highest DLP ratio first)."""

    group_by: GroupBy
    groups: tuple[DoseGroup, ...]
    above_reference: tuple[ExamDose, ...]


async def read_dose(
    conn: AsyncConnection,
    *,
    group_by: GroupBy,
    since: datetime | None,
    until: datetime | None,
    references: Mapping[str, ReferenceLevel],
) -> DoseSummary:
    """Dose per protocol or device in [since, until) (by the exam's time: a dose report's
    arrival, an MPPS step's end or start), and the exams above their level."""
    exams = _exams(conn.dialect.name, since, until).cte("exams")
    key = exams.c.protocol if group_by == "protocol" else exams.c.device
    keyed = select(key.label("grp"), exams.c.ctdivol, exams.c.dlp).subquery("keyed")
    counts = {
        row.grp: int(row.n)
        for row in await conn.execute(
            select(keyed.c.grp, func.count().label("n")).group_by(keyed.c.grp)
        )
    }
    spreads: dict[str, dict[str, Spread]] = {}
    for quantity in ("ctdivol", "dlp"):
        ranked = percentiles_by_group(keyed, ("grp",), quantity, PERCENTS)
        for row in (await conn.execute(select(ranked))).mappings():
            spreads.setdefault(row["grp"], {})[quantity] = Spread(
                int(row["n"]), float(row["p50"]), float(row["p75"])
            )
    groups = []
    for name in sorted(counts):
        found = spreads.get(name, {})
        ctdivol = found.get("ctdivol", Spread(0, None, None))
        dlp = found.get("dlp", Spread(0, None, None))
        level = references.get(name) if group_by == "protocol" else None
        groups.append(
            DoseGroup(
                group=name,
                exams=counts[name],
                ctdivol=ctdivol,
                dlp=dlp,
                reference=level,
                ctdivol_p50_to_reference=_ratio(ctdivol.p50, level and level.ctdivol),
                dlp_p50_to_reference=_ratio(dlp.p50, level and level.dlp),
            )
        )
    above = await _above(conn, exams, references)
    return DoseSummary(group_by, tuple(groups), above)


def _ratio(value: float | None, level: float | None) -> float | None:
    return value / level if value is not None and level else None


async def _above(
    conn: AsyncConnection, exams: Any, references: Mapping[str, ReferenceLevel]
) -> tuple[ExamDose, ...]:
    levels = {k: v for k, v in references.items() if v.ctdivol is not None or v.dlp is not None}
    if not levels:
        return ()
    conditions = []
    for name, level in levels.items():
        over = []
        if level.ctdivol is not None:
            over.append(exams.c.ctdivol > literal(level.ctdivol, Float))
        if level.dlp is not None:
            over.append(exams.c.dlp > literal(level.dlp, Float))
        conditions.append(and_(exams.c.protocol == name, or_(*over)))
    statement = select(exams).where(or_(*conditions))
    found = []
    for row in (await conn.execute(statement)).mappings():
        level = levels[row["protocol"]]
        found.append(
            ExamDose(
                accession=row["accession"],
                study_instance_uid=row["study_uid"],
                protocol=row["protocol"],
                device=row["device"],
                source=row["source"],
                performed_at=row["at"],
                ctdivol=row["ctdivol"],
                dlp=row["dlp"],
                reference=level,
            )
        )
    return tuple(sorted(found, key=lambda e: (-_worst(e), e.accession, e.study_instance_uid)))


def _worst(exam: ExamDose) -> float:
    ratios = [
        _ratio(exam.ctdivol, exam.reference.ctdivol) or 0.0,
        _ratio(exam.dlp, exam.reference.dlp) or 0.0,
    ]
    return max(ratios)


def _exams(dialect: str, since: datetime | None, until: datetime | None) -> Any:
    """One row per exam: source, accession, study, protocol, device, time, CTDIvol, DLP."""
    return union_all(_reported(since, until), _performed(dialect, since, until))


def _protocol(order: Any, fallback: Any) -> Any:
    """`modality/procedure code` of the order; else the fallback (a study description)."""
    coded = order.c.modality + literal("/") + order.c.procedure_code
    named = func.coalesce(func.nullif(fallback, ""), literal(UNKNOWN))
    return case((and_(order.c.id.is_not(None), order.c.procedure_code != ""), coded), else_=named)


def _reported(since: datetime | None, until: datetime | None) -> Any:
    """Exams with CT dose reports: per study, the largest CTDIvol and the summed DLP."""
    d = dose_events.c
    window = [d.event_uid == TOTAL]
    if since is not None:
        window.append(d.received_at >= at(since))
    if until is not None:
        window.append(d.received_at < at(until))
    per_study = (
        select(
            d.study_instance_uid.label("uid"),
            func.max(d.accession).label("accession"),
            func.min(d.device).label("device"),
            func.max(d.study_description).label("description"),
            func.min(d.received_at).label("at"),
            func.max(d.ctdivol).label("ctdivol"),
            func.sum(d.dlp).label("dlp"),
        )
        .where(*window)
        .group_by(d.study_instance_uid)
        .subquery("reported")
    )
    by_study = orders.alias("by_study")
    by_accession = orders.alias("by_accession")
    study = studies.alias("dose_study")
    order_id = func.coalesce(by_study.c.id, by_accession.c.id)
    linked = (
        select(
            per_study,
            order_id.label("order_id"),
            func.coalesce(by_study.c.modality, by_accession.c.modality).label("modality"),
            func.coalesce(by_study.c.procedure_code, by_accession.c.procedure_code).label(
                "procedure_code"
            ),
            func.coalesce(by_study.c.accession, by_accession.c.accession).label("order_accession"),
        )
        .select_from(per_study)
        .outerjoin(study, study.c.study_instance_uid == per_study.c.uid)
        .outerjoin(by_study, by_study.c.id == study.c.order_id)
        .outerjoin(
            by_accession,
            and_(per_study.c.accession != "", by_accession.c.accession == per_study.c.accession),
        )
        .subquery("linked")
    )
    coded = linked.c.modality + literal("/") + linked.c.procedure_code
    protocol = case(
        (and_(linked.c.order_id.is_not(None), linked.c.procedure_code != ""), coded),
        else_=func.coalesce(func.nullif(linked.c.description, ""), literal(UNKNOWN)),
    )
    return select(
        literal("dose_report", String).label("source"),
        func.coalesce(linked.c.order_accession, linked.c.accession).label("accession"),
        linked.c.uid.label("study_uid"),
        linked.c.order_id.label("order_id"),
        protocol.label("protocol"),
        func.coalesce(func.nullif(linked.c.device, ""), literal(UNKNOWN)).label("device"),
        linked.c.at.label("at"),
        cast(linked.c.ctdivol, Float).label("ctdivol"),
        cast(linked.c.dlp, Float).label("dlp"),
    )


def _dose_value(dialect: str, name: str) -> Any:
    """A number kept in a step's dose JSON, or NULL."""
    s = procedure_steps.c
    if dialect == "postgresql":
        return cast(cast(s.dose, JSONB()).op("->>")(literal(name)), Float)
    return cast(func.json_extract(s.dose, f"$.{name}"), Float)


def _performed(dialect: str, since: datetime | None, until: datetime | None) -> Any:
    """Exams whose dose only MPPS reported: one per step, unless a dose report covers its
    order or study."""
    s = procedure_steps.c
    order = orders.alias("step_order")
    when = func.coalesce(s.ended_at, s.started_at, s.created_at)
    ctdivol, dlp = _dose_value(dialect, "ctdi_vol"), _dose_value(dialect, "dlp")
    window = [or_(ctdivol.is_not(None), dlp.is_not(None))]
    if since is not None:
        window.append(when >= at(since))
    if until is not None:
        window.append(when < at(until))
    reported = select(dose_events.c.id).where(
        dose_events.c.event_uid == TOTAL,
        or_(
            and_(
                s.study_instance_uid != "", dose_events.c.study_instance_uid == s.study_instance_uid
            ),
            and_(
                order.c.id.is_not(None),
                dose_events.c.study_instance_uid == order.c.study_instance_uid,
            ),
            and_(order.c.id.is_not(None), dose_events.c.accession == order.c.accession),
        ),
    )
    return (
        select(
            literal("mpps", String).label("source"),
            func.coalesce(order.c.accession, s.accession).label("accession"),
            s.study_instance_uid.label("study_uid"),
            order.c.id.label("order_id"),
            _protocol(order, literal("")).label("protocol"),
            func.coalesce(func.nullif(s.station_ae_title, ""), literal(UNKNOWN)).label("device"),
            when.label("at"),
            ctdivol.label("ctdivol"),
            dlp.label("dlp"),
        )
        .select_from(procedure_steps)
        .outerjoin(order, order.c.id == s.order_id)
        .where(*window, ~reported.exists())
    )
