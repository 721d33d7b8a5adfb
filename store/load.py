"""Load the rows a batch touches with a few set-wise SELECTs, locking them on PostgreSQL.

Rows come back in the fold's shape (store.fold.state): references to other rows by natural
key. The ids behind every key met on the way are kept, for the flush.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    Table,
    bindparam,
    false,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from store.fold.patients import ARRIVAL_WINDOW
from store.fold.state import Key, Row
from store.keys import Keys
from store.schema import (
    devices,
    instances,
    orders,
    patient_arrivals,
    patients,
    procedure_steps,
    series,
    studies,
)

# References: the column holding an id -> (fold name, table referred to, its key columns).
REFERENCES: dict[str, dict[str, tuple[str, Table, tuple[str, ...]]]] = {
    "patients": {"merged_into_id": ("merged_into", patients, ("identifier", "authority"))},
    "orders": {"patient_id": ("patient", patients, ("identifier", "authority"))},
    "arrivals": {"patient_id": ("patient", patients, ("identifier", "authority"))},
    "studies": {
        "order_id": ("order", orders, ("accession",)),
        "device_id": ("device", devices, ("ae_title",)),
    },
    "series": {"study_id": ("study", studies, ("study_instance_uid",))},
    "instances": {"series_id": ("series", series, ("series_instance_uid",))},
    "steps": {
        "order_id": ("order", orders, ("accession",)),
        "device_id": ("device", devices, ("ae_title",)),
    },
    "order_timeline": {"order_id": ("order", orders, ("accession",))},
    "reports": {"order_id": ("order", orders, ("accession",))},
}
TABLES: dict[str, Table] = {
    "patients": patients,
    "orders": orders,
    "arrivals": patient_arrivals,
    "devices": devices,
    "studies": studies,
    "series": series,
    "instances": instances,
    "steps": procedure_steps,
}
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("identifier", "authority"),
    "orders": ("accession",),
    "arrivals": ("id",),
    "devices": ("ae_title",),
    "studies": ("study_instance_uid",),
    "series": ("series_instance_uid",),
    "instances": ("sop_instance_uid",),
    "steps": ("sop_instance_uid",),
}


@dataclass(slots=True)
class Loaded:
    """The batch's current rows by table and key, and the ids of every key met."""

    tables: dict[str, dict[Key, Row]] = field(default_factory=dict)
    ids: dict[str, dict[Key, int]] = field(default_factory=dict)  # referred table -> key -> id

    def id_of(self, table: str, key: Key) -> int | None:
        """The id of the row with this key, when it exists."""
        return self.ids.get(table, {}).get(key)


def stored_columns(table: Table) -> list[str]:
    """The columns the fold sees (generated ones are the database's)."""
    return [c.name for c in table.columns if c.computed is None]


def load(conn: Connection, keys: Keys) -> Loaded:
    """Read the rows the batch's keys name (locked FOR UPDATE on PostgreSQL)."""
    locking = conn.dialect.name == "postgresql"
    loaded = Loaded(tables={name: {} for name in TABLES}, ids={})
    _patients(conn, loaded, keys, locking)
    waiting = sorted(keys.waiting)
    for name, uids in (("studies", keys.studies), ("steps", keys.steps)):
        table = TABLES[name]
        names_it = table.c.order_id.is_(None) & or_(
            _in(table.c.accession, waiting), _in(table.c.study_instance_uid, waiting)
        )
        uid = table.c.study_instance_uid if name == "studies" else table.c.sop_instance_uid
        if uids or waiting:
            _read(
                conn, loaded, name, or_(_in(uid, uids), names_it if waiting else false()), locking
            )
    _orders(conn, loaded, keys, locking)
    _arrivals(conn, loaded, keys)
    if keys.devices:
        _read(conn, loaded, "devices", _in(devices.c.ae_title, keys.devices), locking)
    if keys.series:
        _read(conn, loaded, "series", _in(series.c.series_instance_uid, keys.series), locking)
    if keys.instances:
        _read(conn, loaded, "instances", _in(instances.c.sop_instance_uid, keys.instances), False)
    return loaded


def _patients(conn: Connection, loaded: Loaded, keys: Keys, locking: bool) -> None:
    if not keys.patients:
        return
    named = _in(patients.c.identifier, {identifier for identifier, _ in keys.patients})
    rows = _read(conn, loaded, "patients", named, locking, keep=keys.patients)
    merged_ids = [row["id"] for key, row in rows.items() if key in keys.merged]
    if merged_ids:
        # What pointed to a merged identifier moves with it.
        _read(conn, loaded, "patients", _in(patients.c.merged_into_id, merged_ids), locking)


def _orders(conn: Connection, loaded: Loaded, keys: Keys, locking: bool) -> None:
    referred = {
        row["order"]
        for name in ("studies", "steps")
        for row in loaded.tables[name].values()
        if row["order"] is not None
    }
    conditions: list[ColumnElement[bool]] = []
    if keys.accessions or referred:
        conditions.append(_in(orders.c.accession, keys.accessions | referred))
    if keys.order_uids:
        conditions.append(_in(orders.c.study_instance_uid, keys.order_uids))
    if keys.order_procedures:
        conditions.append(_in(orders.c.requested_procedure_id, keys.order_procedures))
    merged = _patient_ids(loaded, keys.merged)
    if merged:
        conditions.append(_in(orders.c.patient_id, merged))
    if keys.arrival_times:
        low, high = _window(keys.arrival_times)
        conditions.append(
            _in(orders.c.patient_id, _patient_ids(loaded, keys.patients, survivors=True))
            & orders.c.ordered_at.between(low, high)
        )
    if conditions:
        _read(conn, loaded, "orders", or_(*conditions), locking)


def _arrivals(conn: Connection, loaded: Loaded, keys: Keys) -> None:
    conditions: list[ColumnElement[bool]] = []
    merged = _patient_ids(loaded, keys.merged)
    if merged:
        conditions.append(_in(patient_arrivals.c.patient_id, merged))
    if keys.order_times:
        low, high = _window(keys.order_times)
        ids = _patient_ids(loaded, keys.patients, survivors=True)
        if ids:
            conditions.append(
                _in(patient_arrivals.c.patient_id, ids)
                & patient_arrivals.c.occurred_at.between(low, high)
            )
    if conditions:
        _read(conn, loaded, "arrivals", or_(*conditions), False)


def _window(times: list[datetime]) -> tuple[datetime, datetime]:
    span: timedelta = ARRIVAL_WINDOW
    return min(times) - span, max(times) + span


def _patient_ids(loaded: Loaded, named: set[Key], *, survivors: bool = False) -> list[int]:
    rows = loaded.tables["patients"]
    ids = {rows[key]["id"] for key in named if key in rows}
    if survivors:
        ids |= {
            loaded.ids["patients"][row["merged_into"]]
            for key, row in rows.items()
            if key in named and row["merged_into"] is not None
        }
    return sorted(ids)


def _in(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    return column.in_(sorted(values))


def _read(
    conn: Connection,
    loaded: Loaded,
    name: str,
    where: ColumnElement[bool],
    locking: bool,
    *,
    keep: set[Key] | None = None,
) -> dict[Key, Row]:
    """Read rows into `loaded` (already loaded ones stay as they are); the rows read."""
    table = TABLES[name]
    statement, references = _select(name)
    statement = statement.where(where).order_by(table.c.id)
    if locking:
        statement = statement.with_for_update(of=table)
    found: dict[Key, Row] = {}
    rows = loaded.tables[name]
    key_columns = KEY_COLUMNS[name]
    own_ids = loaded.ids.setdefault(name, {})
    for mapping in conn.execute(statement).mappings():
        row = dict(mapping)
        for id_column, (ref, target, ref_columns) in references.items():
            parts = tuple(row.pop(f"{ref}__k{i}") for i in range(len(ref_columns)))
            ref_key = None if parts[0] is None else parts[0] if len(parts) == 1 else parts
            row.pop(id_column)
            row[ref] = ref_key
            if ref_key is not None:
                loaded.ids.setdefault(target.name, {})[ref_key] = mapping[id_column]
        key = _key(row, key_columns)
        if keep is not None and key not in keep:
            continue
        own_ids[key] = row["id"]
        found[key] = rows.setdefault(key, row)
    return found


def _key(row: Row, columns: tuple[str, ...]) -> Key:
    return row[columns[0]] if len(columns) == 1 else tuple(row[c] for c in columns)


@functools.cache
def _select(name: str) -> tuple[Select[Any], dict[str, tuple[str, Table, tuple[str, ...]]]]:
    """The SELECT of a table's rows with the natural key of each row it refers to."""
    table = TABLES[name]
    references = REFERENCES.get(name, {})
    columns: list[Any] = [table.c[c] for c in stored_columns(table)]
    source: Any = table
    for id_column, (ref, target, key_columns) in references.items():
        alias = target.alias(f"{ref}_ref")
        source = source.outerjoin(alias, alias.c.id == table.c[id_column])
        columns += [alias.c[c].label(f"{ref}__k{i}") for i, c in enumerate(key_columns)]
    return select(*columns).select_from(source), references


def lock_keys(conn: Connection, names: list[str]) -> None:
    """Take a transaction-scoped advisory lock per key, in one order in every process, so two
    gateways folding the same patient or order take turns (new rows included)."""
    if not names:
        return
    hashes = sorted(
        {
            int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "big", signed=True)
            for n in names
        }
    )
    conn.execute(_LOCK, {"keys": hashes})


_LOCK = text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(:keys) AS k").bindparams(
    bindparam("keys", type_=ARRAY(BigInteger()))
)
