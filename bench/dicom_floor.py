"""The floor for C-STORE: a bare pynetdicom storage SCP that writes the bytes it received.

No parsing beyond what pynetdicom does to answer, no index: each data set is written as a
DICOM file (its File Meta Information, then the encoded data set as received). Run by
`bench/dicom.py`: `python -m bench.dicom_floor --port N --out DIR`; prints `ready` once it
listens.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.events import Event


def _store(event: Event, out: Path) -> int:
    request = event.request
    path = out / f"{request.AffectedSOPInstanceUID}.dcm"
    with path.open("wb") as file:
        file.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(file, event.file_meta)  # type: ignore[arg-type]
        file.write(request.DataSet.getvalue())  # the encoded data set, as it came
    return 0x0000


def main(argv: list[str] | None = None) -> int:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ae-title", default="IMAGING_GW")
    args = parser.parse_args(argv)
    ae = AE(ae_title=args.ae_title)
    ae.supported_contexts = AllStoragePresentationContexts
    ae.maximum_associations = 16
    handlers = [(evt.EVT_C_STORE, _store, [args.out])]
    ae.start_server(("127.0.0.1", args.port), block=False, evt_handlers=handlers)
    print("ready", flush=True)
    threading.Event().wait()  # until SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
