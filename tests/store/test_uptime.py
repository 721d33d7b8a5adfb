"""Equipment figures over hand-built timelines, and the laws the interval algebra keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.uptime import (
    DeviceFigures,
    Interval,
    ProbeResult,
    clip,
    close_open,
    daily_windows,
    device_figures,
    down_intervals_from_probes,
    fleet_figures,
    intersect,
    measure,
    observed_intervals,
    subtract,
    union,
)

T0 = datetime(2026, 5, 1, tzinfo=UTC)
DAY = Interval(T0, T0 + timedelta(hours=24))
MINUTE = timedelta(minutes=1)


def _t(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _iv(start: float, end: float) -> Interval:
    return Interval(_t(start), _t(end))


def _figures(**timeline: list[Interval]) -> DeviceFigures:
    lists = {"observed_up": [], "observed_down": [], "planned": [], "unplanned": [], "busy": []}
    return device_figures(DAY, **{**lists, **timeline}, exams=0)


def test_planned_wins_over_overlapping_unplanned_downtime() -> None:
    """Planned 08-12 and unplanned 10-14: 4 h planned, only 12-14 is down, one failure."""
    figures = _figures(observed_up=[_iv(0, 24)], planned=[_iv(8, 12)], unplanned=[_iv(10, 14)])
    assert figures == DeviceFigures(
        window_hours=24.0,
        planned_hours=4.0,
        down_hours=2.0,
        unknown_hours=0.0,
        up_hours=18.0,
        failures=1,
        availability=pytest.approx(0.9),
        mtbf_hours=18.0,
        mttr_hours=2.0,
        busy_hours=0.0,
        utilization=0.0,
        exams=0,
    )


def test_down_across_the_window_edges() -> None:
    """Down from before the start and past the end counts inside W; only the later one fails."""
    figures = _figures(
        observed_up=[_iv(-6, -2), _iv(3, 20), _iv(26, 30)],
        observed_down=[_iv(-2, 3), _iv(20, 26)],
    )
    assert (figures.down_hours, figures.up_hours, figures.unknown_hours) == (7.0, 17.0, 0.0)
    assert figures.failures == 1
    assert figures.availability == pytest.approx(17 / 24)
    assert (figures.mtbf_hours, figures.mttr_hours) == (17.0, 7.0)


def test_unknown_time_at_the_start_and_in_a_gap() -> None:
    """Nothing seen 00-02 and 10-12 is unknown and leaves the availability denominator."""
    figures = _figures(
        observed_up=[_iv(2, 10), _iv(12, 20)],
        observed_down=close_open([Interval(_t(20))], DAY.end),
    )
    assert (figures.unknown_hours, figures.down_hours, figures.up_hours) == (4.0, 4.0, 16.0)
    assert figures.failures == 1
    assert figures.availability == pytest.approx(0.8)
    assert (figures.mtbf_hours, figures.mttr_hours) == (16.0, 4.0)


def test_no_failures() -> None:
    """A device up all day: availability 1.0, no MTBF or MTTR."""
    figures = _figures(observed_up=[_iv(-1, 25)])
    assert figures.availability == 1.0
    assert (figures.failures, figures.mtbf_hours, figures.mttr_hours) == (0, None, None)
    assert figures.up_hours == 24.0


def test_a_window_entirely_planned() -> None:
    """All of W planned: nothing is down, and neither ratio has a denominator."""
    figures = _figures(planned=[_iv(-1, 25)], observed_down=[_iv(5, 6)], busy=[_iv(1, 2)])
    assert (figures.planned_hours, figures.down_hours, figures.up_hours) == (24.0, 0.0, 0.0)
    assert (figures.availability, figures.utilization, figures.failures) == (None, None, 0)
    assert figures.busy_hours == 0.0


def test_busy_time_overlapping_down_time() -> None:
    """Busy 09-13 and 20-22 around down 10-12 counts 4 h over the 22 h not down."""
    figures = device_figures(
        DAY,
        observed_up=[_iv(0, 10), _iv(12, 24)],
        observed_down=[_iv(10, 12)],
        planned=[],
        unplanned=[],
        busy=[_iv(9, 13), _iv(20, 22), _iv(21, 22)],
        exams=3,
    )
    assert (figures.busy_hours, figures.exams) == (4.0, 3)
    assert figures.utilization == pytest.approx(2 / 11)


def test_a_down_stretch_split_by_planned_downtime_is_two_failures() -> None:
    """Down 10-16 with planned 12-14 inside leaves 10-12 and 14-16: two failures of 2 h."""
    figures = _figures(observed_down=[_iv(10, 16)], planned=[_iv(12, 14)])
    assert (figures.failures, figures.down_hours, figures.mttr_hours) == (2, 4.0, 2.0)


def test_fleet_recomputes_ratios_from_sums() -> None:
    """The fleet's availability is 1 - 6/36, not the 0.825 average of 0.9 and 0.75."""
    a = DeviceFigures(24.0, 4.0, 2.0, 0.0, 18.0, 1, 0.9, 18.0, 2.0, 6.0, 1 / 3, 5)
    b = DeviceFigures(24.0, 0.0, 4.0, 8.0, 12.0, 1, 0.75, 12.0, 4.0, 10.0, 0.5, 7)
    fleet = fleet_figures([a, b])
    assert fleet == DeviceFigures(
        window_hours=48.0,
        planned_hours=4.0,
        down_hours=6.0,
        unknown_hours=8.0,
        up_hours=30.0,
        failures=2,
        availability=pytest.approx(5 / 6),
        mtbf_hours=15.0,
        mttr_hours=3.0,
        busy_hours=16.0,
        utilization=pytest.approx(8 / 19),
        exams=12,
    )


def test_an_empty_fleet() -> None:
    """No devices: zero hours and no ratios."""
    fleet = fleet_figures([])
    assert (fleet.window_hours, fleet.failures, fleet.exams) == (0.0, 0, 0)
    assert (fleet.availability, fleet.utilization, fleet.mtbf_hours) == (None, None, None)


def test_open_intervals_must_be_closed_first() -> None:
    """An open interval is refused until close_open ends it; one opened later is dropped."""
    with pytest.raises(ValueError, match="open"):
        union([Interval(_t(1))])
    assert close_open([Interval(_t(1)), Interval(_t(30)), _iv(2, 3)], _t(24)) == [
        _iv(1, 24),
        _iv(2, 3),
    ]


def test_union_merges_touching_intervals() -> None:
    """Touching intervals merge, empty ones vanish, and the result is sorted."""
    assert union([_iv(5, 6), _iv(1, 2), _iv(2, 3), _iv(4, 4)]) == [_iv(1, 3), _iv(5, 6)]
    assert subtract([_iv(0, 10)], [_iv(2, 3), _iv(5, 6)]) == [_iv(0, 2), _iv(3, 5), _iv(6, 10)]
    assert intersect([_iv(0, 4), _iv(6, 9)], [_iv(3, 7)]) == [_iv(3, 4), _iv(6, 7)]


def test_daily_windows_across_daylight_saving_changes() -> None:
    """Berlin's spring-forward day is 23 h, its fall-back day 25 h; the ends stay partial."""
    berlin = ZoneInfo("Europe/Berlin")
    spring = daily_windows(
        Interval(datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 3, 30, 6, tzinfo=UTC)),
        berlin,
    )
    assert spring == [
        Interval(datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 3, 28, 23, tzinfo=UTC)),
        Interval(datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC)),
        Interval(datetime(2026, 3, 29, 22, tzinfo=UTC), datetime(2026, 3, 30, 6, tzinfo=UTC)),
    ]
    autumn = daily_windows(
        Interval(datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)),
        berlin,
    )
    assert [measure([day]) for day in autumn] == [timedelta(hours=25)]


# The prober's default: 60 s between probes, 3 failures in a row before down.
PROBE = timedelta(seconds=60)


def _probes(*outcomes: tuple[int, bool]) -> list[ProbeResult]:
    return [
        ProbeResult(T0 + timedelta(seconds=s), ok, "" if ok else "timeout") for s, ok in outcomes
    ]


def _span(start: int, end: int) -> Interval:
    return Interval(T0 + timedelta(seconds=start), T0 + timedelta(seconds=end))


def test_fewer_than_n_failures_stay_up() -> None:
    """Two failures in a row, then a success: no down time."""
    results = _probes((0, True), (60, False), (120, False), (180, True))
    up, down = down_intervals_from_probes(results, failures_to_down=3, interval=PROBE)
    assert (up, down) == ([_span(0, 240)], [])


def test_n_failures_open_down_at_the_first_failure() -> None:
    """Three failures in a row: down from the first of them until the success."""
    results = _probes((0, True), (60, False), (120, False), (180, False), (240, True))
    up, down = down_intervals_from_probes(results, failures_to_down=3, interval=PROBE)
    assert down == [_span(60, 240)]
    assert up == [_span(0, 60), _span(240, 300)]


def test_the_first_success_closes_down() -> None:
    """One success ends the down interval; a lone failure after it stays up."""
    results = _probes(
        (0, False), (60, False), (120, False), (180, False), (240, True), (300, False), (360, True)
    )
    up, down = down_intervals_from_probes(results, failures_to_down=3, interval=PROBE)
    assert (up, down) == ([_span(240, 420)], [_span(0, 240)])


def test_a_gap_longer_than_two_intervals_is_unknown() -> None:
    """Probes 240 s apart leave 120-300 unobserved; 120 s apart is still covered."""
    results = _probes((0, True), (60, True), (300, True), (420, True))
    up, down = down_intervals_from_probes(results, failures_to_down=3, interval=PROBE)
    assert (up, down) == ([_span(0, 120), _span(300, 480)], [])
    figures = device_figures(
        _span(0, 480),
        observed_up=up,
        observed_down=down,
        planned=[],
        unplanned=[],
        busy=[],
        exams=0,
    )
    assert figures.unknown_hours * 3600 == pytest.approx(180)


def test_down_carries_across_a_gap() -> None:
    """A gap neither opens nor closes down: failures on both sides stay down until a success."""
    results = _probes((0, False), (60, False), (120, False), (400, False), (460, True))
    up, down = down_intervals_from_probes(results, failures_to_down=3, interval=PROBE)
    assert (up, down) == ([_span(460, 520)], [_span(0, 180), _span(400, 460)])


def test_probe_results_out_of_order_are_refused() -> None:
    """Results must come in time order, and N must be at least 1."""
    with pytest.raises(ValueError, match="order"):
        down_intervals_from_probes(
            _probes((60, True), (0, True)), failures_to_down=3, interval=PROBE
        )
    with pytest.raises(ValueError, match="failures_to_down"):
        down_intervals_from_probes([], failures_to_down=0, interval=PROBE)


# Instants from 5 h before T0 to 30 h after, on a minute grid (so intervals touch and overlap
# often) with a microsecond offset now and then (so exactness is tested too).
_instants = st.builds(
    lambda minutes, micros: T0 + minutes * MINUTE + timedelta(microseconds=micros),
    st.integers(-300, 1800),
    st.one_of(st.just(0), st.integers(0, 999_999)),
)
_intervals = st.builds(lambda a, b: Interval(min(a, b), max(a, b)), _instants, _instants)
_lists = st.lists(_intervals, max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    window=_intervals,
    up=_lists,
    down=_lists,
    planned=_lists,
    unplanned=_lists,
    busy=_lists,
)
def test_figures_stay_in_range_and_partition_the_window(
    *,
    window: Interval,
    up: list[Interval],
    down: list[Interval],
    planned: list[Interval],
    unplanned: list[Interval],
    busy: list[Interval],
) -> None:
    """Ratios in [0, 1], hours >= 0, and up + down + planned + unknown is |W| to the µs."""
    figures = device_figures(
        window,
        observed_up=up,
        observed_down=down,
        planned=planned,
        unplanned=unplanned,
        busy=busy,
        exams=0,
    )
    hours = (figures.up_hours, figures.down_hours, figures.planned_hours, figures.unknown_hours)
    assert all(value >= 0 for value in (*hours, figures.busy_hours))
    assert abs(sum(hours) - figures.window_hours) * 3600 <= 1e-6
    assert figures.availability is None or 0 <= figures.availability <= 1
    assert figures.utilization is None or 0 <= figures.utilization <= 1
    # The other reading of up: what was seen up inside W and is neither planned nor down.
    seen_up = subtract(clip(up, window), [*planned, *down, *unplanned])
    assert figures.up_hours == pytest.approx(measure(seen_up) / timedelta(hours=1), abs=1e-9)
    fleet = fleet_figures([figures, figures])
    assert fleet.availability is None or 0 <= fleet.availability <= 1
    assert fleet.utilization is None or 0 <= fleet.utilization <= 1


@settings(max_examples=150, deadline=None)
@given(a=_lists, b=_lists)
def test_union_laws(a: list[Interval], b: list[Interval]) -> None:
    """Union is idempotent and order-free; measure is subadditive and splits by subtraction."""
    assert union(union(a)) == union(a)
    assert union([*a, *b]) == union([*reversed(b), *a])
    assert measure(union([*a, *b])) <= measure(a) + measure(b)
    assert measure(a) == measure(intersect(a, b)) + measure(subtract(a, b))


def test_observed_intervals_split_sessions_at_transitions() -> None:
    """A session split where the prober saw down and up; a later session starts in the
    state of the last transition before it; the gap between sessions is in neither."""
    t = datetime(2026, 3, 2, tzinfo=UTC)
    h = timedelta(hours=1)
    sessions = [(t, t + 10 * h), (t + 12 * h, t + 14 * h)]
    transitions = [(t + 2 * h, "down"), (t + 4 * h, "up"), (t + 9 * h, "down")]
    up, down = observed_intervals(sessions, transitions)
    assert up == [Interval(t, t + 2 * h), Interval(t + 4 * h, t + 9 * h)]
    assert down == [
        Interval(t + 2 * h, t + 4 * h),
        Interval(t + 9 * h, t + 10 * h),
        Interval(t + 12 * h, t + 14 * h),
    ]
