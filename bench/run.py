"""`make bench`: every benchmark, one table, and bench/results/latest.json.

Each part starts its own gateway and its own load process; parts run one after another so
that they do not share the machine's two cores.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Figure, quick

PARTS = (
    "bench.mllp",
    "bench.mllp_shared",
    "bench.dicom",
    "bench.worklist",
    "bench.worklist_dcmtk",
    "bench.api",
)
RESULTS = Path(__file__).parent / "results"


def table(figures: list[Figure]) -> str:
    """The figures as a Markdown table (what bench/README.md shows)."""
    lines = [
        "| figure | value | floor | floor value | ratio | goal | met |",
        "|---|---:|---|---:|---:|---|:-:|",
    ]
    for f in figures:
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else ""
        floor = f"{f.floor_value:,.1f}" if f.floor_value is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        lines.append(
            f"| {f.name} | {f.value:,.1f} {f.unit} | {f.floor_name} | {floor} | {ratio} "
            f"| {f.goal} | {met} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run every part (or those named on the command line) and report."""
    parts = sys.argv[1:] or list(PARTS)
    figures: list[Figure] = []
    timings = {}
    for name in parts:
        started = time.monotonic()
        module = importlib.import_module(name)
        print(f"== {name} ...", file=sys.stderr, flush=True)
        figures.extend(module.run(quick()))
        timings[name] = round(time.monotonic() - started, 1)
    print(table(figures))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "quick": quick(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "seconds": timings,
                "figures": [{**dataclasses.asdict(f), "ratio": f.ratio} for f in figures],
            },
            indent=2,
        )
    )
    print(f"\nwritten: {RESULTS / 'latest.json'} ({sum(timings.values()):.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
