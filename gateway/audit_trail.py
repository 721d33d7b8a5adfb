"""The audit trail: every read of patient data and every operator action, recorded through
the one writer before the answer leaves (IHE ATNA asks who, what, when, from where, and the
outcome).

Requests running at the same moment share one write (group commit, as messages do), so the
cost is one writer turn, not one transaction per request. If the trail cannot be written the
data is not given out: the answer becomes a 503 (gateway/audit.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from functools import partial

from store.audit import AuditEntry, insert_entries
from store.ingest import Ingest

# FHIR types that carry patient data (Device and the CapabilityStatement do not).
_FHIR_PATIENT_TYPES = frozenset(
    {"Patient", "ServiceRequest", "ImagingStudy", "DiagnosticReport", "Procedure"}
)
# /api/v1 reads that show patients: orders, the message log, the board, unmatched items,
# integrity findings, and the exams above their dose reference level.
# Figures (turnaround, volumes, uptime) are aggregates and are not recorded; nor are reads of
# the trail itself (operator only), each of which would change what it reads.
_API_PATIENT_READS = frozenset({"orders", "messages", "unmatched", "integrity", "dose"})
# Flow routes that list patients: the board, and the orders behind a turnaround figure.
_FLOW_PATIENT_READS = {"/api/v1/flow/board": "board", "/api/v1/flow/turnaround/orders": "orders"}


def audited_entity(method: str, path: str) -> str | None:
    """What kind of data a request reads or changes, when the trail records it; else None."""
    parts = path.strip("/").split("/")
    if parts[0] == "fhir" and len(parts) > 1 and parts[1] in _FHIR_PATIENT_TYPES:
        return parts[1]
    if parts[:2] != ["api", "v1"] or len(parts) < 3:
        return None
    if method not in ("GET", "HEAD", "OPTIONS"):
        return parts[2]  # every operator action: a replay, a link, a downtime, a device...
    if path in _FLOW_PATIENT_READS:
        return _FLOW_PATIENT_READS[path]
    return parts[2] if parts[2] in _API_PATIENT_READS else None


@dataclass
class _Waiting:
    entry: AuditEntry
    done: asyncio.Future[None]


class AuditTrail:
    """Collects the entries of concurrent requests and writes them together."""

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, entry: AuditEntry) -> None:
        """Return once the entry is committed.

        Raises:
            Exception: the store refused or could not be reached.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(entry, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="audit-trail")
        await done

    async def close(self) -> None:
        """Write what is waiting, then stop."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._ingest.run(partial(insert_entries, entries=[w.entry for w in batch]))
            except Exception as exc:
                for waiting in batch:
                    if not waiting.done.done():
                        waiting.done.set_exception(exc)
                continue
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_result(None)
