"""Does the PACS hold the studies our orders should have? A STUDY-level C-FIND, compared with
the orders of a window (IHE calls this reconciliation; the manager calls it PACS integrity).

The query is blocking pynetdicom work: the caller runs it on a worker thread. A PACS that does
not answer is not a crash but a finding of its own (`PacsUnreachable`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from mappers.dicom.values import text

PENDING = (0xFF00, 0xFF01)


class PacsUnreachable(Exception):
    """The PACS refused the association, did not answer, or answered a failure."""


@dataclass(frozen=True, slots=True)
class PacsStudy:
    """A study as the PACS describes it at STUDY level (PS3.4 C.6.2.1)."""

    study_instance_uid: str
    accession: str
    patient_id: str
    study_date: str
    modalities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExpectedStudy:
    """An order that should have images in the PACS by now."""

    accession: str
    study_instance_uid: str
    patient_id: str


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What the PACS lacks, and what it holds that no order explains."""

    missing: tuple[ExpectedStudy, ...]  # orders whose study the PACS does not hold
    unordered: tuple[PacsStudy, ...]  # studies the PACS holds for no order


def reconcile(expected: Iterable[ExpectedStudy], held: Iterable[PacsStudy]) -> Reconciliation:
    """Match orders to the PACS's studies by Study Instance UID, else by Accession Number."""
    held = list(held)
    by_uid = {study.study_instance_uid: study for study in held}
    by_accession = {study.accession: study for study in held if study.accession}
    matched: set[str] = set()
    missing = []
    for order in expected:
        study = by_uid.get(order.study_instance_uid) or by_accession.get(order.accession)
        if study is None:
            missing.append(order)
        else:
            matched.add(study.study_instance_uid)
    unordered = tuple(s for s in held if s.study_instance_uid not in matched)
    return Reconciliation(tuple(missing), unordered)


def study_query(first: date, last: date) -> Dataset:
    """A STUDY-level identifier for studies dated `first` to `last` (a date range, C.2.2.2.5)."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyDate = f"{first:%Y%m%d}-{last:%Y%m%d}"
    for keyword in ("StudyInstanceUID", "AccessionNumber", "PatientID", "ModalitiesInStudy"):
        setattr(identifier, keyword, "")
    return identifier


@dataclass(frozen=True, slots=True)
class PacsPeer:
    """The PACS to ask: where it listens, and its AE title."""

    host: str
    port: int
    ae_title: str


def find_studies(
    pacs: PacsPeer, calling_ae: str, first: date, last: date, *, timeout: float = 30.0
) -> list[PacsStudy]:
    """The PACS's studies dated `first` to `last` (blocking).

    Raises:
        PacsUnreachable: no association, no answer within `timeout`, or a failure status.
    """
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = timeout
    where = f"{pacs.ae_title} at {pacs.host}:{pacs.port}"
    try:
        assoc = ae.associate(pacs.host, pacs.port, ae_title=pacs.ae_title)
    except OSError as exc:
        raise PacsUnreachable(f"{where}: connection failed: {exc}") from exc
    if not assoc.is_established:
        raise PacsUnreachable(f"{where}: no association (refused or no answer)")
    studies = []
    try:
        answers = assoc.send_c_find(
            study_query(first, last), StudyRootQueryRetrieveInformationModelFind
        )
        for status, identifier in answers:
            code = int(status.Status) if status and "Status" in status else None
            if code is None:
                raise PacsUnreachable(f"{where}: no answer to the C-FIND in time")
            if code in PENDING and identifier is not None:
                studies.append(_study(identifier))
            elif code not in (*PENDING, 0x0000):
                raise PacsUnreachable(f"{where}: C-FIND failed with 0x{code:04X}")
    finally:
        assoc.release()
    return studies


def _study(identifier: Dataset) -> PacsStudy:
    modalities = identifier.get("ModalitiesInStudy") or []
    if isinstance(modalities, str):
        modalities = [modalities]
    return PacsStudy(
        study_instance_uid=text(identifier, "StudyInstanceUID"),
        accession=text(identifier, "AccessionNumber"),
        patient_id=text(identifier, "PatientID"),
        study_date=text(identifier, "StudyDate"),
        modalities=tuple(str(m) for m in modalities if str(m).strip()),
    )
