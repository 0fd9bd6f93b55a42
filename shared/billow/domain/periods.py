"""Billing periods: half-open [start, end) spans of local dates in the tenant's timezone.

A boundary is a local date; the period's instants run from local midnight of its start to local
midnight of its end. Month-type cycles (month, quarter, year) keep an anchor day and clamp it to
the month's last day. Every boundary is computed from one reference boundary in a single step
(never by adding one period at a time), so a clamp in February never drags later months from
the 31st down to the 28th.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billow.domain.plan import INTERVALS, Interval

_MONTHS_PER_INTERVAL: dict[Interval, int] = {"month": 1, "quarter": 3, "year": 12}
_DAYS_PER_INTERVAL: dict[Interval, int] = {"day": 1, "week": 7}


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _anchored(year: int, month: int, anchor_day: int) -> date:
    """The anchor date of a month: the anchor day, or the month's last day if the month is shorter."""
    return date(year, month, min(anchor_day, _last_day(year, month)))


def _shift_months(day: date, months: int, anchor_day: int) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return _anchored(year, month0 + 1, anchor_day)


@dataclass(frozen=True)
class BillingCycle:
    """How a subscription's periods repeat: `interval_count` intervals, month types on `anchor_day`."""

    interval: Interval
    interval_count: int
    anchor_day: int  # 1..31; only month, quarter and year use it

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise ValueError(f"unknown interval {self.interval!r}")
        if self.interval_count < 1:
            raise ValueError("interval_count must be at least 1")
        if not 1 <= self.anchor_day <= 31:
            raise ValueError("anchor_day must be between 1 and 31")

    @property
    def is_monthly(self) -> bool:
        """Month, quarter and year: periods follow the calendar and keep the anchor day."""
        return self.interval in _MONTHS_PER_INTERVAL

    def add(self, day: date, periods: int = 1) -> date:
        """The boundary `periods` whole cycles after (negative: before) the boundary `day`.

        Month types move from `day`'s year and month and then take the anchor day, clamped to the
        target month's length; `day`'s own day of month does not matter. Day and week types add days.
        """
        if self.is_monthly:
            months = periods * self.interval_count * _MONTHS_PER_INTERVAL[self.interval]
            return _shift_months(day, months, self.anchor_day)
        return day + timedelta(days=periods * self.interval_count * _DAYS_PER_INTERVAL[self.interval])

    def first_period_end(self, start: date, *, day_of_month_anchor: bool) -> date:
        """The end of the first period of a subscription whose first period starts on `start`.

        Anniversary billing: one full cycle. Day-of-month anchoring: the next anchor date strictly
        after `start` (a short first period, prorated against `nominal_start`), or a full cycle when
        `start` already is an anchor date. The short period reaches only the next anchor date, even
        for quarter and year cycles.
        """
        if not day_of_month_anchor:
            return self.add(start)
        if not self.is_monthly:
            raise ValueError(
                f"a day-of-month anchor needs a month, quarter or year interval, not {self.interval}"
            )
        this_month = _anchored(start.year, start.month, self.anchor_day)
        if start == this_month:
            return self.add(start)
        if start < this_month:
            return this_month
        return _shift_months(start, 1, self.anchor_day)

    def nominal_start(self, end: date) -> date:
        """The start of the full period ending at boundary `end`; a short first period is priced on it."""
        return self.add(end, -1)

    def days_in_period(self, end: date) -> int:
        """Length in days of the full period ending at boundary `end`."""
        return (end - self.nominal_start(end)).days


def cycle_for(interval: Interval, interval_count: int, start: date, day_of_month: int | None) -> BillingCycle:
    """The cycle of a subscription: anchored on `day_of_month` if given, else on its start's day."""
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}")
    if interval_count < 1:
        raise ValueError("interval_count must be at least 1")
    if day_of_month is not None:
        if interval not in _MONTHS_PER_INTERVAL:
            raise ValueError(f"a day-of-month anchor needs a month, quarter or year interval, not {interval}")
        if not 1 <= day_of_month <= 31:
            raise ValueError("day_of_month must be between 1 and 31")
    anchor_day = day_of_month if day_of_month is not None else start.day
    return BillingCycle(interval=interval, interval_count=interval_count, anchor_day=anchor_day)


def next_anchor_boundary(cycle: BillingCycle, after: date, from_boundary: date) -> date:
    """The first boundary `cycle.add(from_boundary, k)`, k >= 0, that is strictly after `after`.

    With `from_boundary` the start of some period on or before `after`, this is the end of the
    period containing `after`. If `after` is before `from_boundary`, the answer is `from_boundary`
    itself (k = 0); boundaries before `from_boundary` are never considered. Each candidate is one
    `add` from `from_boundary`, never a chain of adds, so month-end clamping cannot drift.
    """
    if cycle.is_monthly:
        step = cycle.interval_count * _MONTHS_PER_INTERVAL[cycle.interval]
        months_apart = (after.year * 12 + after.month) - (from_boundary.year * 12 + from_boundary.month)
        # Boundary k lies in the month k*step months on, so this k still lands in a month before
        # `after`'s: it is not after `after`, and neither is any earlier one. Walk up from there.
        k = max(0, months_apart // step - 1)
    else:
        step = cycle.interval_count * _DAYS_PER_INTERVAL[cycle.interval]
        k = max(0, (after - from_boundary).days // step)
    while (boundary := cycle.add(from_boundary, k)) <= after:
        k += 1
    return boundary


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown timezone {name!r}") from error


def local_date(moment: datetime, timezone: str) -> date:
    """The calendar date of an aware instant in the zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(_zone(timezone)).date()


def local_midnight(day: date, timezone: str) -> datetime:
    """The first instant of `day` in the zone, in UTC.

    When midnight is repeated (a fall-back at midnight) that is the earlier one. When midnight is
    skipped (a spring-forward at midnight, as in America/Havana or America/Santiago) it is the end of
    the gap, the first wall-clock time the day actually has.
    """
    zone = _zone(timezone)
    readings = [
        datetime(day.year, day.month, day.day, tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)
    ]
    existing = [r for r in readings if _wall_clock_is_midnight(r, day, zone)]
    if existing:
        return min(existing)
    # Midnight falls in a gap. The two folds read it with the offsets before and after the jump; the
    # jump itself, the first instant of the day, lies between them. Search for it to the second
    # (zone transitions are whole seconds).
    earliest = min(readings)  # still on the day before; the later reading is on `day`
    low, high = 0, (max(readings) - earliest) // timedelta(seconds=1)  # seconds after `earliest`
    while high - low > 1:
        middle = (low + high) // 2
        if (earliest + timedelta(seconds=middle)).astimezone(zone).date() >= day:
            high = middle
        else:
            low = middle
    return earliest + timedelta(seconds=high)


def _wall_clock_is_midnight(instant: datetime, day: date, zone: ZoneInfo) -> bool:
    local = instant.astimezone(zone)
    return local.date() == day and local.time() == time(0)


def period_bounds(start: date, end: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants of the period [start, end): local midnight of each boundary."""
    return local_midnight(start, timezone), local_midnight(end, timezone)
