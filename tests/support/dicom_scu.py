"""A real pynetdicom SCU for tests: blocking calls, meant to run in `asyncio.to_thread` so the
gateway under test keeps its event loop."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    InstanceAvailabilityNotification,
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    Verification,
)


@dataclass
class Scu:
    """A modality: its AE title, and the gateway it talks to."""

    port: int
    ae_title: str = "MODALITY1"
    called: str = "IMAGING_GW"

    def _associate(self, *contexts: str) -> Association:
        ae = AE(ae_title=self.ae_title)
        for context in contexts:
            ae.add_requested_context(context)
        if not contexts:
            ae.requested_contexts = StoragePresentationContexts[:120]
        assoc = ae.associate("127.0.0.1", self.port, ae_title=self.called)
        if not assoc.is_established:
            raise ConnectionRefusedError("association not established")
        return assoc

    def associates(self) -> bool:
        """True when the gateway accepts an association from this AE title."""
        ae = AE(ae_title=self.ae_title)
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", self.port, ae_title=self.called)
        accepted = assoc.is_established
        if accepted:
            assoc.release()
        return accepted

    def echo(self) -> int:
        """C-ECHO; the status."""
        assoc = self._associate(Verification)
        try:
            return int(assoc.send_c_echo().Status)
        finally:
            assoc.release()

    def store(self, *datasets: Dataset) -> list[int]:
        """C-STORE each dataset on one association; their statuses."""
        assoc = self._associate()
        try:
            return [int(assoc.send_c_store(ds).Status) for ds in datasets]
        finally:
            assoc.release()

    def store_as_read(self, *datasets: Dataset) -> list[int]:
        """C-STORE datasets read from files, each offered in its own SOP class and transfer
        syntax (a dose SR class may lie beyond the common storage contexts)."""
        ae = AE(ae_title=self.ae_title)
        for context in {
            (str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets
        }:
            ae.add_requested_context(*context)
        assoc = ae.associate("127.0.0.1", self.port, ae_title=self.called)
        if not assoc.is_established:
            raise ConnectionRefusedError("association not established")
        try:
            return [int(assoc.send_c_store(ds).Status) for ds in datasets]
        finally:
            assoc.release()

    def n_create(self, sop_instance_uid: str, attributes: Dataset) -> tuple[int, str]:
        """MPPS N-CREATE; (status, error comment)."""
        assoc = self._associate(ModalityPerformedProcedureStep)
        try:
            status, _ = assoc.send_n_create(
                attributes, ModalityPerformedProcedureStep, sop_instance_uid
            )
            return int(status.Status), str(status.get("ErrorComment", ""))
        finally:
            assoc.release()

    def ian(self, sop_instance_uid: str, attributes: Dataset) -> tuple[int, str]:
        """Instance Availability Notification N-CREATE, as a PACS sends it; (status, comment)."""
        assoc = self._associate(InstanceAvailabilityNotification)
        try:
            status, _ = assoc.send_n_create(
                attributes, InstanceAvailabilityNotification, sop_instance_uid
            )
            return int(status.Status), str(status.get("ErrorComment", ""))
        finally:
            assoc.release()

    def n_set(self, sop_instance_uid: str, modifications: Dataset) -> tuple[int, str]:
        """MPPS N-SET; (status, error comment)."""
        assoc = self._associate(ModalityPerformedProcedureStep)
        try:
            status, _ = assoc.send_n_set(
                modifications, ModalityPerformedProcedureStep, sop_instance_uid
            )
            return int(status.Status), str(status.get("ErrorComment", ""))
        finally:
            assoc.release()

    def find(self, identifier: Dataset) -> tuple[list[Dataset], int]:
        """Modality Worklist C-FIND; (the pending identifiers, the final status)."""
        assoc = self._associate(ModalityWorklistInformationFind)
        try:
            found, final = [], -1
            for status, answer in assoc.send_c_find(identifier, ModalityWorklistInformationFind):
                if status is None:
                    break
                if status.Status in (0xFF00, 0xFF01):
                    found.append(answer)
                else:
                    final = int(status.Status)
            return found, final
        finally:
            assoc.release()
