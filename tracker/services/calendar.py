"""The statutory working-day calendar: weekends, official rest days and make-up working days."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import chinese_calendar

_ONE_DAY = timedelta(days=1)

# The package names its holidays in English (enum values) with short Chinese labels ("清明",
# "端午"); the bureau writes the full names used in State Council notices.
_OFFICIAL_NAMES_ZH: dict[str, str] = {
    "new_years_day": "元旦",
    "spring_festival": "春节",
    "tomb_sweeping_day": "清明节",
    "labour_day": "劳动节",
    "dragon_boat_festival": "端午节",
    "national_day": "国庆节",
    "mid_autumn_festival": "中秋节",
    "anti_fascist_70th_day": "抗战胜利纪念日",
}


class DayKind(StrEnum):
    """What an official special day changes about the weekend default."""

    REST = "rest"  # statutory rest day: a holiday or a weekday swapped to rest (调休)
    WORKDAY = "workday"  # make-up working day (补班), normally a Saturday or Sunday


@dataclass(frozen=True)
class SpecialDay:
    """One day of an official holiday arrangement."""

    day: date
    kind: DayKind
    name: str


def _check_date(d: date) -> None:
    """Refuse datetimes: they never compare equal to dates, so lookups would silently miss."""
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a datetime.date, got {type(d).__name__}")


def _weekdays_through(d: date) -> int:
    """Number of Monday-Friday days from 0001-01-01 (a Monday) up to and including d."""
    ordinal = d.toordinal()
    return 5 * (ordinal // 7) + min(ordinal % 7, 5)


class WorkingCalendar:
    """Working-day arithmetic over a set of official special days.

    Special days apply only in covered years (years whose official arrangement is loaded); any
    other year is counted on weekends alone, and callers mark such results provisional.
    """

    def __init__(
        self,
        special_days: Iterable[SpecialDay],
        covered_years: Iterable[int],
        version: str = "",
    ) -> None:
        self.version = version
        self._covered: frozenset[int] = frozenset(int(y) for y in covered_years)
        special: dict[date, SpecialDay] = {}
        for sd in special_days:
            _check_date(sd.day)
            # A partial or draft table for an uncovered year must not half-apply: the basis of
            # such a deadline says "weekends only", so the calendar has to count exactly that.
            if sd.day.year not in self._covered:
                continue
            previous = special.get(sd.day)
            if previous is not None and previous.kind != sd.kind:
                raise ValueError(f"{sd.day.isoformat()} is listed both as rest day and workday")
            special[sd.day] = sd
        self._special = special
        self._rest = frozenset(d for d, sd in special.items() if sd.kind == DayKind.REST)
        self._work = frozenset(d for d, sd in special.items() if sd.kind == DayKind.WORKDAY)
        # Sorted lists of the days that change the plain weekday count, for O(log n) counting.
        self._weekend_work = sorted(d for d in self._work if d.weekday() >= 5)
        self._weekday_rest = sorted(d for d in self._rest if d.weekday() < 5)
        self._rest_sorted = sorted(self._rest)

    def __repr__(self) -> str:
        years = sorted(self._covered)
        span = f"{years[0]}-{years[-1]}" if years else "none"
        return f"<WorkingCalendar {self.version!r} covered={span} special={len(self._special)}>"

    @property
    def covered_years(self) -> frozenset[int]:
        """Years whose official arrangement is loaded."""
        return self._covered

    def is_covered(self, year: int) -> bool:
        """Whether official data is loaded for that year."""
        return year in self._covered

    def _is_working(self, d: date) -> bool:
        """Unchecked working-day test used by the loops."""
        return d in self._work or (d.weekday() < 5 and d not in self._rest)

    def is_working_day(self, d: date) -> bool:
        """True for make-up workdays and for Monday-Friday days that are not rest days."""
        _check_date(d)
        return self._is_working(d)

    def special_day(self, d: date) -> SpecialDay | None:
        """The special day applied on d (None for ordinary days and for uncovered years)."""
        _check_date(d)
        return self._special.get(d)

    def add_working_days(self, start: date, n: int) -> date:
        """The nth working day after start (before it when n < 0); n == 0 rolls start forward."""
        _check_date(start)
        if n == 0:
            return self.roll_forward(start)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        d = start
        while remaining:
            d += step
            if self._is_working(d):
                remaining -= 1
        return d

    def roll_forward(self, d: date) -> date:
        """d if it is a working day, else the next working day."""
        _check_date(d)
        while not self._is_working(d):
            d += _ONE_DAY
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; when end < start, minus the working days in [end, start).

        Both directions exclude start and include end, so for every n != 0
        ``working_days_between(s, add_working_days(s, n)) == n``.
        """
        _check_date(start)
        _check_date(end)
        if end < start:
            return -self.working_days_between(end - _ONE_DAY, start - _ONE_DAY)
        count = _weekdays_through(end) - _weekdays_through(start)
        count += bisect_right(self._weekend_work, end) - bisect_right(self._weekend_work, start)
        count -= bisect_right(self._weekday_rest, end) - bisect_right(self._weekday_rest, start)
        return count

    def holidays_skipped(self, start: date, end: date) -> list[str]:
        """Distinct names of rest days in (start, end] (or [end, start) backwards), by date."""
        _check_date(start)
        _check_date(end)
        if end < start:
            lo, hi = bisect_left(self._rest_sorted, end), bisect_left(self._rest_sorted, start)
        else:
            lo, hi = bisect_right(self._rest_sorted, start), bisect_right(self._rest_sorted, end)
        names: list[str] = []
        for d in self._rest_sorted[lo:hi]:
            name = self._special[d].name
            if name not in names:
                names.append(name)
        return names

    def make_up_days(self, start: date, end: date) -> list[date]:
        """Make-up working days on weekends in (start, end] (or [end, start) backwards)."""
        _check_date(start)
        _check_date(end)
        if end < start:
            lo, hi = bisect_left(self._weekend_work, end), bisect_left(self._weekend_work, start)
        else:
            lo, hi = bisect_right(self._weekend_work, start), bisect_right(self._weekend_work, end)
        return self._weekend_work[lo:hi]

    def uncovered_years(self, start: date, end: date) -> set[int]:
        """Years between start and end (inclusive, either order) with no official data."""
        first, last = sorted((start.year, end.year))
        return {y for y in range(first, last + 1) if y not in self._covered}


def _official_name(package_value: str) -> str:
    """Chinese name of one of the package's holiday labels; unknown labels pass through."""
    try:
        member = chinese_calendar.Holiday(package_value)
    except ValueError:
        return package_value
    return _OFFICIAL_NAMES_ZH.get(member.name, getattr(member, "chinese", package_value))


def official_years() -> range:
    """Years covered by the installed chinesecalendar package (e.g. 2004-2026 for 1.11.0)."""
    known = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    return range(min(known).year, max(known).year + 1)


def official_version() -> str:
    """Version label of the official table, recorded on deadlines computed from it."""
    return f"chinesecalendar {chinese_calendar.__version__}"


def official_special_days(years: Iterable[int]) -> list[SpecialDay]:
    """The package's rest days and weekend make-up days for the given years, in date order.

    Every official holiday day is listed as REST, weekend ones included: it does not change the
    count, but keeps the whole published holiday period visible and named (春节 2026-02-15..23).
    Make-up days are listed only when they fall on a weekend, the only case that changes anything.
    Raises ValueError for a year outside the package's data, so that nobody marks it covered.
    """
    wanted = set(years)
    supported = official_years()
    missing = sorted(y for y in wanted if y not in supported)
    if missing:
        raise ValueError(
            f"no official holiday data for {', '.join(map(str, missing))}: "
            f"{official_version()} covers {supported.start}-{supported.stop - 1}"
        )
    days = [
        SpecialDay(d, DayKind.REST, _official_name(label))
        for d, label in chinese_calendar.holidays.items()
        if d.year in wanted
    ]
    days += [
        SpecialDay(d, DayKind.WORKDAY, _official_name(label))
        for d, label in chinese_calendar.workdays.items()
        if d.year in wanted and d.weekday() >= 5
    ]
    return sorted(days, key=lambda sd: sd.day)


def official_calendar(years: Iterable[int] | None = None) -> WorkingCalendar:
    """A calendar straight from the package (all its years by default), for seeds and tests."""
    chosen = list(official_years() if years is None else years)
    return WorkingCalendar(official_special_days(chosen), chosen, version=official_version())
