"""Load the rows a batch touches with a few set-wise SELECTs, locking them on PostgreSQL.

Rows come back in the fold's shape (store.fold.state): references to other rows by natural
key. The ids behind every key met on the way are kept, for the flush.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    any_,
    bindparam,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from store import driver
from store.fold.patients import ARRIVAL_WINDOW
from store.fold.state import Key, Row
from store.keys import Keys
from store.schema import (
    devices,
    downtimes,
    instances,
    orders,
    patient_arrivals,
    patients,
    probe_sessions,
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
    "downtimes": {"device_id": ("device", devices, ("ae_title",))},
    "probe_sessions": {"device_id": ("device", devices, ("ae_title",))},
    "device_transitions": {"device_id": ("device", devices, ("ae_title",))},
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
    "downtimes": downtimes,
    "probe_sessions": probe_sessions,
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
    "downtimes": ("id",),
    "probe_sessions": ("id",),
}


@dataclass(slots=True)
class Loaded:
    """The batch's current rows by table and key, and the ids of every key met."""

    tables: dict[str, dict[Key, Row]] = field(default_factory=dict)
    ids: dict[str, dict[Key, int]] = field(default_factory=dict)  # referred table -> key -> id
    # Patients with an arrival kept (theirs, or their survivor's): only for them are
    # arrivals worth reading, which saves a query per batch in the usual case.
    arrived: set[Key] = field(default_factory=set)

    def id_of(self, table: str, key: Key) -> int | None:
        """The id of the row with this key, when it exists."""
        return self.ids.get(table, {}).get(key)


def stored_columns(table: Table) -> list[str]:
    """The columns the fold sees (generated ones are the database's)."""
    return [c.name for c in table.columns if c.computed is None]


def load(conn: Connection, keys: Keys) -> Loaded:
    """Read the rows the batch's keys name (locked FOR UPDATE on PostgreSQL)."""
    reader = _Reader(conn, Loaded(tables={name: {} for name in TABLES}, ids={}))
    if keys.patients:
        identifiers = {identifier for identifier, _ in keys.patients}
        rows = reader.read("patients", identifier=identifiers, keep=keys.patients)
        merged_ids = [row["id"] for key, row in rows.items() if key in keys.merged]
        if merged_ids:
            # What pointed to a merged identifier moves with it.
            reader.read("patients", merged_into=merged_ids)
    probed_orders: list[int] = []
    if keys.studies or keys.steps or keys.waiting or _names_orders(keys):
        # One probe for the ids of every order, study and step the batch names (and of the
        # unmatched items that name its new orders); usually a new order finds nothing, and
        # then no row is read at all.
        found = reader.probe(keys)
        if found["studies"]:
            reader.read("studies", id=found["studies"])
        if found["steps"]:
            reader.read("steps", id=found["steps"])
        probed_orders = found["orders"]
    _orders(reader, keys, probed_orders)
    order_ids = sorted(
        reader.loaded.ids.get("orders", {}).get(k) for k in reader.loaded.tables["orders"]
    )
    if order_ids:
        # Every step and study of the orders read: the read models' device of an order is
        # worked out from all of them (store.fold.readmodels).
        reader.read("steps", order=order_ids)
        reader.read("studies", order=order_ids)
    _arrivals(reader, keys)
    if keys.devices:
        reader.read("devices", key=keys.devices)
    if keys.series:
        reader.read("series", key=keys.series)
    if keys.instances:
        reader.read("instances", key=keys.instances)
    if keys.downtimes:
        reader.read("downtimes", id=keys.downtimes)
    if keys.probed:
        reader.read("probe_sessions", latest=keys.probed)
    return reader.loaded


def _names_orders(keys: Keys) -> bool:
    return bool(keys.accessions or keys.order_uids or keys.order_procedures)


def _orders(reader: _Reader, keys: Keys, probed: list[int]) -> None:
    """The orders the probe found, those the studies and steps read refer to, and those of
    merged patients or near an arrival (which need the patients read first)."""
    loaded = reader.loaded
    wanted: dict[str, Any] = {}
    # The ids of the orders the studies and steps refer to came with them (store.load REFERENCES).
    referred = {
        loaded.ids["orders"][row["order"]]
        for name in ("studies", "steps")
        for row in loaded.tables[name].values()
        if row["order"] is not None
    }
    if probed or referred:
        wanted["id"] = set(probed) | referred
    merged = _patient_ids(loaded, keys.merged)
    if merged:
        wanted["patient"] = merged
    if keys.arrival_times:
        ids = _patient_ids(loaded, keys.patients, survivors=True)
        if ids:
            wanted["window"] = ids
            wanted["low"], wanted["high"] = _window(keys.arrival_times)
    if wanted:
        reader.read("orders", **wanted)


def _arrivals(reader: _Reader, keys: Keys) -> None:
    loaded = reader.loaded
    wanted: dict[str, Any] = {}
    merged = _patient_ids(loaded, keys.merged)
    if merged:
        wanted["patient"] = merged
    if keys.order_times and keys.patients & loaded.arrived:
        ids = _patient_ids(loaded, keys.patients, survivors=True)
        if ids:
            wanted["window"] = ids
            wanted["low"], wanted["high"] = _window(keys.order_times)
    if wanted:
        reader.read("arrivals", **wanted)


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


def _is_in(dialect: str, column: Any, name: str) -> ColumnElement[bool]:
    """`column` is one of the values bound as `name`."""
    if dialect == "postgresql":
        # One array parameter, so the statement's text (and its prepared plan) is the same
        # whatever the batch holds; an IN list is rendered and prepared anew per size.
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _windowed(dialect: str, table: Table, at: str) -> ColumnElement[bool]:
    moment = table.c[at]
    return _is_in(dialect, table.c.patient_id, "window") & moment.between(
        bindparam("low", type_=moment.type), bindparam("high", type_=moment.type)
    )


def _condition(dialect: str, name: str, condition: str) -> ColumnElement[bool]:
    """A named way to find a table's rows, with bind parameters named after it."""
    table = TABLES[name]
    match condition:
        case "id":
            return _is_in(dialect, table.c.id, "id")
        case "key":
            return _is_in(dialect, table.c[KEY_COLUMNS[name][0]], "key")
        case "identifier":
            return _is_in(dialect, table.c.identifier, "identifier")
        case "merged_into":
            return _is_in(dialect, table.c.merged_into_id, "merged_into")
        case "accession":
            return _is_in(dialect, table.c.accession, "accession")
        case "study_uid":
            return _is_in(dialect, table.c.study_instance_uid, "study_uid")
        case "procedure":
            return _is_in(dialect, table.c.requested_procedure_id, "procedure")
        case "patient":
            return _is_in(dialect, table.c.patient_id, "patient")
        case "order":
            return _is_in(dialect, table.c.order_id, "order")
        case "latest":
            # Each device's probe session with the latest cover: the one a probe extends.
            later = table.alias("later")
            newest = ~(
                select(later.c.id)
                .where(
                    later.c.device_id == table.c.device_id,
                    later.c.covered_until > table.c.covered_until,
                )
                .exists()
            )
            named = select(devices.c.id).where(_is_in(dialect, devices.c.ae_title, "latest"))
            return table.c.device_id.in_(named.scalar_subquery()) & newest
        case "window":
            return _windowed(dialect, table, "ordered_at" if name == "orders" else "occurred_at")
    raise ValueError(f"no condition {condition!r} for {name}")


class _Reader:
    """Reads rows into one Loaded, with statements built once per shape and dialect."""

    def __init__(self, conn: Connection, loaded: Loaded) -> None:
        self.conn = conn
        self.loaded = loaded
        self.dialect = conn.dialect.name

    def read(self, name: str, *, keep: set[Key] | None = None, **wanted: Any) -> dict[Key, Row]:
        """Rows matching any of the conditions named (values bound by name); rows loaded
        before stay as they were loaded."""
        conditions = tuple(sorted(c for c in wanted if c not in ("low", "high")))
        statement, references = _statement(self.dialect, name, conditions)
        params = {k: sorted(v) if isinstance(v, set | list) else v for k, v in wanted.items()}
        loaded = self.loaded
        found: dict[Key, Row] = {}
        rows = loaded.tables[name]
        key_columns = KEY_COLUMNS[name]
        own_ids = loaded.ids.setdefault(name, {})
        for row in driver.rows(self.conn, statement, params):
            for id_column, (ref, target, ref_columns) in references.items():
                parts = tuple(row.pop(f"{ref}__k{i}") for i in range(len(ref_columns)))
                ref_key = None if parts[0] is None else parts[0] if len(parts) == 1 else parts
                ref_id = row.pop(id_column)
                row[ref] = ref_key
                if ref_key is not None:
                    loaded.ids.setdefault(target.name, {})[ref_key] = ref_id
            arrived = row.pop("arrived__flag", False)
            key = _key(row, key_columns)
            if keep is not None and key not in keep:
                continue
            if arrived:
                loaded.arrived.add(key)
            own_ids[key] = row["id"]
            found[key] = rows.setdefault(key, row)
        return found

    def probe(self, keys: Keys) -> dict[str, list]:
        """Ids of the orders, studies and steps named, and of the unmatched studies and steps
        that name one of the batch's new orders."""
        params = {
            "studies": sorted(keys.studies),
            "steps": sorted(keys.steps),
            "waiting": sorted(keys.waiting),
            "accession": sorted(keys.accessions),
            "study_uid": sorted(keys.order_uids),
            "procedure": sorted(keys.order_procedures),
        }
        found: dict[str, list] = {"orders": [], "studies": [], "steps": []}
        for row in driver.rows(self.conn, _probe(self.dialect), params):
            found[row["kind"]].append(row["id"])
        return found


@functools.cache
def _probe(dialect: str) -> Any:
    # One SELECT per way of naming a row, not one per table with the ways ORed: PostgreSQL's
    # generic plan for an OR of `= ANY(array)` conditions scanned the whole orders table
    # (4-8 ms at 7,000 orders), where each condition alone is an index lookup. A row named
    # two ways is found twice; the caller reads ids as a set.
    parts = [
        select(literal("orders").label("kind"), orders.c.id).where(
            _condition(dialect, "orders", condition)
        )
        for condition in ("accession", "study_uid", "procedure")
    ]
    for name, uid in (("studies", "study_instance_uid"), ("steps", "sop_instance_uid")):
        table = TABLES[name]
        names_an_order = table.c.order_id.is_(None) & or_(
            _is_in(dialect, table.c.accession, "waiting"),
            _is_in(dialect, table.c.study_instance_uid, "waiting"),
        )
        kind = literal(name).label("kind")
        parts.append(select(kind, table.c.id).where(_is_in(dialect, table.c[uid], name)))
        parts.append(select(kind, table.c.id).where(names_an_order))
    return union_all(*parts)


@functools.cache
def _statement(
    dialect: str, name: str, conditions: tuple[str, ...]
) -> tuple[Select[Any], dict[str, tuple[str, Table, tuple[str, ...]]]]:
    table = TABLES[name]
    statement, references = _select(name)
    where = or_(*(_condition(dialect, name, c) for c in conditions))
    statement = statement.where(where).order_by(table.c.id)
    if dialect == "postgresql" and name not in ("arrivals", "instances", "probe_sessions"):
        statement = statement.with_for_update(of=table)
    return statement, references


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
    if name == "patients":
        arrivals = TABLES["arrivals"]
        own = table.c.id, func.coalesce(table.c.merged_into_id, table.c.id)
        columns.append(
            select(arrivals.c.id)
            .where(arrivals.c.patient_id.in_(own))
            .exists()
            .label("arrived__flag")
        )
    return select(*columns).select_from(source), references
