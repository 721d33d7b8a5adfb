"""A simulated scanner: it answers C-ECHO on a port of its own (the prober's target), and
tells the gateway what it does as a modality does: MPPS N-CREATE and N-SET, then C-STORE.

Blocking pynetdicom calls: the player runs them on a worker thread.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, StoragePresentationContexts
from pynetdicom.association import Association
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification
from pynetdicom.transport import ThreadedAssociationServer

from gateway.simulation.department import Exam, Scanner
from mappers.hl7v2.rules import UUID_UID_ROOT, study_uid_for

_STORAGE_CLASS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "NM": "1.2.840.10008.5.1.4.1.1.20",
}


class Modality:
    """One scanner of the simulated department."""

    def __init__(self, scanner: Scanner, host: str, port: int, called_ae: str) -> None:
        self.scanner = scanner
        self._gateway = (host, port, called_ae)
        self._echo_server: ThreadedAssociationServer | None = None
        self.echo_port = 0  # kept, so that the scanner comes back where it was

    def answer_echo(self) -> int:
        """Start answering C-ECHO (again); the port it answers on."""
        ae = AE(ae_title=self.scanner.ae_title)
        ae.add_supported_context(Verification)
        server = ae.start_server(("127.0.0.1", self.echo_port), block=False)
        self._echo_server = server
        self.echo_port = server.server_address[1]
        return self.echo_port

    def stop_answering(self) -> None:
        """Stop answering C-ECHO, as a scanner that is switched off or off the network."""
        if self._echo_server is not None:
            self._echo_server.shutdown()
            self._echo_server.server_close()
            self._echo_server = None

    def start_exam(self, exam: Exam, at: datetime) -> int:
        """MPPS N-CREATE, IN PROGRESS: the DIMSE status."""
        assoc = self._associate(ModalityPerformedProcedureStep)
        try:
            status, _ = assoc.send_n_create(
                performed_step(exam, at), ModalityPerformedProcedureStep, _step_uid(exam)
            )
            return int(status.Status) if status else -1
        finally:
            assoc.release()

    def complete_exam(self, exam: Exam, at: datetime) -> int:
        """MPPS N-SET, COMPLETED: the DIMSE status."""
        assoc = self._associate(ModalityPerformedProcedureStep)
        try:
            status, _ = assoc.send_n_set(
                completed_step(exam, at), ModalityPerformedProcedureStep, _step_uid(exam)
            )
            return int(status.Status) if status else -1
        finally:
            assoc.release()

    def store_images(self, exam: Exam, at: datetime, count: int = 3) -> list[int]:
        """C-STORE `count` images of the exam's series on one association: their statuses."""
        assoc = self._associate()
        try:
            return [
                int(getattr(assoc.send_c_store(image(exam, at, n)), "Status", -1))
                for n in range(1, count + 1)
            ]
        finally:
            assoc.release()

    def _associate(self, context: str | None = None) -> Association:
        host, port, called = self._gateway
        ae = AE(ae_title=self.scanner.ae_title)
        if context is None:
            ae.requested_contexts = StoragePresentationContexts[:120]
        else:
            ae.add_requested_context(context)
        assoc = ae.associate(host, port, ae_title=called)
        if not assoc.is_established:
            raise ConnectionError(f"{self.scanner.ae_title}: the gateway refused the association")
        return assoc


def performed_step(exam: Exam, at: datetime) -> Dataset:
    """The MPPS N-CREATE attribute list (PS3.4 Table F.7.2-1) for the exam, IN PROGRESS."""
    item = Dataset()
    item.StudyInstanceUID = study_uid(exam)
    item.ReferencedStudySequence = []
    item.AccessionNumber = exam.accession
    item.RequestedProcedureID = f"RP{exam.accession}"
    item.RequestedProcedureDescription = exam.text
    item.ScheduledProcedureStepID = f"SPS{exam.accession}"
    item.ScheduledProcedureStepDescription = exam.text
    item.ScheduledProtocolCodeSequence = []
    ds = Dataset()
    ds.ScheduledStepAttributesSequence = [item]
    ds.PatientName = f"{exam.family}^{exam.given}"
    ds.PatientID = exam.patient_id
    ds.PatientBirthDate = exam.birth_date
    ds.PatientSex = exam.sex
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = f"PPS{exam.accession}"
    ds.PerformedStationAETitle = exam.scanner.ae_title
    ds.PerformedStationName = exam.scanner.name[:16]
    ds.PerformedLocation = exam.scanner.location
    ds.PerformedProcedureStepStartDate, ds.PerformedProcedureStepStartTime = _da_tm(at)
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = exam.text
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.Modality = exam.scanner.modality
    ds.StudyID = "1"
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    ds.TimezoneOffsetFromUTC = "+0000"
    return ds


def completed_step(exam: Exam, at: datetime) -> Dataset:
    """The MPPS N-SET modification list that completes the exam."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate, ds.PerformedProcedureStepEndTime = _da_tm(at)
    series = Dataset()
    series.SeriesInstanceUID = _uid(exam, "series")
    series.RetrieveAETitle = ""
    series.SeriesDescription = exam.text[:64]
    series.PerformingPhysicianName = ""
    series.OperatorsName = ""
    series.ReferencedImageSequence = []
    series.ReferencedNonImageCompositeSOPInstanceSequence = []
    ds.PerformedSeriesSequence = [series]
    return ds


def image(exam: Exam, at: datetime, number: int) -> Dataset:
    """One small image of the exam's series, as the scanner writes it."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = _STORAGE_CLASS[exam.scanner.modality]
    ds.SOPInstanceUID = _uid(exam, f"image-{number}")
    ds.StudyInstanceUID = study_uid(exam)
    ds.SeriesInstanceUID = _uid(exam, "series")
    ds.AccessionNumber = exam.accession
    ds.PatientName = f"{exam.family}^{exam.given}"
    ds.PatientID = exam.patient_id
    ds.PatientBirthDate = exam.birth_date
    ds.PatientSex = exam.sex
    ds.Modality = exam.scanner.modality
    ds.StudyDescription = exam.text[:64]
    ds.StationName = exam.scanner.name[:16]
    ds.Manufacturer = "SIMULATED"
    ds.ManufacturerModelName = f"{exam.scanner.modality} SIM"
    ds.StudyDate, ds.StudyTime = _da_tm(at)
    ds.ContentDate, ds.ContentTime = _da_tm(at + timedelta(seconds=number))
    ds.TimezoneOffsetFromUTC = "+0000"
    ds.InstanceNumber = number
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = bytes(range(64))
    return ds


def study_uid(exam: Exam) -> str:
    """The Study Instance UID the gateway gives the order (derived from the accession)."""
    return study_uid_for(exam.accession, UUID_UID_ROOT)


def _step_uid(exam: Exam) -> str:
    return _uid(exam, "mpps")


def _uid(exam: Exam, part: str) -> str:
    """The same UID for the same exam and part on every run (2.25 UUID form, PS3.5 B.2)."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'simulation/{exam.accession}/{part}').int}"


def _da_tm(at: datetime) -> tuple[str, str]:
    return at.strftime("%Y%m%d"), at.strftime("%H%M%S")


__all__ = ["Modality", "completed_step", "image", "performed_step", "study_uid"]
