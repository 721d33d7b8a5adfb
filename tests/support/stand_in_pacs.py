"""A stand-in PACS: a pynetdicom C-FIND SCP bound to port 0 (the kernel picks the port as it
binds; the test reads it back) that answers STUDY-level queries from a list."""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from outbound.pacs import PacsPeer, PacsStudy


class StandInPacs:
    """A PACS that answers STUDY-level C-FIND from a list, and remembers the queries."""

    def __init__(self, studies: list[PacsStudy], status: int = 0x0000) -> None:
        self.studies = studies
        self.status = status
        self.queries: list[Dataset] = []
        ae = AE(ae_title="PACS")
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self.server = ae.start_server(
            ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_FIND, self._find)]
        )
        self.peer = PacsPeer("127.0.0.1", self.server.server_address[1], "PACS")
        self.serving = True

    def _find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        self.queries.append(event.identifier)
        if self.status:
            yield self.status, None
            return
        low, high = str(event.identifier.StudyDate).split("-")
        for study in self.studies:
            if low <= study.study_date <= high:
                answer = Dataset()
                answer.QueryRetrieveLevel = "STUDY"
                answer.StudyInstanceUID = study.study_instance_uid
                answer.AccessionNumber = study.accession
                answer.PatientID = study.patient_id
                answer.StudyDate = study.study_date
                answer.ModalitiesInStudy = list(study.modalities)
                yield 0xFF00, answer

    def close(self) -> None:
        """Stop answering (a second close does nothing)."""
        if self.serving:
            self.serving = False
            self.server.shutdown()
