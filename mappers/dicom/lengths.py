"""Values longer than the store keeps are refused with a failure status naming the attribute.

The limits are the vocabulary's (`mappers/limits.py`) and match the DICOM VRs' own maxima
(LO and UI 64, SH, CS and AE 16), so a conformant device never meets them.
"""

from __future__ import annotations

from collections.abc import Iterable

from mappers.dicom.errors import DicomMappingError
from mappers.limits import first_too_long

# The attribute each event value comes from, by the value's last name in the event.
_ATTRIBUTES = {
    "accession": "AccessionNumber",
    "study_description": "StudyDescription",
    "body_part": "BodyPartExamined",
    "modality": "Modality",
    "station_name": "StationName",
    "manufacturer": "Manufacturer",
    "model": "ManufacturerModelName",
    "serial_number": "DeviceSerialNumber",
    "value": "PatientID",
    "authority": "IssuerOfPatientID",
    "station_ae_title": "PerformedStationAETitle",
    "requested_procedure_id": "RequestedProcedureID",
    "transfer_syntax": "TransferSyntaxUID",
}


def check_lengths(events: Iterable[object], status: int) -> None:
    """Refuse events holding a value longer than the store keeps.

    Raises:
        DicomMappingError: with `status`, naming the attribute and the limit.
    """
    found = first_too_long(events)
    if found is None:
        return
    name = found.path.rsplit(".", 1)[-1]
    raise DicomMappingError(
        f"value longer than {found.limit} characters, the most kept",
        status,
        tag=_ATTRIBUTES.get(name, found.path),
    )
