"""Patient-flow queries: the board, turnaround figures, volumes, and unmatched DICOM items.

Definitions (DESIGN.md, "Patient-flow figures"; the pure rules are in `store.figures`):
- Turnaround: a figure counts an order when both its ends exist, its END time lies in
  [start, end), and the order was not cancelled (a cancelled order's times describe no exam;
  a discontinued one counts where both ends exist). Negative values are kept (an exam that
  starts before its appointment has a negative start delay). One statement; the ranks are
  found in SQL (percentile_disc on PostgreSQL, ROW_NUMBER/COUNT windows on SQLite) and
  h = (n - 1) * p is interpolated between them.
- An order's device: the device of its first-started MPPS step that names a known device,
  else of its first study, else "".
- Day, hour and week buckets are facility-local wall-clock periods; the zone's UTC offset
  over the range is passed in as a CASE, so SQLite and PostgreSQL bucket alike.
- Volumes per bucket: ordered (ordered_at), performed (exam_completed_at, else
  images_available_at when no exam start is known), reported (final_report_at), cancelled
  (the earlier of cancelled_at and discontinued_at), no-shows (no_show_at). One statement.
- The board: an open order is in exam when started, not completed or reported, and an MPPS
  step is still in progress or no images came yet (images without an open step mean the exam
  is over); else awaiting report once completed, reported or imaged; else waiting once
  arrived; else scheduled today when its appointment is today and not a no-show; else
  ordered when it has no appointment. One statement works out each order's state, since and
  device (`_board_rows`) and returns only the counts and the page's rows.
- Linking an unmatched study or step is logged as an `api` message, so the timeline names it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from mappers.events import Milestone, StepStatus
from store import figures
from store.schema import (
    UtcDateTime,
    devices,
    orders,
    patients,
    procedure_steps,
    studies,
)

T = TypeVar("T")

BOARD_STATES = ("ordered", "scheduled_today", "waiting", "in_exam", "awaiting_report")
UNMATCHED_KINDS = ("study", "procedure_step", "order")
GROUPS = ("modality", "priority", "patient_class", "device", "day")
VOLUME_GROUPS = ("modality", "device")
# Open orders: not ended and not finally reported (the status is the furthest milestone).
_OPEN_STATUSES = tuple(
    m.value for m in Milestone if not m.ends_exam and m is not Milestone.FINAL_REPORT
)
# Open and past the appointment: on the board whatever their schedule.
_PROGRESS_STATUSES = tuple(
    s for s in _OPEN_STATUSES if s not in (Milestone.ORDERED.value, Milestone.SCHEDULED.value)
)
_VOLUME_MEASURES = ("ordered", "performed", "reported", "cancelled", "no_shows")


@dataclass(frozen=True, slots=True)
class KeyedPage(Generic[T]):
    """One page of a list, and the sort key of its last item when more follow."""

    items: tuple[T, ...]
    next_key: tuple[Any, ...] | None = None


# --- the board --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoardPatient:
    """The patient of an order on the board."""

    identifier: str
    authority: str
    family_name: str
    given_name: str


@dataclass(frozen=True, slots=True)
class BoardItem:
    """An open order on the board, in one state since `since`."""

    state: str
    since: datetime
    accession: str
    status: str
    modality: str
    priority: str
    patient_class: str
    procedure_code: str
    procedure_text: str
    device: str
    scheduled_resource: str
    patient: BoardPatient | None
    ordered_at: datetime | None
    scheduled_start: datetime | None
    arrived_at: datetime | None
    exam_started_at: datetime | None
    exam_completed_at: datetime | None
    images_available_at: datetime | None
    preliminary_report_at: datetime | None
    minutes_waiting: float | None  # waiting only: now - arrived_at


@dataclass(frozen=True, slots=True)
class BoardQuery:
    """What the board shows: the department at `now` (today in `tz`), narrowed by filters."""

    now: datetime
    tz: ZoneInfo
    modality: str | None = None
    device: str | None = None
    states: tuple[str, ...] = ()  # narrows the items, not the counts


@dataclass(frozen=True, slots=True)
class Board:
    """Counts per state (overall, by modality, by device) and one page of the items."""

    now: datetime
    day: date
    counts: dict[str, int]
    by_modality: dict[str, dict[str, int]]
    by_device: dict[str, dict[str, int]]
    items: tuple[BoardItem, ...]
    next_key: tuple[str, datetime, int] | None = None


# The time each state began: the earliest of these that is set.
STATE_SINCE: Mapping[str, tuple[str, ...]] = {
    "ordered": ("ordered_at",),
    "scheduled_today": ("scheduled_start",),
    "waiting": ("arrived_at",),
    "in_exam": ("exam_started_at",),
    "awaiting_report": ("exam_completed_at", "images_available_at", "preliminary_report_at"),
}


async def read_board(
    conn: AsyncConnection, query: BoardQuery, *, after: tuple[str, datetime, int] | None, limit: int
) -> Board:
    """The department now: open orders by state, counted and listed; one statement.

    The state, its start and the device of each open order are worked out in SQL (the rules
    in the module docstring), so only the counts per (state, modality, device) and the page's
    rows leave the database, and only the page's rows are joined to their patient.
    """
    day = figures.local_date(query.now, query.tz)
    day_start, day_end = _board_day(day, query.tz)
    board = _board_rows(conn.dialect.name, query, day_start, day_end).cte("board")
    counts = select(
        literal(1, Integer).label("part"),
        board.c.state,
        board.c.modality,
        board.c.device,
        func.count().label("n"),
        *(null().label(name) for name in _BOARD_DETAILS),
    ).group_by(board.c.state, board.c.modality, board.c.device)
    listed = select(board.c.id, board.c.state, board.c.since, board.c.device)
    if query.states:
        listed = listed.where(board.c.state.in_([BOARD_STATES.index(s) for s in query.states]))
    if after is not None:
        state, since, order_id = after
        rank = BOARD_STATES.index(state)
        listed = listed.where(
            or_(
                board.c.state > rank,
                and_(
                    board.c.state == rank,
                    or_(
                        board.c.since > _at(since),
                        and_(board.c.since == _at(since), board.c.id > order_id),
                    ),
                ),
            )
        )
    page = (
        listed.order_by(board.c.state, board.c.since, board.c.id).limit(limit + 1).subquery("page")
    )
    shown = select(
        literal(0, Integer).label("part"),
        page.c.state,
        orders.c.modality,
        page.c.device,
        null().label("n"),
        page.c.id,
        page.c.since,
        *(orders.c[name] for name in _BOARD_ORDER_DETAILS),
        *(patients.c[name] for name in _BOARD_PATIENT_DETAILS),
    ).select_from(
        page.join(orders, orders.c.id == page.c.id).outerjoin(
            patients, orders.c.patient_id == patients.c.id
        )
    )
    both = union_all(shown, counts).subquery("both")
    statement = select(both).order_by(both.c.part, both.c.state, both.c.since, both.c.id)
    counts_all: Counter[str] = Counter()
    by_modality: dict[str, Counter[str]] = defaultdict(Counter)
    by_device: dict[str, Counter[str]] = defaultdict(Counter)
    entries: list[BoardItem] = []
    keys: list[int] = []
    for row in (await conn.execute(statement)).mappings():
        state = BOARD_STATES[row["state"]]
        if row["part"] == 1:
            counts_all[state] += row["n"]
            by_modality[row["modality"]][state] += row["n"]
            by_device[row["device"]][state] += row["n"]
            continue
        entries.append(_board_item(row, state, row["since"], row["device"], query.now))
        keys.append(row["id"])
    shown_items = entries[:limit]
    next_key = None
    if len(entries) > limit:
        last = shown_items[-1]
        next_key = (last.state, last.since, keys[limit - 1])
    return Board(
        now=query.now,
        day=day,
        counts=_state_counts(counts_all),
        by_modality={name: _state_counts(c) for name, c in sorted(by_modality.items())},
        by_device={name: _state_counts(c) for name, c in sorted(by_device.items())},
        items=tuple(shown_items),
        next_key=next_key,
    )


def _board_day(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The start and end of the board's day, local midnight to midnight."""
    return datetime.combine(day, time(), tz), datetime.combine(day + timedelta(days=1), time(), tz)


# The page's columns beyond (part, state, modality, device, n, id, since).
_BOARD_ORDER_DETAILS = (
    "accession",
    "status",
    "priority",
    "patient_class",
    "procedure_code",
    "procedure_text",
    "scheduled_resource",
    "ordered_at",
    "scheduled_start",
    "arrived_at",
    "exam_started_at",
    "exam_completed_at",
    "images_available_at",
    "preliminary_report_at",
)
_BOARD_PATIENT_DETAILS = ("identifier", "authority", "family_name", "given_name")
_BOARD_DETAILS = ("id", "since", *_BOARD_ORDER_DETAILS, *_BOARD_PATIENT_DETAILS)


def _board_rows(
    dialect: str, query: BoardQuery, day_start: datetime, day_end: datetime
) -> Select[Any]:
    """Each order on the board: id, modality, state (index in BOARD_STATES), since, device.

    The board's rules (module docstring), `STATE_SINCE` and the device, written as SQL.
    """
    c = orders.c
    today = and_(c.scheduled_start >= _at(day_start), c.scheduled_start < _at(day_end))
    candidates = or_(
        c.status.in_(_PROGRESS_STATUSES),
        # Not arrived yet: on the board only without an appointment, or with one today.
        and_(
            c.status.in_((Milestone.ORDERED.value, Milestone.SCHEDULED.value)),
            or_(c.scheduled_start.is_(None), today),
        ),
    )
    done = or_(c.exam_completed_at.is_not(None), c.preliminary_report_at.is_not(None))
    started = and_(
        c.exam_started_at.is_not(None),
        c.exam_completed_at.is_(None),
        c.preliminary_report_at.is_(None),
    )
    # The step in progress matters only to an order started and not done: looked up only then.
    open_device = case((started, _open_step_device()))
    rank = {state: number for number, state in enumerate(BOARD_STATES)}
    state = case(
        (
            and_(started, or_(open_device.is_not(None), c.images_available_at.is_(None))),
            rank["in_exam"],
        ),
        (or_(done, c.images_available_at.is_not(None)), rank["awaiting_report"]),
        (c.arrived_at.is_not(None), rank["waiting"]),
        (
            c.scheduled_start.is_not(None),
            case((and_(today, c.no_show_at.is_(None)), rank["scheduled_today"])),
        ),
        (c.ordered_at.is_not(None), rank["ordered"]),
    )
    moments = [orders.c[name] for name in sorted({n for ns in STATE_SINCE.values() for n in ns})]
    stated = select(
        c.id, c.modality, *moments, open_device.label("open_device"), state.label("state")
    )
    stated = stated.where(candidates)
    if query.modality is not None:
        stated = stated.where(c.modality == query.modality)
    # OFFSET 0 keeps this a subquery of its own, so that the state (and the step lookup in it)
    # is worked out once per order rather than again inside each expression below that uses it.
    o = stated.offset(0).subquery("open_orders")
    since = case(
        *(
            (o.c.state == rank[name], _earliest(dialect, [o.c[m] for m in columns]))
            for name, columns in STATE_SINCE.items()
        )
    )
    device = case(
        (
            and_(o.c.state == rank["in_exam"], func.coalesce(o.c.open_device, "") != ""),
            o.c.open_device,
        ),
        else_=_order_device(o.c.id),
    )
    board = select(o.c.id, o.c.modality, o.c.state, since.label("since"), device.label("device"))
    board = board.where(o.c.state.is_not(None))
    if query.device is not None:
        # Filtering on the device: an outer query, so that its lookups are written once.
        devices_known = board.subquery("on_board")
        return select(devices_known).where(devices_known.c.device == query.device)
    return board


def _earliest(dialect: str, moments: Sequence[ColumnElement[datetime]]) -> ColumnElement[datetime]:
    """The earliest of the times that are not NULL (NULL when all are)."""
    if len(moments) == 1:
        return moments[0]
    if dialect == "postgresql":
        return func.least(*moments, type_=UtcDateTime())  # LEAST skips NULLs
    # SQLite's min() of several values is NULL when one is: each argument falls back on the
    # others, so every one is a time when any is, and the set of times is unchanged.
    rotated = [
        func.coalesce(*moments[i:], *moments[:i], type_=UtcDateTime()) for i in range(len(moments))
    ]
    return func.min(*rotated, type_=UtcDateTime())


def _board_item(
    row: Mapping[str, Any], state: str, since: datetime, device: str, now: datetime
) -> BoardItem:
    patient = (
        BoardPatient(row["identifier"], row["authority"], row["family_name"], row["given_name"])
        if row["identifier"] is not None
        else None
    )
    waiting = (now - row["arrived_at"]) / timedelta(minutes=1) if state == "waiting" else None
    return BoardItem(
        state=state,
        since=since,
        accession=row["accession"],
        status=row["status"],
        modality=row["modality"],
        priority=row["priority"],
        patient_class=row["patient_class"],
        procedure_code=row["procedure_code"],
        procedure_text=row["procedure_text"],
        device=device,
        scheduled_resource=row["scheduled_resource"],
        patient=patient,
        ordered_at=row["ordered_at"],
        scheduled_start=row["scheduled_start"],
        arrived_at=row["arrived_at"],
        exam_started_at=row["exam_started_at"],
        exam_completed_at=row["exam_completed_at"],
        images_available_at=row["images_available_at"],
        preliminary_report_at=row["preliminary_report_at"],
        minutes_waiting=waiting,
    )


def _state_counts(counter: Counter[str]) -> dict[str, int]:
    return {state: counter[state] for state in BOARD_STATES}


# --- turnaround -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnaroundQuery:
    """Which figures, over which window of END times, grouped how, against which goals."""

    figures: tuple[str, ...]
    start: datetime  # inclusive
    end: datetime  # exclusive
    tz: ZoneInfo
    group_by: str | None = None  # one of GROUPS
    goals: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One figure for one group: count, percentiles in minutes, and the share within goal."""

    figure: str
    group: str | None
    count: int
    p50: float
    p90: float
    p95: float
    with_goal: int  # orders that have a goal
    within_goal: int  # of those, the ones whose value <= their goal
    share_within_goal: float | None  # within_goal / with_goal; None when no order has a goal


async def read_turnaround(
    conn: AsyncConnection, query: TurnaroundQuery, *, after: tuple[str, str] | None, limit: int
) -> KeyedPage[FigureRow]:
    """Turnaround figures by figure and group; one statement, percentiles ranked in SQL.

    `after` is the (figure, group) of the previous page's last row (keyset paging).
    """
    origin = figures.bucket_origin(query.start, query.tz, "day")
    if not any(name in query.figures for name in figures.FIGURES):
        return KeyedPage(())
    if conn.dialect.name == "postgresql":
        rows = await _disc_figure_rows(conn, query, after, limit, origin)
    else:
        rows = await _ranked_figure_rows(conn, query, after, limit, origin)
    names = list(figures.FIGURES)
    items = []
    for row in rows:
        group = _group_label(query.group_by, row.grp_num, row.grp_text, origin)
        items.append(
            (
                (names[row.fig], group or ""),
                FigureRow(
                    figure=names[row.fig],
                    group=group,
                    count=row.n,
                    p50=row.p50,
                    p90=row.p90,
                    p95=row.p95,
                    with_goal=row.with_goal,
                    within_goal=row.within_goal,
                    share_within_goal=row.within_goal / row.with_goal if row.with_goal else None,
                ),
            )
        )
    return _page(items, limit)


@dataclass(frozen=True, slots=True)
class _FigureGroup:
    """One figure of one group as a statement returns it, in (fig, grp_num, grp_text) order."""

    fig: int
    grp_num: int
    grp_text: str
    n: int
    p50: float
    p90: float
    p95: float
    with_goal: int
    within_goal: int


async def _disc_figure_rows(
    conn: AsyncConnection,
    query: TurnaroundQuery,
    after: tuple[str, str] | None,
    limit: int,
    origin: datetime,
) -> list[_FigureGroup]:
    """PostgreSQL: one index-only scan per END time, every figure ending there aggregated at once.

    Each figure's values are whole milliseconds read from its generated column; percentile_disc
    sorts them once per group (a datum sort) and returns the ranks `figures.disc_percentile`
    interpolates between. Figures ending at the same time share their scan.
    """
    by_day = query.group_by == "day"
    spans = figures.offset_spans(query.tz, query.start, query.end) if by_day else ()
    fractions = literal(list(figures.DISC_FRACTIONS), ARRAY(Float))
    ends: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for rank, (name, (_, end_name)) in enumerate(figures.FIGURES.items()):
        if name in query.figures:
            ends[end_name].append((rank, name))
    branches = []
    for end_name, named in ends.items():
        end = orders.c[end_name]
        if by_day:
            group_number = _bucket("postgresql", end, spans, origin, "day")
            group_text: ColumnElement[Any] = literal("", String)
        else:
            group_number = literal(0, BigInteger)
            group_text = _group_text(query.group_by)
        measures = []
        for rank, name in named:
            ms = orders.c[f"{name}_ms"]
            goal = _goal(query.goals, name)
            measures += [
                func.count(ms).label(f"n{rank}"),
                func.percentile_disc(fractions).within_group(ms).label(f"v{rank}"),
                func.count(goal).filter(ms.is_not(None)).label(f"g{rank}"),
                func.count()
                .filter(ms.is_not(None), cast(ms, Float) / 60000.0 <= goal)
                .label(f"w{rank}"),
            ]
        scan = (
            select(group_number.label("grp_num"), group_text.label("grp_text"), *measures)
            .where(end >= _at(query.start), end < _at(query.end), orders.c.cancelled_at.is_(None))
            .group_by(group_number, group_text)
            .cte(f"ending_{end_name}")
        )
        for rank, _ in named:
            branches.append(
                select(
                    literal(rank, Integer).label("fig"),
                    scan.c.grp_num,
                    scan.c.grp_text,
                    scan.c[f"n{rank}"].label("n"),
                    scan.c[f"v{rank}"].label("v"),
                    scan.c[f"g{rank}"].label("with_goal"),
                    scan.c[f"w{rank}"].label("within_goal"),
                ).where(scan.c[f"n{rank}"] > 0)
            )
    grouped = (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("grouped")
    statement = select(grouped)
    if after is not None:
        statement = statement.where(_after_figure(grouped, after, query.group_by, origin))
    statement = statement.order_by(grouped.c.fig, grouped.c.grp_num, grouped.c.grp_text)
    rows = []
    for row in (await conn.execute(statement.limit(limit + 1))).mappings():
        n = int(row["n"])
        minutes = [ms / 60000.0 for ms in row["v"]]
        p50, p90, p95 = (figures.disc_percentile(n, minutes, p) for p in figures.PERCENTILES)
        rows.append(
            _FigureGroup(
                row["fig"],
                int(row["grp_num"]),
                row["grp_text"],
                n,
                p50,
                p90,
                p95,
                int(row["with_goal"]),
                int(row["within_goal"]),
            )
        )
    return rows


async def _ranked_figure_rows(
    conn: AsyncConnection,
    query: TurnaroundQuery,
    after: tuple[str, str] | None,
    limit: int,
    origin: datetime,
) -> list[_FigureGroup]:
    """Any database: the figures' values unioned, ranked by window functions, interpolated."""
    dialect = conn.dialect.name
    by_day = query.group_by == "day"
    spans = figures.offset_spans(query.tz, query.start, query.end) if by_day else ()
    branches = []
    for rank, (name, (start_name, end_name)) in enumerate(figures.FIGURES.items()):
        if name not in query.figures:
            continue
        begin, end = orders.c[start_name], orders.c[end_name]
        if by_day:
            group_number = _bucket(dialect, end, spans, origin, "day")
            group_text: ColumnElement[Any] = literal("", String)
        else:
            group_number = literal(0, BigInteger)
            group_text = _group_text(query.group_by)
        branches.append(
            select(
                literal(rank, Integer).label("fig"),
                group_number.label("grp_num"),
                group_text.label("grp_text"),
                (cast(_milliseconds(dialect, begin, end), Float) / 60000.0).label("v"),
                _goal(query.goals, name).label("goal"),
            ).where(
                begin.is_not(None),
                end >= _at(query.start),
                end < _at(query.end),
                orders.c.cancelled_at.is_(None),
            )
        )
    values = (union_all(*branches) if len(branches) > 1 else branches[0]).cte("figure_values")
    part = (values.c.fig, values.c.grp_num, values.c.grp_text)
    ranked = select(
        *part,
        values.c.v,
        values.c.goal,
        (func.row_number().over(partition_by=part, order_by=values.c.v) - 1).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).cte("ranked")
    bounds = []
    for p in figures.PERCENTILES:
        low = (ranked.c.n - 1) * p // 100
        bounds.append(func.max(case((ranked.c.rn == low, ranked.c.v))).label(f"lo{p}"))
        bounds.append(func.max(case((ranked.c.rn == low + 1, ranked.c.v))).label(f"hi{p}"))
    has_goal = ranked.c.goal.is_not(None)
    grouped = (
        select(
            ranked.c.fig,
            ranked.c.grp_num,
            ranked.c.grp_text,
            func.max(ranked.c.n).label("n"),
            *bounds,
            func.sum(case((has_goal, 1), else_=0)).label("with_goal"),
            func.sum(case((has_goal & (ranked.c.v <= ranked.c.goal), 1), else_=0)).label(
                "within_goal"
            ),
        )
        .group_by(ranked.c.fig, ranked.c.grp_num, ranked.c.grp_text)
        .subquery("grouped")
    )
    percentiles = []
    for p in figures.PERCENTILES:
        low, high = grouped.c[f"lo{p}"], grouped.c[f"hi{p}"]
        fraction = cast((grouped.c.n - 1) * p % 100, Float) / 100.0
        percentiles.append((low + (func.coalesce(high, low) - low) * fraction).label(f"p{p}"))
    statement = select(
        grouped.c.fig,
        grouped.c.grp_num,
        grouped.c.grp_text,
        grouped.c.n,
        grouped.c.with_goal,
        grouped.c.within_goal,
        *percentiles,
    )
    if after is not None:
        statement = statement.where(_after_figure(grouped, after, query.group_by, origin))
    statement = statement.order_by(grouped.c.fig, grouped.c.grp_num, grouped.c.grp_text)
    return [
        _FigureGroup(
            row["fig"],
            int(row["grp_num"]),
            row["grp_text"],
            int(row["n"]),
            float(row["p50"]),
            float(row["p90"]),
            float(row["p95"]),
            int(row["with_goal"]),
            int(row["within_goal"]),
        )
        for row in (await conn.execute(statement.limit(limit + 1))).mappings()
    ]


def _after_figure(
    grouped: Any, after: tuple[str, str], group_by: str | None, origin: datetime
) -> ColumnElement[bool]:
    """Rows after the (figure, group) key in (figure, group) order."""
    figure, group = after
    rank = list(figures.FIGURES).index(figure)
    if group_by == "day":
        number, text = (date.fromisoformat(group) - origin.date()).days, ""
    else:
        number, text = 0, group
    return or_(
        grouped.c.fig > rank,
        and_(
            grouped.c.fig == rank,
            or_(
                grouped.c.grp_num > number,
                and_(grouped.c.grp_num == number, grouped.c.grp_text > text),
            ),
        ),
    )


def _group_label(group_by: str | None, number: int, text: str, origin: datetime) -> str | None:
    if group_by is None:
        return None
    if group_by == "day":
        return (origin.date() + timedelta(days=int(number))).isoformat()
    return text


def _group_text(group_by: str | None) -> ColumnElement[Any]:
    if group_by is None:
        return literal("", String)
    if group_by == "device":
        return _order_device()
    return orders.c[group_by]


def _goal(goals: Mapping[str, float], figure: str) -> ColumnElement[Any]:
    """Each order's goal: a CASE whose first match wins, its branches in `goal_rules` order."""
    whens: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = []
    fallback: float | None = None
    for rule in figures.goal_rules(goals, figure):
        conditions = [
            orders.c[column] == wanted
            for column, wanted in (
                ("modality", rule.modality),
                ("priority", rule.priority),
                ("patient_class", rule.patient_class),
            )
            if wanted is not None
        ]
        if not conditions:
            fallback = rule.minutes  # matches every order: later rules never apply
            break
        whens.append((and_(*conditions), literal(rule.minutes, Float)))
    otherwise = cast(null(), Float) if fallback is None else literal(fallback, Float)
    return case(*whens, else_=otherwise) if whens else otherwise


# --- volumes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VolumeQuery:
    """Counts per facility-local bucket over [start, end), optionally per group."""

    start: datetime  # inclusive
    end: datetime  # exclusive
    tz: ZoneInfo
    interval: str = "day"  # hour, day or week
    group_by: str | None = None  # modality or device


@dataclass(frozen=True, slots=True)
class VolumeRow:
    """Exams ordered, performed, reported, cancelled and not shown in one bucket and group."""

    bucket: datetime  # the bucket's local start, with its offset
    group: str | None
    ordered: int
    performed: int
    reported: int
    cancelled: int
    no_shows: int


async def read_volumes(
    conn: AsyncConnection, query: VolumeQuery, *, after: tuple[datetime, str] | None, limit: int
) -> KeyedPage[VolumeRow]:
    """Volumes per bucket and group, buckets oldest first; one statement.

    `after` is the (bucket start, group) of the previous page's last row (keyset paging).
    """
    dialect = conn.dialect.name
    origin = figures.bucket_origin(query.start, query.tz, query.interval)
    spans = figures.offset_spans(query.tz, query.start, query.end)
    group = literal("", String) if query.group_by is None else _group_text(query.group_by)
    branches = []
    for rank, moment, condition in _volume_times():
        branches.append(
            select(
                literal(rank, Integer).label("measure"),
                _bucket(dialect, moment, spans, origin, query.interval).label("bucket"),
                group.label("grp"),
            ).where(moment >= _at(query.start), moment < _at(query.end), condition)
        )
    events = union_all(*branches).subquery("events")
    counts = [
        func.sum(case((events.c.measure == rank, 1), else_=0)).label(name)
        for rank, name in enumerate(_VOLUME_MEASURES)
    ]
    grouped = (
        select(events.c.bucket, events.c.grp, *counts)
        .group_by(events.c.bucket, events.c.grp)
        .subquery("grouped")
    )
    statement = select(grouped)
    if after is not None:
        wall, name = after
        index = figures.bucket_index(
            origin, wall.astimezone(query.tz).replace(tzinfo=None), query.interval
        )
        statement = statement.where(
            or_(
                grouped.c.bucket > index,
                and_(grouped.c.bucket == index, grouped.c.grp > name),
            )
        )
    rows = (
        await conn.execute(statement.order_by(grouped.c.bucket, grouped.c.grp).limit(limit + 1))
    ).mappings()
    items = []
    for row in rows:
        bucket = figures.bucket_start(origin, int(row["bucket"]), query.interval, query.tz)
        items.append(
            (
                (bucket, row["grp"]),
                VolumeRow(
                    bucket=bucket,
                    group=None if query.group_by is None else row["grp"],
                    **{name: int(row[name]) for name in _VOLUME_MEASURES},
                ),
            )
        )
    return _page(items, limit)


def _volume_times() -> list[tuple[int, ColumnElement[Any], ColumnElement[bool]]]:
    """(measure, time column, condition) per branch: bare columns, so each can use an index."""
    c = orders.c
    rank = {name: number for number, name in enumerate(_VOLUME_MEASURES)}
    return [
        (rank["ordered"], c.ordered_at, true()),
        (rank["performed"], c.exam_completed_at, true()),
        # No MPPS (no exam start known): the first image says the exam was performed.
        (
            rank["performed"],
            c.images_available_at,
            c.exam_completed_at.is_(None) & c.exam_started_at.is_(None),
        ),
        (rank["reported"], c.final_report_at, true()),
        # Cancelled or discontinued, whichever came first, counted once.
        (
            rank["cancelled"],
            c.cancelled_at,
            c.discontinued_at.is_(None) | (c.cancelled_at <= c.discontinued_at),
        ),
        (
            rank["cancelled"],
            c.discontinued_at,
            c.cancelled_at.is_(None) | (c.discontinued_at < c.cancelled_at),
        ),
        (rank["no_shows"], c.no_show_at, true()),
    ]


# --- unmatched items --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnmatchedItem:
    """A study or procedure step that matches no order, or a placeholder order never placed."""

    kind: str  # study, procedure_step or order
    id: int
    accession: str
    study_instance_uid: str
    patient_identifier: str
    patient_authority: str
    first_seen: datetime
    device: str
    status: str  # the step's or order's status; "" for a study


async def list_unmatched(
    conn: AsyncConnection,
    *,
    kinds: Sequence[str] = UNMATCHED_KINDS,
    after: tuple[datetime, str, int] | None,
    limit: int,
) -> KeyedPage[UnmatchedItem]:
    """Unmatched items newest first by (first_seen, kind, id); one statement."""
    branches: list[Select[Any]] = []
    if "study" in kinds:
        branches.append(
            select(
                literal("study", String).label("kind"),
                studies.c.id,
                studies.c.accession,
                studies.c.study_instance_uid,
                studies.c.patient_identifier,
                studies.c.patient_authority,
                studies.c.first_instance_at.label("first_seen"),
                func.coalesce(devices.c.ae_title, "").label("device"),
                literal("", String).label("status"),
            )
            .select_from(studies.outerjoin(devices, studies.c.device_id == devices.c.id))
            .where(studies.c.order_id.is_(None))
        )
    if "procedure_step" in kinds:
        steps = procedure_steps.c
        branches.append(
            select(
                literal("procedure_step", String).label("kind"),
                steps.id,
                steps.accession,
                steps.study_instance_uid,
                literal("", String).label("patient_identifier"),
                literal("", String).label("patient_authority"),
                steps.created_at.label("first_seen"),
                func.coalesce(devices.c.ae_title, steps.station_ae_title).label("device"),
                steps.status,
            )
            .select_from(procedure_steps.outerjoin(devices, steps.device_id == devices.c.id))
            .where(steps.order_id.is_(None))
        )
    if "order" in kinds:
        branches.append(
            select(
                literal("order", String).label("kind"),
                orders.c.id,
                orders.c.accession,
                orders.c.study_instance_uid,
                func.coalesce(patients.c.identifier, "").label("patient_identifier"),
                func.coalesce(patients.c.authority, "").label("patient_authority"),
                orders.c.created_at.label("first_seen"),
                literal("", String).label("device"),
                orders.c.status,
            )
            .select_from(orders.outerjoin(patients, orders.c.patient_id == patients.c.id))
            .where(orders.c.ordered_at.is_(None))
        )
    listed = (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("unmatched")
    statement = select(listed)
    if after is not None:
        seen, kind, item_id = after
        statement = statement.where(
            or_(
                listed.c.first_seen < _at(seen),
                and_(
                    listed.c.first_seen == _at(seen),
                    or_(listed.c.kind > kind, and_(listed.c.kind == kind, listed.c.id < item_id)),
                ),
            )
        )
    rows = (
        await conn.execute(
            statement.order_by(listed.c.first_seen.desc(), listed.c.kind, listed.c.id.desc()).limit(
                limit + 1
            )
        )
    ).mappings()
    items = [((row["first_seen"], row["kind"], row["id"]), UnmatchedItem(**row)) for row in rows]
    return _page(items, limit)


# --- shared SQL pieces ------------------------------------------------------------------


def _at(instant: datetime) -> ColumnElement[datetime]:
    """A bound time that compares with stored times on both databases."""
    return literal(instant, UtcDateTime())


def _milliseconds(
    dialect: str, begin: ColumnElement[datetime], end: ColumnElement[datetime]
) -> ColumnElement[int]:
    """Whole milliseconds from `begin` to `end` (both databases round alike)."""
    if dialect == "sqlite":
        return cast(
            func.round((func.julianday(end) - func.julianday(begin)) * 86_400_000), BigInteger
        )
    return cast(func.round((extract("epoch", end) - extract("epoch", begin)) * 1000), BigInteger)


def _epoch_seconds(dialect: str, moment: ColumnElement[datetime]) -> ColumnElement[int]:
    """Whole seconds since 1970 UTC (floored) of a stored time."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", moment), BigInteger)
    return cast(func.floor(extract("epoch", moment)), BigInteger)


def _bucket(
    dialect: str,
    moment: ColumnElement[datetime],
    spans: Sequence[tuple[datetime | None, int]],
    origin: datetime,
    interval: str,
) -> ColumnElement[int]:
    """The index of the local bucket holding `moment`: (epoch + offset - origin) // width."""
    *changes, (_, last) = spans
    offset: ColumnElement[int] = (
        case(
            *((moment < _at(until), literal(off, BigInteger)) for until, off in changes),
            else_=literal(last, BigInteger),
        )
        if changes
        else literal(last, BigInteger)
    )
    local = (
        _epoch_seconds(dialect, moment) + offset - literal(figures.wall_seconds(origin), BigInteger)
    )
    return local // literal(figures.INTERVAL_SECONDS[interval], BigInteger)


def _order_device(order_id: ColumnElement[int] = orders.c.id) -> ColumnElement[str]:
    """The order's device: its first-started step's known one, else its first study's, else ""."""
    step = (
        select(devices.c.ae_title)
        .select_from(procedure_steps.join(devices, procedure_steps.c.device_id == devices.c.id))
        .where(procedure_steps.c.order_id == order_id)
        .order_by(procedure_steps.c.started_at.asc().nulls_last(), procedure_steps.c.id)
        .limit(1)
        .scalar_subquery()
    )
    study = (
        select(devices.c.ae_title)
        .select_from(studies.join(devices, studies.c.device_id == devices.c.id))
        .where(studies.c.order_id == order_id)
        .order_by(studies.c.first_instance_at, studies.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(step, study, "")


def _open_step_device() -> ColumnElement[str]:
    """The device of the order's MPPS step in progress ("" if unnamed); NULL when none is."""
    return (
        select(func.coalesce(devices.c.ae_title, procedure_steps.c.station_ae_title))
        .select_from(
            procedure_steps.outerjoin(devices, procedure_steps.c.device_id == devices.c.id)
        )
        .where(
            procedure_steps.c.order_id == orders.c.id,
            procedure_steps.c.status == StepStatus.IN_PROGRESS.value,
        )
        .order_by(procedure_steps.c.started_at.asc().nulls_last(), procedure_steps.c.id)
        .limit(1)
        .scalar_subquery()
    )


def _page(items: Sequence[tuple[tuple[Any, ...], T]], limit: int) -> KeyedPage[T]:
    """A page from up to `limit + 1` keyed items (the extra one says that more follow)."""
    shown = items[:limit]
    next_key = shown[-1][0] if len(items) > limit else None
    return KeyedPage(tuple(item for _, item in shown), next_key)
