"""Billing periods: anchor-day clamping without drift, first periods, and local midnights across DST."""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.domain.periods import (
    BillingCycle,
    cycle_for,
    local_date,
    local_midnight,
    next_anchor_boundary,
    period_bounds,
)
from billow.domain.plan import INTERVALS, Interval

MONTHLY: tuple[Interval, ...] = ("month", "quarter", "year")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def boundaries(cycle: BillingCycle, start: date, count: int) -> list[date]:
    return [cycle.add(start, k) for k in range(count)]


# --- add: month-type clamping -------------------------------------------------------------------


def test_monthly_from_jan_31_clamps_and_returns_to_31() -> None:
    cycle = cycle_for("month", 1, date(2026, 1, 31), None)
    assert cycle.anchor_day == 31
    assert boundaries(cycle, date(2026, 1, 31), 6) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
    ]


def test_monthly_from_jan_31_in_a_leap_year() -> None:
    cycle = cycle_for("month", 1, date(2028, 1, 31), None)
    assert cycle.add(date(2028, 1, 31)) == date(2028, 2, 29)
    assert cycle.add(date(2028, 1, 31), 2) == date(2028, 3, 31)


def test_chained_adds_do_not_drift_either() -> None:
    """add() takes the anchor day, not the boundary's day, so even one step at a time stays on 31."""
    cycle = cycle_for("month", 1, date(2026, 1, 31), None)
    day = date(2026, 1, 31)
    for _ in range(12):
        day = cycle.add(day)
    assert day == date(2027, 1, 31)


def test_anchor_on_a_short_months_last_day_keeps_its_own_day() -> None:
    """A subscription started on Apr 30 is anchored on the 30th, not on 'the month's end'."""
    cycle = cycle_for("month", 1, date(2026, 4, 30), None)
    assert boundaries(cycle, date(2026, 4, 30), 4) == [
        date(2026, 4, 30),
        date(2026, 5, 30),
        date(2026, 6, 30),
        date(2026, 7, 30),
    ]
    assert cycle.add(date(2027, 1, 30)) == date(2027, 2, 28)
    assert cycle.add(date(2027, 1, 30), 2) == date(2027, 3, 30)


def test_yearly_from_feb_29_over_eight_years() -> None:
    cycle = cycle_for("year", 1, date(2028, 2, 29), None)
    assert boundaries(cycle, date(2028, 2, 29), 9) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
        date(2033, 2, 28),
        date(2034, 2, 28),
        date(2035, 2, 28),
        date(2036, 2, 29),
    ]


def test_quarterly_from_nov_30() -> None:
    cycle = cycle_for("quarter", 1, date(2025, 11, 30), None)
    assert boundaries(cycle, date(2025, 11, 30), 6) == [
        date(2025, 11, 30),
        date(2026, 2, 28),
        date(2026, 5, 30),
        date(2026, 8, 30),
        date(2026, 11, 30),
        date(2027, 2, 28),
    ]


def test_every_two_months_and_every_two_years() -> None:
    assert cycle_for("month", 2, date(2025, 12, 31), None).add(date(2025, 12, 31)) == date(2026, 2, 28)
    assert cycle_for("year", 2, date(2026, 3, 15), None).add(date(2026, 3, 15), 3) == date(2032, 3, 15)
    assert cycle_for("quarter", 2, date(2026, 1, 31), None).add(date(2026, 1, 31)) == date(2026, 7, 31)


def test_week_and_day_with_interval_count_two() -> None:
    fortnight = cycle_for("week", 2, date(2026, 2, 20), None)
    assert boundaries(fortnight, date(2026, 2, 20), 4) == [
        date(2026, 2, 20),
        date(2026, 3, 6),
        date(2026, 3, 20),
        date(2026, 4, 3),
    ]
    every_other_day = cycle_for("day", 2, date(2028, 2, 27), None)
    assert boundaries(every_other_day, date(2028, 2, 27), 4) == [
        date(2028, 2, 27),
        date(2028, 2, 29),
        date(2028, 3, 2),
        date(2028, 3, 4),
    ]
    assert fortnight.add(date(2026, 3, 6), -1) == date(2026, 2, 20)
    assert every_other_day.add(date(2028, 3, 4), -3) == date(2028, 2, 27)


def test_negative_add_clamps_too() -> None:
    cycle = BillingCycle("month", 1, 31)
    assert cycle.add(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert cycle.add(date(2028, 3, 31), -1) == date(2028, 2, 29)
    assert cycle.add(date(2026, 3, 31), -2) == date(2026, 1, 31)
    assert cycle.add(date(2026, 1, 31), -2) == date(2025, 11, 30)
    assert cycle.add(date(2026, 3, 31), 0) == date(2026, 3, 31)


# --- first period ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "anchor", "start", "end"),
    [
        ("month", 1, date(2026, 4, 10), date(2026, 5, 1)),
        ("month", 1, date(2026, 4, 1), date(2026, 5, 1)),  # on the anchor: a full period
        ("month", 31, date(2026, 2, 10), date(2026, 2, 28)),
        ("month", 31, date(2028, 2, 10), date(2028, 2, 29)),
        ("month", 31, date(2026, 2, 28), date(2026, 3, 31)),  # Feb 28 is February's anchor date
        ("month", 15, date(2026, 1, 20), date(2026, 2, 15)),
        ("month", 15, date(2026, 1, 10), date(2026, 1, 15)),
        ("month", 30, date(2026, 1, 31), date(2026, 2, 28)),
        ("month", 1, date(2026, 12, 5), date(2027, 1, 1)),
        ("quarter", 1, date(2026, 1, 1), date(2026, 4, 1)),
        ("quarter", 1, date(2026, 4, 10), date(2026, 5, 1)),  # short period to the next anchor date
        ("year", 15, date(2026, 6, 15), date(2027, 6, 15)),
    ],
)
def test_first_period_end_with_a_day_of_month_anchor(
    interval: Interval, anchor: int, start: date, end: date
) -> None:
    cycle = cycle_for(interval, 1, start, anchor)
    assert cycle.first_period_end(start, day_of_month_anchor=True) == end


def test_first_period_end_on_the_anniversary_is_one_full_cycle() -> None:
    assert cycle_for("month", 1, date(2026, 1, 31), None).first_period_end(
        date(2026, 1, 31), day_of_month_anchor=False
    ) == date(2026, 2, 28)
    assert cycle_for("week", 1, date(2026, 3, 4), None).first_period_end(
        date(2026, 3, 4), day_of_month_anchor=False
    ) == date(2026, 3, 11)
    assert cycle_for("quarter", 1, date(2026, 4, 10), None).first_period_end(
        date(2026, 4, 10), day_of_month_anchor=False
    ) == date(2026, 7, 10)


def test_a_day_of_month_anchor_needs_a_month_type_cycle() -> None:
    with pytest.raises(ValueError, match="month, quarter or year"):
        BillingCycle("week", 1, 3).first_period_end(date(2026, 3, 4), day_of_month_anchor=True)


def test_trial_then_anchor_worked_example() -> None:
    """API.md: anchor day 1, trial of 5 days from April 1, so the first paid period is Apr 6 - May 1."""
    cycle = cycle_for("month", 1, date(2026, 4, 1), 1)
    paid_from = date(2026, 4, 1) + timedelta(days=5)
    end = cycle.first_period_end(paid_from, day_of_month_anchor=True)
    assert end == date(2026, 5, 1)
    assert cycle.nominal_start(end) == date(2026, 4, 1)
    assert cycle.days_in_period(end) == 30


@pytest.mark.parametrize(
    ("cycle", "end", "days"),
    [
        (BillingCycle("month", 1, 1), date(2026, 4, 1), 31),
        (BillingCycle("month", 1, 1), date(2026, 3, 1), 28),
        (BillingCycle("month", 1, 1), date(2028, 3, 1), 29),
        (BillingCycle("month", 1, 31), date(2026, 3, 31), 31),  # Feb 28 - Mar 31
        (BillingCycle("month", 1, 31), date(2026, 2, 28), 28),  # Jan 31 - Feb 28
        (BillingCycle("quarter", 1, 1), date(2026, 4, 1), 90),
        (BillingCycle("year", 1, 1), date(2029, 1, 1), 366),
        (BillingCycle("week", 2, 1), date(2026, 3, 30), 14),
        (BillingCycle("day", 3, 1), date(2026, 3, 30), 3),
    ],
)
def test_days_in_period(cycle: BillingCycle, end: date, days: int) -> None:
    assert cycle.days_in_period(end) == days


# --- cycle_for validation -----------------------------------------------------------------------


def test_cycle_for_anchors_on_the_start_day_by_default() -> None:
    assert cycle_for("month", 3, date(2026, 5, 17), None) == BillingCycle("month", 3, 17)
    assert cycle_for("month", 1, date(2026, 5, 17), 31) == BillingCycle("month", 1, 31)
    assert cycle_for("day", 1, date(2026, 5, 17), None).interval == "day"


@pytest.mark.parametrize(
    ("interval", "count", "day_of_month"),
    [
        ("month", 1, 0),
        ("month", 1, 32),
        ("week", 1, 1),
        ("day", 1, 15),
        ("month", 0, None),
        ("year", -1, None),
        ("fortnight", 1, None),
    ],
)
def test_cycle_for_rejects_bad_input(interval: str, count: int, day_of_month: int | None) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        cycle_for(interval, count, date(2026, 1, 1), day_of_month)  # type: ignore[arg-type]


# --- next_anchor_boundary ------------------------------------------------------------------------


def test_next_anchor_boundary_is_the_end_of_the_period_containing_the_day() -> None:
    cycle = BillingCycle("month", 1, 31)
    start = date(2026, 1, 31)
    assert next_anchor_boundary(cycle, date(2026, 1, 31), start) == date(2026, 2, 28)
    assert next_anchor_boundary(cycle, date(2026, 2, 27), start) == date(2026, 2, 28)
    assert next_anchor_boundary(cycle, date(2026, 2, 28), start) == date(2026, 3, 31)
    assert next_anchor_boundary(cycle, date(2026, 3, 30), start) == date(2026, 3, 31)
    assert next_anchor_boundary(cycle, date(2027, 2, 28), start) == date(2027, 3, 31)
    assert next_anchor_boundary(cycle, date(2025, 6, 1), start) == start  # before the first boundary


def test_next_anchor_boundary_for_days_weeks_and_quarters() -> None:
    assert next_anchor_boundary(BillingCycle("week", 2, 1), date(2026, 3, 6), date(2026, 2, 20)) == date(
        2026, 3, 20
    )
    assert next_anchor_boundary(BillingCycle("day", 1, 1), date(2030, 1, 1), date(2026, 1, 1)) == date(
        2030, 1, 2
    )
    assert next_anchor_boundary(
        BillingCycle("quarter", 1, 30), date(2026, 5, 29), date(2025, 11, 30)
    ) == date(2026, 5, 30)


@given(
    interval=st.sampled_from(INTERVALS),
    count=st.integers(1, 4),
    start=st.dates(date(2000, 1, 1), date(2080, 12, 31)),
    offset=st.integers(-100, 3000),
)
def test_next_anchor_boundary_matches_a_plain_walk(
    interval: Interval, count: int, start: date, offset: int
) -> None:
    cycle = cycle_for(interval, count, start, None)
    after = start + timedelta(days=offset)
    found = next_anchor_boundary(cycle, after, start)
    k = 0
    while cycle.add(start, k) <= after:
        k += 1
    assert found == cycle.add(start, k)
    assert found > after
    assert k == 0 or cycle.add(start, k - 1) <= after


# --- properties ---------------------------------------------------------------------------------


@given(
    interval=st.sampled_from(INTERVALS),
    count=st.integers(1, 36),
    start=st.dates(date(1900, 1, 1), date(2200, 12, 31)).filter(lambda d: d.day <= 28),
    periods=st.integers(-50, 50),
)
def test_add_then_subtract_returns_to_the_boundary(
    interval: Interval, count: int, start: date, periods: int
) -> None:
    cycle = BillingCycle(interval, count, start.day)
    assert cycle.add(cycle.add(start, periods), -periods) == start


@given(
    start=st.dates(date(1900, 1, 1), date(2200, 12, 31)),
    anchor=st.integers(1, 31),
    count=st.integers(1, 3),
)
def test_monthly_boundaries_increase_and_every_period_is_28_to_31_days(
    start: date, anchor: int, count: int
) -> None:
    cycle = BillingCycle("month", 1, anchor)
    first = cycle.add(start, 0)  # the anchor date in start's month
    dates = [cycle.add(first, k) for k in range(40)]
    for earlier, later in itertools.pairwise(dates):
        assert 28 <= (later - earlier).days <= 31
        assert later.day == min(anchor, calendar.monthrange(later.year, later.month)[1])
    multi = BillingCycle("month", count, anchor)
    steps = [multi.add(first, k) for k in range(-10, 10)]
    assert all(a < b for a, b in itertools.pairwise(steps))


@given(
    interval=st.sampled_from(MONTHLY),
    anchor=st.integers(1, 31),
    start=st.dates(date(2000, 1, 1), date(2100, 12, 31)),
)
def test_first_period_end_is_the_next_anchor_date_or_a_full_cycle(
    interval: Interval, anchor: int, start: date
) -> None:
    cycle = BillingCycle(interval, 1, anchor)
    end = cycle.first_period_end(start, day_of_month_anchor=True)
    assert end > start
    assert cycle.add(end, 0) == end  # end is an anchor date
    if cycle.add(start, 0) == start:
        assert end == cycle.add(start)
    else:
        assert (end - start).days <= 31
        between = [start + timedelta(days=n) for n in range(1, (end - start).days)]
        assert all(cycle.add(d, 0) != d for d in between)
    assert cycle.nominal_start(end) < end


# --- time zones ---------------------------------------------------------------------------------


def test_berlin_spring_forward() -> None:
    assert local_midnight(date(2026, 3, 29), "Europe/Berlin") == utc(2026, 3, 28, 23)
    assert local_midnight(date(2026, 3, 30), "Europe/Berlin") == utc(2026, 3, 29, 22)
    start, end = period_bounds(date(2026, 3, 29), date(2026, 3, 30), "Europe/Berlin")
    assert end - start == timedelta(hours=23)


def test_berlin_fall_back() -> None:
    start, end = period_bounds(date(2026, 10, 25), date(2026, 10, 26), "Europe/Berlin")
    assert start == utc(2026, 10, 24, 22)
    assert end == utc(2026, 10, 25, 23)
    assert end - start == timedelta(hours=25)


def test_berlin_month_across_both_changes() -> None:
    start, end = period_bounds(date(2026, 3, 1), date(2026, 11, 1), "Europe/Berlin")
    assert start == utc(2026, 2, 28, 23)
    assert end == utc(2026, 10, 31, 23)


def test_los_angeles_dst() -> None:
    spring = period_bounds(date(2026, 3, 8), date(2026, 3, 9), "America/Los_Angeles")
    assert spring == (utc(2026, 3, 8, 8), utc(2026, 3, 9, 7))
    fall = period_bounds(date(2026, 11, 1), date(2026, 11, 2), "America/Los_Angeles")
    assert fall == (utc(2026, 11, 1, 7), utc(2026, 11, 2, 8))
    assert fall[1] - fall[0] == timedelta(hours=25)


@pytest.mark.parametrize(
    ("zone", "day", "first_instant", "local_wall_clock"),
    [
        # Clocks jump from 00:00 to 01:00: the day starts at 01:00 local.
        ("America/Havana", date(2026, 3, 8), utc(2026, 3, 8, 5), (1, 0)),
        ("America/Santiago", date(2026, 9, 6), utc(2026, 9, 6, 4), (1, 0)),
        ("Asia/Beirut", date(2026, 3, 29), utc(2026, 3, 28, 22), (1, 0)),
    ],
)
def test_midnight_in_a_dst_gap_is_the_end_of_the_gap(
    zone: str, day: date, first_instant: datetime, local_wall_clock: tuple[int, int]
) -> None:
    # The tz data really has the gap: midnight read with either fold does not round-trip.
    for fold in (0, 1):
        naive_midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone), fold=fold)
        assert naive_midnight.astimezone(UTC).astimezone(ZoneInfo(zone)).hour != 0
    found = local_midnight(day, zone)
    assert found == first_instant
    local = found.astimezone(ZoneInfo(zone))
    assert local.date() == day
    assert (local.hour, local.minute) == local_wall_clock
    assert local_date(found - timedelta(seconds=1), zone) == day - timedelta(days=1)


def test_a_repeated_midnight_is_the_earlier_one() -> None:
    """Havana falls back from 01:00 to 00:00 on 2026-11-01: midnight happens twice."""
    found = local_midnight(date(2026, 11, 1), "America/Havana")
    assert found == utc(2026, 11, 1, 4)
    assert local_date(found - timedelta(seconds=1), "America/Havana") == date(2026, 10, 31)


def test_a_skipped_day_has_no_length() -> None:
    """Samoa skipped 2011-12-30 entirely; that day starts and ends when Dec 31 starts."""
    start, end = period_bounds(date(2011, 12, 30), date(2011, 12, 31), "Pacific/Apia")
    assert start == end == utc(2011, 12, 30, 10)


def test_local_midnight_is_utc() -> None:
    found = local_midnight(date(2026, 7, 1), "Asia/Kolkata")
    assert found.utcoffset() == timedelta(0)
    assert found == datetime(2026, 6, 30, 18, 30, tzinfo=UTC)


def test_local_date() -> None:
    assert local_date(utc(2026, 3, 28, 23, 30), "Europe/Berlin") == date(2026, 3, 29)
    assert local_date(utc(2026, 3, 28, 22, 59), "Europe/Berlin") == date(2026, 3, 28)
    assert local_date(utc(2026, 1, 1, 5), "America/Los_Angeles") == date(2025, 12, 31)
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2026, 1, 1), "Europe/Berlin")


def test_unknown_timezone() -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        local_midnight(date(2026, 1, 1), "Mars/Olympus_Mons")


@given(
    day=st.dates(date(1990, 1, 1), date(2060, 12, 31)),
    zone=st.sampled_from(
        ["Europe/Berlin", "America/Los_Angeles", "America/Havana", "America/Santiago", "Asia/Beirut", "UTC"]
    ),
)
def test_local_midnight_is_the_first_instant_of_the_day(day: date, zone: str) -> None:
    found = local_midnight(day, zone)
    assert local_date(found, zone) == day
    assert local_date(found - timedelta(seconds=1), zone) < day
    following = local_midnight(day + timedelta(days=1), zone)
    assert timedelta(hours=22) <= following - found <= timedelta(hours=26)
