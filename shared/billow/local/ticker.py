"""Fire the template's schedules locally: moto accepts scheduled rules but never fires them.

A background thread invokes each scheduled function through lambda_hook with the payload
EventBridge sends (``"detail-type": "Scheduled Event"``; a schedule's constant ``Input``
replaces it, as in AWS).

Cadence, from ``tick_seconds`` or else ``$BILLOW_TICK_SECONDS``:

* unset: every schedule fires every 2 seconds, whatever its expression. Billow's schedules
  only start work that is due (a billing-cycle run for everything due by now), so firing more
  often than AWS changes *when* due work runs (sooner), never *what* runs.
* a positive number: every schedule fires every that many seconds.
* ``0`` or ``real``: the expressions are honoured: ``rate(N minute|minutes|hour|hours|day|days)``
  and ``cron(min hour day-of-month month day-of-week year)`` in UTC with ``*``, ``?``, lists,
  ranges, steps and month/day names. ``L``, ``W`` and ``#`` are not supported: such a
  schedule is skipped with a warning (it still fires in the fast modes).

A failing handler or a raising invoke is logged; it never stops the thread.

Public API::

    DEFAULT_TICK_SECONDS = 2.0
    tick_seconds_from_env() -> float                  # 0.0 means "honour the expressions"
    parse_schedule(expression: str) -> Rate | Cron    # ValueError if not understood
    @dataclass(frozen=True) class Rate: seconds: float
    class Cron: matches(moment: datetime) -> bool; next_after(moment: datetime) -> datetime
    scheduled_event(schedule: Schedule, now: datetime) -> Any
    class Ticker:
        Ticker(schedules: Sequence[Schedule], *, tick_seconds: float | None = None,
               invoke: Callable[[str, Any], InvocationResult] = lambda_hook.invoke,
               clock: Callable[[], datetime] = <utc now>)
        start() -> None; stop(timeout: float = 5.0) -> None; running: bool
        fire(schedule: Schedule) -> InvocationResult      # one schedule, now, this thread
        fire_all() -> list[InvocationResult | None]       # every enabled schedule once
        interval: float; fired: int; failures: int
"""

from __future__ import annotations

import calendar
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from billow.local import lambda_hook
from billow.local.lambda_hook import InvocationResult
from billow.local.provision import Schedule

DEFAULT_TICK_SECONDS: Final = 2.0

logger = logging.getLogger(__name__)

_RATE: Final = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS: Final = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS: Final = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS: Final = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def tick_seconds_from_env() -> float:
    raw = (os.environ.get("BILLOW_TICK_SECONDS") or "").strip().lower()
    if not raw:
        return DEFAULT_TICK_SECONDS
    if raw == "real":
        return 0.0
    value = float(raw)
    if value < 0:
        raise ValueError("BILLOW_TICK_SECONDS must be >= 0 (0 or 'real': honour the expressions)")
    return value


@dataclass(frozen=True)
class Rate:
    seconds: float


class Cron:
    """An EventBridge cron expression (UTC), without the L, W and # extensions."""

    def __init__(self, fields: str) -> None:
        parts = fields.split()
        if len(parts) != 6:
            raise ValueError(f"cron needs 6 fields, got {fields!r}")
        minute, hour, day, month, weekday, year = parts
        self.minutes = _field(minute, 0, 59, {})
        self.hours = _field(hour, 0, 23, {})
        self.days = _field(day, 1, 31, {})
        self.months = _field(month, 1, 12, _MONTHS)
        self.weekdays = _field(weekday, 1, 7, _DAYS)
        self.years = _field(year, 1970, 2199, {})

    def _day_matches(self, moment: datetime) -> bool:
        aws_weekday = (moment.weekday() + 1) % 7 + 1  # Python: Monday=0; cron: Sunday=1
        return (
            moment.year in self.years
            and moment.month in self.months
            and moment.day in self.days
            and aws_weekday in self.weekdays
        )

    def matches(self, moment: datetime) -> bool:
        return self._day_matches(moment) and moment.hour in self.hours and moment.minute in self.minutes

    def next_after(self, moment: datetime) -> datetime:
        start = moment.replace(second=0, microsecond=0)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate > moment:
                            return candidate
            day += timedelta(days=1)
        raise ValueError("cron expression never fires in the next five years")


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    if text in {"*", "?"}:
        return frozenset(range(low, high + 1))
    values: set[int] = set()
    for part in text.upper().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            left, right = base.split("-", 1)
            first, last = _value(left, names), _value(right, names)
        else:
            first = _value(base, names)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high):
            raise ValueError(f"cron field {text!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if text.isdigit():
        return int(text)
    raise ValueError(f"cron value {text!r} not understood (L, W and # are not supported locally)")


def parse_schedule(expression: str) -> Rate | Cron:
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count <= 0:
            raise ValueError(f"{expression!r}: the rate must be positive")
        return Rate(float(count * _UNIT_SECONDS[unit]))
    if text.startswith("cron(") and text.endswith(")"):
        return Cron(text[5:-1])
    raise ValueError(f"schedule expression {expression!r} is neither rate(...) nor cron(...)")


def scheduled_event(schedule: Schedule, now: datetime) -> Any:
    """What EventBridge sends to a scheduled target (or the schedule's constant Input)."""
    if schedule.input is not None:
        return schedule.input
    arn_parts = schedule.rule_arn.split(":")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": arn_parts[4],
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": arn_parts[3],
        "resources": [schedule.rule_arn],
        "detail": {},
    }


class Ticker:
    def __init__(
        self,
        schedules: Sequence[Schedule],
        *,
        tick_seconds: float | None = None,
        invoke: Callable[[str, Any], InvocationResult] = lambda_hook.invoke,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.schedules = [s for s in schedules if s.enabled]
        self.interval = tick_seconds if tick_seconds is not None else tick_seconds_from_env()
        if self.interval < 0:
            raise ValueError("tick_seconds must be >= 0")
        self._invoke = invoke
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = 0
        self.failures = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running or not self.schedules:
            return
        self._stop.clear()
        target = self._run_fast if self.interval > 0 else self._run_real
        self._thread = threading.Thread(target=target, name="billow-ticker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("ticker: a scheduled invocation is still running; not waiting for it")

    def fire(self, schedule: Schedule) -> InvocationResult:
        """Invoke ``schedule``'s function once, now, in the calling thread."""
        result = self._invoke(schedule.function_name, scheduled_event(schedule, self._clock()))
        self.fired += 1
        if result.errored:
            self.failures += 1
            logger.warning(
                "ticker: %s (%s) failed: %s",
                schedule.function_logical_id,
                schedule.event_name,
                result.payload,
            )
        return result

    def fire_all(self) -> list[InvocationResult | None]:
        """Fire every schedule once; a schedule whose invoke raised gives None."""
        return [self._fire_safely(schedule) for schedule in self.schedules]

    def _fire_safely(self, schedule: Schedule) -> InvocationResult | None:
        try:
            return self.fire(schedule)
        except Exception:  # one broken tick must not stop the schedules
            self.failures += 1
            logger.exception(
                "ticker: %s (%s) could not be invoked", schedule.function_logical_id, schedule.event_name
            )
            return None

    def _run_fast(self) -> None:
        while not self._stop.wait(self.interval):
            for schedule in self.schedules:
                if self._stop.is_set():
                    return
                self._fire_safely(schedule)

    def _run_real(self) -> None:
        due: dict[int, datetime] = {}
        parsed: dict[int, Rate | Cron] = {}
        now = self._clock()
        for index, schedule in enumerate(self.schedules):
            try:
                parsed[index] = parse_schedule(schedule.expression)
            except ValueError as error:
                logger.warning("ticker: skipping %s: %s", schedule.function_logical_id, error)
                continue
            due[index] = self._next(parsed[index], now)
        while due and not self._stop.is_set():
            wait = (min(due.values()) - self._clock()).total_seconds()
            # Wake at least every 30 s so that a changed wall clock is noticed.
            if self._stop.wait(min(max(wait, 0.0), 30.0)):
                return
            now = self._clock()
            for index, when in list(due.items()):
                if when <= now:
                    self._fire_safely(self.schedules[index])
                    due[index] = self._next(parsed[index], now)

    @staticmethod
    def _next(schedule: Rate | Cron, now: datetime) -> datetime:
        if isinstance(schedule, Rate):
            return now + timedelta(seconds=schedule.seconds)
        return schedule.next_after(now)
