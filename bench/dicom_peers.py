"""The peers a C-STORE figure is set beside: Orthanc, and a bare pynetdicom storage SCP.

Orthanc is what a department would otherwise run to receive images: here with its SQLite
index, files on disk (no compression) and TCP_NODELAY=1, as Debian packages it. The bare SCP
(`bench/dicom_floor.py`) is the most pynetdicom can do: it writes the bytes it received.
"""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import free_port, stop_process

READY_TIMEOUT = 30.0
ORTHANC_AE = "ORTHANC"


def orthanc_available() -> bool:
    """True when Debian's `orthanc` package is installed."""
    return shutil.which("Orthanc") is not None


@contextlib.contextmanager
def orthanc(work: Path, env: dict[str, str]) -> Iterator[int]:
    """Orthanc on a fresh SQLite index and storage folder under `work`; yields its DICOM port
    once its REST API answers."""
    dicom, http = free_port(), free_port()
    config = {
        "Name": "bench",
        "StorageDirectory": str(work / "storage"),
        "IndexDirectory": str(work / "index"),
        "StorageCompression": False,
        "HttpServerEnabled": True,
        "HttpPort": http,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": ORTHANC_AE,
        "DicomPort": dicom,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowStore": True,
        "DicomThreadsCount": 4,
        "SaveJobs": False,
        "Plugins": [],
    }
    path = work / "orthanc.json"
    path.write_text(json.dumps(config))
    log = (work / "orthanc.log").open("wb")
    process = subprocess.Popen(
        ["Orthanc", str(path)], env={**env, "TCP_NODELAY": "1"}, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {process.returncode}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{http}/system", timeout=1) as answer,
            ):
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("Orthanc did not answer within 30 s")
            time.sleep(0.1)
        yield dicom
    finally:
        stop_process(process)
        log.close()


def orthanc_instances(work: Path) -> int:
    """The instance files Orthanc stored under `work` (its storage area)."""
    return sum(
        1 for item in (work / "storage").rglob("*") if item.is_file() and "." not in item.name
    )


@contextlib.contextmanager
def pynetdicom_floor(out: Path, env: dict[str, str]) -> Iterator[int]:
    """The bare pynetdicom storage SCP writing to `out`; yields its port once it listens."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.dicom_floor", "--port", str(port), "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT)
        if not readable or process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the pynetdicom floor did not start")
        yield port
    finally:
        stop_process(process)


def send_parallel(send: object, port: int, files: list, associations: int) -> float:
    """The wall time of `associations` senders started together, each with its share of
    `files` on one association of its own."""
    shares = [files[n::associations] for n in range(associations)]
    started = time.perf_counter()
    with ThreadPoolExecutor(associations) as pool:
        list(pool.map(lambda share: send(port, share), shares))  # type: ignore[operator]
    return time.perf_counter() - started
