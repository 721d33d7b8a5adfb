"""What every benchmark reports, and the tools they share.

Each figure stands beside a floor measured in the same run on the same machine, because
the machine is shared and noisy: the ratio is what compares across runs.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, its floor, and its goal.

    `higher_is_better` says which way the goal points (throughput up, latency down);
    `ratio` is value / floor for throughput and floor / value for latency, so that a ratio
    near 1 always means "as good as the floor".
    """

    name: str
    value: float
    unit: str
    floor_name: str = ""
    floor_value: float | None = None
    goal: str = ""
    met: bool | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.floor_value or not self.value:
            return None
        if self.higher_is_better:
            return self.value / self.floor_value
        return self.floor_value / self.value


def quick() -> bool:
    """BENCH_QUICK=1: a short run (the whole suite within 90 s)."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback only)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolation percentile (NumPy's default), p in [0, 100]."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]
        if p < 100
        else max(values)
    )


POSTGRES_ADMIN_URL = os.environ.get(
    "IMAGING_GW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server process, and kill it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
