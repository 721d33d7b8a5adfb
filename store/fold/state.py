"""The fold's working set: rows keyed by their natural keys, changed copy-on-write.

Rows are plain dicts named after the table's columns, except that a reference to another row
holds that row's natural key instead of its id (`patient` for `patient_id`, `order` for
`order_id`, ...), so that rows made in this batch, which have no id yet, can be referred to.
The shell turns keys into ids when it flushes.

A message's changes are kept in a journal until the message is done, so that a message the
fold refuses leaves no trace while the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Row = dict[str, Any]
Key = Any  # a table's natural key: a string, or (identifier, authority) for patients

# The keyed tables the fold reads and changes, and the append-only ones it adds to.
KEYED = (
    "patients",
    "orders",
    "devices",
    "studies",
    "series",
    "instances",
    "steps",
    "arrivals",
    "downtimes",
    "probe_sessions",
)
# "made" is not a table: it notes the rows a message made that only an id names (a declared
# downtime), so that the sender learns the id once the flush has given it one.
# "notices" is not a table either: the facts the outbox owes destinations (store.fold.outbox).
APPENDED = (
    "order_timeline",
    "reports",
    "device_transitions",
    "dose_events",
    "pacs_checks",
    "made",
    "notices",
)

_MISSING = object()


@dataclass(slots=True)
class State:
    """Current rows of one batch, as loaded and then as folded."""

    now: datetime
    tables: dict[str, dict[Key, Row]] = field(default_factory=dict)
    appended: dict[str, list[Row]] = field(default_factory=dict)
    _journal: list[tuple[str, Key, Any]] = field(default_factory=list)
    _marks: dict[str, int] = field(default_factory=dict)
    _next_new: int = -1
    # Turnaround goals ("figure/modality/priority/patient_class" -> minutes) that an order
    # crossing one is announced against (store.fold.outbox); empty when nobody listens.
    goals: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, loaded: Mapping[str, Mapping[Key, Row]], now: datetime) -> State:
        """A working set over loaded rows (the mapping itself is never changed)."""
        tables = {name: dict(loaded.get(name, {})) for name in KEYED}
        return cls(now=now, tables=tables, appended={name: [] for name in APPENDED})

    def get(self, table: str, key: Key) -> Row | None:
        """The row with this key, or None."""
        return self.tables[table].get(key)

    def rows(self, table: str) -> Iterator[tuple[Key, Row]]:
        """Every row of a table: loaded ones first (by id), then new ones as made."""
        return iter(list(self.tables[table].items()))

    def put(self, table: str, key: Key, row: Row) -> None:
        """Replace (or add) a row; rows are never changed in place."""
        rows = self.tables[table]
        self._journal.append((table, key, rows.get(key, _MISSING)))
        rows[key] = row

    def change(self, table: str, key: Key, **values: Any) -> Row:
        """Put a copy of the row with these values; the new row."""
        row = {**self.tables[table][key], **values}
        self.put(table, key, row)
        return row

    def append(self, table: str, row: Row) -> None:
        """Add a row to an append-only table."""
        self.appended[table].append(row)

    def new_key(self) -> int:
        """A key for a row that has no natural one (an arrival), below every loaded id."""
        self._next_new -= 1
        return self._next_new

    def begin(self) -> None:
        """Start one message's changes."""
        self._journal.clear()
        self._marks = {name: len(rows) for name, rows in self.appended.items()}

    def rollback(self) -> None:
        """Undo the changes of the message begun last."""
        for table, key, previous in reversed(self._journal):
            if previous is _MISSING:
                del self.tables[table][key]
            else:
                self.tables[table][key] = previous
        for name, mark in self._marks.items():
            del self.appended[name][mark:]
        self._journal.clear()
