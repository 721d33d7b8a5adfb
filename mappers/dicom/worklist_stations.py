"""Where a worklist step is scheduled: its Scheduled Station AE Titles, from the order or the
site's table.

In order: the titles the order named (OMI^O23 IPC-9, one per repetition); else the resource
the appointment booked (SIU AIL/AIG); else the site's table (`[worklist.stations]`), whose
keys are `MODALITY/PROCEDURE_CODE`, `*/PROCEDURE_CODE` or `MODALITY`, the most specific
first. Several titles are one DICOM multi-value, separated by "\\" (PS3.5 6.4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

StationTable = Mapping[str, tuple[str, ...]]


def scheduled_stations(
    stored: str, resource: str, modality: str, procedure_code: str, table: StationTable
) -> str:
    """The step's Scheduled Station AE Titles, "\\"-separated; "" when nothing names one."""
    if stored:
        return stored
    if resource:
        return resource
    for key in table_keys(modality, procedure_code):
        titles = table.get(key)
        if titles:
            return "\\".join(titles)
    return ""


def table_keys(modality: str, procedure_code: str) -> Iterable[str]:
    """The table keys that may name an order's stations, the most specific first."""
    if modality and procedure_code:
        yield f"{modality}/{procedure_code}"
    if procedure_code:
        yield f"*/{procedure_code}"
    if modality:
        yield modality


def keys_naming(table: StationTable, ae_title: str) -> tuple[frozenset[str], frozenset[str]]:
    """The modalities and procedure codes whose table entries name `ae_title`: what the store
    may narrow a station query's table-scheduled orders by (never fewer than match)."""
    modalities: set[str] = set()
    codes: set[str] = set()
    for key, titles in table.items():
        if ae_title not in titles:
            continue
        modality, _, code = key.partition("/")
        if modality != "*":
            modalities.add(modality)
        if code:
            codes.add(code)
    return frozenset(modalities), frozenset(codes)
