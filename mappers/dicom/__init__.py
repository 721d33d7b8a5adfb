"""Pure mappings between DICOM datasets and the gateway's events and worklist."""
