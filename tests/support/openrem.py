"""OpenREM's CT dose objects (vendor RDSRs), fetched from the package index at test time.

They are GPL-3, so they are never kept in this repository: pip downloads the source
distribution once per run and the CT files are taken out of it.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

OPENREM = "openrem==0.10.0"
FILES = "OpenREM-0.10.0/openrem/remapp/tests/test_files/"


def fetch_openrem_ct_files(folder: Path, *, in_ci: bool) -> Path:
    """Download and unpack the CT test objects into `folder`; the folder holding them.

    Skips the test when the index cannot be reached (fails it in CI).
    """
    fetched = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--dest",
            str(folder),
            OPENREM,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    archives = list(folder.glob("*.tar.gz"))
    if fetched.returncode != 0 or not archives:
        message = f"cannot download {OPENREM}: {fetched.stderr.strip()[-300:]}"
        if in_ci:
            pytest.fail(message)
        pytest.skip(message)
    with tarfile.open(archives[0]) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(f"{FILES}CT-")]
        archive.extractall(folder, members=members, filter="data")
    return folder / FILES
