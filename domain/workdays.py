"""Working days on the Chinese calendar.

Statutory and promised time limits are counted in working days: public
holidays are off and make-up working days (调休) are on. The ``chinese_calendar``
package carries the State Council's published schedule; for a year it does not
know yet (the schedule is published each November for the next year) we fall
back to weekends plus the fixed-date holidays (元旦, 劳动节, 国庆节 1-3), so a
clock never crashes, and say so in docs/departments.md.

Counting is O(1): a table of cumulative working days per calendar year is built
once per year on first use, so an index of 100,000 projects does not walk day
by day.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar

_FIXED_HOLIDAYS = {(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)}


@lru_cache(maxsize=8192)
def is_working_day(day: date) -> bool:
    """True when ``day`` is a working day in mainland China."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5 and (day.month, day.day) not in _FIXED_HOLIDAYS


@lru_cache(maxsize=256)
def _year_table(year: int) -> tuple[int, list[int]]:
    """(working days before this year since 2000-01-01, cumulative count per day of the year).

    ``cum[i]`` counts the working days among the first ``i + 1`` days of ``year``.
    """
    before = 0 if year <= 2000 else _year_table(year - 1)[0] + _year_table(year - 1)[1][-1]
    first = date(year, 1, 1)
    days = (date(year + 1, 1, 1) - first).days
    cum, running = [], 0
    for i in range(days):
        running += is_working_day(first + timedelta(days=i))
        cum.append(running)
    return before, cum


def _rank(day: date) -> int:
    """Working days from 2000-01-01 up to and including ``day``."""
    before, cum = _year_table(day.year)
    return before + cum[day.timetuple().tm_yday - 1]


def working_days_between(start: date, end: date) -> int:
    """Working days in the half-open interval (start, end]; 0 if end <= start."""
    if end <= start:
        return 0
    if start.year < 2000:  # outside the table: count directly (never on a hot path)
        return sum(1 for i in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=i)))
    return _rank(end) - _rank(start)


def calendar_days_between(start: date, end: date) -> int:
    """Calendar days in the half-open interval (start, end]; 0 if end <= start (for calendar-day limits)."""
    return max((end - start).days, 0)


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted).

    With ``days`` negative, counts backwards. ``add_working_days(d, 0)`` is ``d``.
    """
    step = 1 if days >= 0 else -1
    remaining = abs(days)
    current = start
    if step == 1 and start.year >= 2000 and remaining:
        # Find the first day whose rank reaches rank(start) + days, year by year.
        target = _rank(start) + remaining
        year = start.year
        while True:
            before, cum = _year_table(year)
            if before + cum[-1] >= target:
                return date(year, 1, 1) + timedelta(days=bisect_left(cum, target - before))
            year += 1
    while remaining:
        current += timedelta(days=step)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_used(start: date, end: date, paused: Iterable[tuple[date, date | None]] = ()) -> int:
    """Working days from ``start`` to ``end`` that the clock ran.

    ``paused`` holds (from, until) periods waiting for supplements (补齐补正) or
    suspended (挂起); their working days do not count. ``until`` None means
    still paused at ``end``.
    """
    total = working_days_between(start, end)
    for p_from, p_until in paused:
        lo = max(p_from, start)
        hi = min(p_until or end, end)
        total -= working_days_between(lo, hi)
    return max(total, 0)
