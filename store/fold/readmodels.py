"""The read models' fold: figure rows, board state and volume counts, kept with the facts.

Each is a pure function of one order and the steps and studies that name it (DESIGN.md,
"Patient-flow figures" and "Read models"); the fold works them out for every order a batch
touched, before and after, and hands the shell the difference:

- a figure row per order per figure whose two ends exist, unless the order is cancelled
  (its times describe no exam): (figure, END time, value in ms, modality, priority, patient
  class, device, facility day of the END time, value bucket); written when new or changed,
  removed when gone;
- the figure rows' counts per value bucket and facility day and week, as deltas added to the
  stored counts (store.fold.figure_counts);
- the board state of each open order (module `store.reading.board` says how it is shown);
- volume counts per facility hour, as deltas added to the stored counts.

An order's device: the device of its first-started MPPS step that names a known device, else
of its first study, else "".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from mappers.events import Milestone, StepStatus
from store.figure_buckets import value_bucket
from store.figures import FIGURES, wall_seconds
from store.fold.figure_counts import count_changes, count_rows
from store.fold.state import Key, Row

# Open orders: not ended and not finally reported (the status is the furthest milestone).
OPEN_STATUSES = frozenset(
    m.value for m in Milestone if not m.ends_exam and m is not Milestone.FINAL_REPORT
)
# Board states as stored: "scheduled" is shown as scheduled_today on its appointment's day.
STORED_STATES = ("ordered", "scheduled", "waiting", "in_exam", "awaiting_report")
VOLUME_MEASURES = ("ordered", "performed", "reported", "cancelled", "no_shows")


@dataclass(frozen=True, slots=True)
class Related:
    """The steps and studies of each order, by accession, in the order the device rule reads."""

    steps: Mapping[Key, list[Row]]
    studies: Mapping[Key, list[Row]]


@dataclass(slots=True)
class ReadModelChanges:
    """What a batch changes in the read models, by accession (the shell turns it into ids)."""

    # Rows to insert, and stored rows to delete first: a changed row is both, a new one
    # only inserted (so a new order costs no DELETE), a vanished one only deleted.
    figures_put: list[Row] = field(default_factory=list)
    figures_gone: list[tuple[Key, str]] = field(default_factory=list)  # (accession, figure)
    figure_counts: list[Row] = field(default_factory=list)  # counts to add, per bucket
    board_put: list[Row] = field(default_factory=list)
    board_gone: list[Key] = field(default_factory=list)
    volumes: list[Row] = field(default_factory=list)  # counts to add, per hour and group


def related(steps: Iterable[Row], studies: Iterable[Row]) -> Related:
    """Steps and studies grouped by the order they name, each group in id order (new rows,
    which have no id yet, after the loaded ones in the order they were made)."""
    by_step: dict[Key, list[tuple[tuple[int, int], Row]]] = defaultdict(list)
    by_study: dict[Key, list[tuple[tuple[int, int], Row]]] = defaultdict(list)
    for target, rows in ((by_step, steps), (by_study, studies)):
        for position, row in enumerate(rows):
            if row["order"] is not None:
                rank = (0, row["id"]) if row["id"] is not None else (1, position)
                target[row["order"]].append((rank, row))
    return Related(
        {k: [r for _, r in sorted(v, key=lambda x: x[0])] for k, v in by_step.items()},
        {k: [r for _, r in sorted(v, key=lambda x: x[0])] for k, v in by_study.items()},
    )


def _started_first(row: Row) -> tuple[bool, datetime]:
    started = row["started_at"]
    return (started is None, started or datetime.min.replace(tzinfo=UTC))


def order_device(steps: list[Row], studies: list[Row]) -> str:
    """The order's device (module docstring)."""
    for step in sorted(steps, key=_started_first):  # stable: id order among equal starts
        if step["device"] is not None:
            return str(step["device"])
    for study in sorted(studies, key=lambda row: row["first_instance_at"]):
        if study["device"] is not None:
            return str(study["device"])
    return ""


def open_step_device(steps: list[Row]) -> str | None:
    """The device of the order's first step in progress ("" if unnamed); None when none is."""
    for step in sorted(steps, key=_started_first):
        if step["status"] == StepStatus.IN_PROGRESS.value:
            return str(step["device"] or step["station_ae_title"] or "")
    return None


def milliseconds(begin: datetime, end: datetime) -> int:
    """Whole milliseconds from `begin` to `end`, rounded half away from zero."""
    micro = (end - begin) // timedelta(microseconds=1)
    whole, rest = divmod(abs(micro), 1000)
    rounded = whole + (1 if rest >= 500 else 0)
    return rounded if micro >= 0 else -rounded


def facility_day(instant: datetime, tz: ZoneInfo) -> date:
    """The facility-local date of an instant (its UTC date at the calendar's very ends)."""
    return _local(instant, tz).date()


def figure_rows(order: Row, device: str, tz: ZoneInfo) -> dict[str, Row]:
    """The order's figure rows by figure (none for a cancelled order)."""
    if order["cancelled_at"] is not None:
        return {}
    rows = {}
    for figure, (start, end) in FIGURES.items():
        begin, finish = order[start], order[end]
        if begin is None or finish is None:
            continue
        value = milliseconds(begin, finish)
        rows[figure] = {
            "order": order["accession"],
            "figure": figure,
            "end_at": finish,
            "value_ms": value,
            "modality": order["modality"],
            "priority": order["priority"],
            "patient_class": order["patient_class"],
            "device": device,
            "day": facility_day(finish, tz),
            "bucket": value_bucket(value),
        }
    return rows


def board_row(order: Row, steps: list[Row], device: str) -> Row | None:
    """The order's board state, its start and device; None when it is never on the board.

    An open order is in exam when started, not completed or reported, and a step is still in
    progress or no images came yet; else awaiting report once completed, reported or imaged;
    else waiting once arrived; else scheduled when it has an appointment and did not miss it
    (shown on the appointment's day only); else ordered.
    """
    if order["status"] not in OPEN_STATUSES:
        return None
    done = order["exam_completed_at"] is not None or order["preliminary_report_at"] is not None
    started = order["exam_started_at"] is not None and not done
    open_device = open_step_device(steps) if started else None
    if started and (open_device is not None or order["images_available_at"] is None):
        state, moments = "in_exam", ("exam_started_at",)
    elif done or order["images_available_at"] is not None:
        state = "awaiting_report"
        moments = ("exam_completed_at", "images_available_at", "preliminary_report_at")
    elif order["arrived_at"] is not None:
        state, moments = "waiting", ("arrived_at",)
    elif order["scheduled_start"] is not None:
        if order["no_show_at"] is not None:
            return None
        state, moments = "scheduled", ("scheduled_start",)
    elif order["ordered_at"] is not None:
        state, moments = "ordered", ("ordered_at",)
    else:
        return None
    since = min(order[m] for m in moments if order[m] is not None)
    shown_device = open_device if state == "in_exam" and open_device else device
    return {
        "order": order["accession"],
        "state": state,
        "since": since,
        "scheduled_start": order["scheduled_start"],
        "modality": order["modality"],
        "device": shown_device,
    }


def volume_events(order: Row) -> list[tuple[str, datetime]]:
    """(measure, time) of each volume the order counts in."""
    found = []
    if order["ordered_at"] is not None:
        found.append(("ordered", order["ordered_at"]))
    if order["exam_completed_at"] is not None:
        found.append(("performed", order["exam_completed_at"]))
    elif order["images_available_at"] is not None and order["exam_started_at"] is None:
        # No MPPS (no exam start known): the first image says the exam was performed.
        found.append(("performed", order["images_available_at"]))
    if order["final_report_at"] is not None:
        found.append(("reported", order["final_report_at"]))
    ends = [order[c] for c in ("cancelled_at", "discontinued_at") if order[c] is not None]
    if ends:
        found.append(("cancelled", min(ends)))  # counted once, whichever came first
    if order["no_show_at"] is not None:
        found.append(("no_shows", order["no_show_at"]))
    return found


def facility_hour(instant: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the facility-local hour holding `instant` began."""
    local = _local(instant, tz)
    try:
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    except OverflowError:
        return instant.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def _local(instant: datetime, tz: ZoneInfo) -> datetime:
    """The instant in the facility's zone; in UTC where that zone would leave the calendar
    (a time in year 1 or 9999 that a sender wrote)."""
    try:
        return instant.astimezone(tz)
    except OverflowError:
        return instant.astimezone(UTC)


def wall_hour(hour: datetime, tz: ZoneInfo) -> int:
    """Local wall-clock hours since 1970-01-01 00:00 of an hour's start."""
    return wall_seconds(_local(hour, tz).replace(tzinfo=None)) // 3600


def volume_counts(order: Row, device: str, tz: ZoneInfo) -> Counter[tuple[datetime, str, str, str]]:
    """The order's counts by (facility hour, modality, device, measure)."""
    return Counter(
        (facility_hour(at, tz), order["modality"], device, measure)
        for measure, at in volume_events(order)
    )


@dataclass(frozen=True, slots=True)
class OrderModels:
    """Everything the read models hold for one order."""

    figures: dict[str, Row]
    board: Row | None
    volumes: Counter[tuple[datetime, str, str, str]]


def order_models(order: Row | None, around: Related, tz: ZoneInfo) -> OrderModels:
    """The read-model rows of one order (none for no order)."""
    if order is None:
        return OrderModels({}, None, Counter())
    key = order["accession"]
    steps, studies = around.steps.get(key, []), around.studies.get(key, [])
    device = order_device(steps, studies)
    return OrderModels(
        figure_rows(order, device, tz),
        board_row(order, steps, device),
        volume_counts(order, device, tz),
    )


def touched_orders(
    before: Mapping[str, Mapping[Key, Row]], after: Mapping[str, Mapping[Key, Row]]
) -> set[Key]:
    """Accessions whose order, or one of whose steps or studies, the batch changed."""
    old_orders = before.get("orders", {})
    touched = {k for k, row in after["orders"].items() if old_orders.get(k) is not row}
    for name in ("steps", "studies"):
        old_rows = before.get(name, {})
        for key, row in after[name].items():
            old = old_rows.get(key)
            if old is row:
                continue
            touched.update(r["order"] for r in (old, row) if r is not None and r["order"])
    return touched


def read_model_changes(
    before: Mapping[str, Mapping[Key, Row]],
    after: Mapping[str, Mapping[Key, Row]],
    tz: ZoneInfo,
) -> ReadModelChanges:
    """The difference the batch makes to the read models of every order it touched.

    `before` must hold every step and study of each loaded order (store.load reads them).
    """
    touched = touched_orders(before, after)
    changes = ReadModelChanges()
    if not touched:
        return changes
    was = related(before.get("steps", {}).values(), before.get("studies", {}).values())
    now = related(after["steps"].values(), after["studies"].values())
    deltas: Counter[tuple[datetime, str, str, str]] = Counter()
    gone_rows: list[Row] = []
    for key in sorted(touched):
        old = order_models(before.get("orders", {}).get(key), was, tz)
        new = order_models(after["orders"].get(key), now, tz)
        for figure, row in old.figures.items():
            if new.figures.get(figure) != row:
                changes.figures_gone.append((key, figure))
                gone_rows.append(row)
        for figure, row in new.figures.items():
            if old.figures.get(figure) != row:
                changes.figures_put.append(row)
        if old.board is not None and new.board != old.board:
            changes.board_gone.append(key)
        if new.board is not None and new.board != old.board:
            changes.board_put.append(new.board)
        deltas.update(new.volumes)
        deltas.subtract(old.volumes)
    changes.volumes = volume_rows(deltas, tz)
    changes.figure_counts = count_rows(count_changes(gone_rows, changes.figures_put))
    return changes


def volume_rows(counts: Mapping[tuple[datetime, str, str, str], int], tz: ZoneInfo) -> list[Row]:
    """Counts by (hour, modality, device, measure) as volume_hours rows (zeros left out)."""
    rows: dict[tuple[datetime, str, str], Row] = {}
    for (hour, modality, device, measure), n in sorted(counts.items()):
        if not n:
            continue
        row = rows.get((hour, modality, device))
        if row is None:
            row = {"hour_at": hour, "modality": modality, "device": device}
            row.update(wall_hour=wall_hour(hour, tz), **dict.fromkeys(VOLUME_MEASURES, 0))
            rows[(hour, modality, device)] = row
        row[measure] += n
    return list(rows.values())
