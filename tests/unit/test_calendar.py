"""The working-day calendar against the official State Council arrangements."""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tracker.services.calendar import (
    DayKind,
    SpecialDay,
    WorkingCalendar,
    official_calendar,
    official_special_days,
    official_version,
    official_years,
)

ONE_DAY = timedelta(days=1)
FIRST, LAST = date(2019, 1, 1), date(2026, 12, 31)
# Each property runs a modest number of examples so the whole module stays fast; no example
# database, so that test runs leave no .hypothesis folder behind.
PROPERTY = settings(max_examples=150, deadline=None, database=None)

starts = st.dates(min_value=FIRST, max_value=date(2025, 12, 31))
any_day = st.dates(min_value=FIRST, max_value=LAST)
counts = st.integers(min_value=1, max_value=250)


@functools.cache
def official() -> WorkingCalendar:
    """The official table for 2019-2026, as the acceptance criteria prescribe."""
    return WorkingCalendar(official_special_days(range(2019, 2027)), range(2019, 2027), "test")


# The package's own predicate recomputes its year range on every call; memoising keeps the
# independent oracle cheap without changing what it answers.
oracle_is_workday = functools.cache(chinese_calendar.is_workday)


def oracle_add(start: date, n: int) -> date:
    """Independent day-by-day count using chinese_calendar.is_workday."""
    step = ONE_DAY if n > 0 else -ONE_DAY
    d, left = start, abs(n)
    while left:
        d += step
        if oracle_is_workday(d):
            left -= 1
    return d


def oracle_between(start: date, end: date) -> int:
    """Working days in (start, end], negative [end, start) when reversed, counted naively."""
    if end >= start:
        days = [start + ONE_DAY * i for i in range(1, (end - start).days + 1)]
        return sum(oracle_is_workday(d) for d in days)
    days = [end + ONE_DAY * i for i in range((start - end).days)]
    return -sum(oracle_is_workday(d) for d in days)


def days(first: date, last: date) -> list[date]:
    """Every date from first to last inclusive."""
    return [first + ONE_DAY * i for i in range((last - first).days + 1)]


# --- the official table -----------------------------------------------------------------


def test_official_years_come_from_the_package() -> None:
    years = official_years()
    assert years.start == 2004
    assert 2026 in years
    assert 2027 not in years
    assert official_version() == f"chinesecalendar {chinese_calendar.__version__}"


def test_official_special_days_refuse_years_without_data() -> None:
    with pytest.raises(ValueError, match="2027"):
        official_special_days([2026, 2027])


def test_whole_official_table_agrees_with_package_day_by_day() -> None:
    cal = official_calendar()
    for d in days(date(2004, 1, 1), date(2026, 12, 31)):
        assert cal.is_working_day(d) == chinese_calendar.is_workday(d), d


def test_official_special_days_shape() -> None:
    special = official_special_days([2025, 2026])
    assert [sd.day for sd in special] == sorted(sd.day for sd in special)
    assert {sd.day.year for sd in special} == {2025, 2026}
    # Make-up days are listed only when they change something: on weekends.
    assert all(sd.day.weekday() >= 5 for sd in special if sd.kind == DayKind.WORKDAY)
    # Every holiday day of the package, weekend ones included, is present as REST.
    package_rest = {d for d in chinese_calendar.holidays if d.year in (2025, 2026)}
    assert package_rest == {sd.day for sd in special if sd.kind == DayKind.REST}


def test_official_names_are_chinese() -> None:
    by_day = {sd.day: sd for sd in official_special_days([2015, 2025, 2026])}
    assert by_day[date(2026, 1, 1)].name == "元旦"
    assert by_day[date(2026, 2, 17)].name == "春节"
    assert by_day[date(2026, 4, 6)].name == "清明节"
    assert by_day[date(2026, 5, 1)].name == "劳动节"
    assert by_day[date(2026, 6, 19)].name == "端午节"
    assert by_day[date(2026, 9, 25)].name == "中秋节"
    assert by_day[date(2026, 10, 1)].name == "国庆节"
    # 2025: Mid-Autumn fell inside the National Day week; the package names that day apart.
    assert by_day[date(2025, 10, 6)].name == "中秋节"
    assert by_day[date(2015, 9, 3)].name == "抗战胜利纪念日"
    assert by_day[date(2026, 10, 10)] == SpecialDay(date(2026, 10, 10), DayKind.WORKDAY, "国庆节")


# --- 2025 and 2026, checked by hand against the package data ------------------------------


def test_2025_spring_festival() -> None:
    cal = official()
    assert cal.is_working_day(date(2025, 1, 26))  # Sunday, make-up day
    assert not cal.is_working_day(date(2025, 1, 25))  # ordinary Saturday
    for d in days(date(2025, 1, 28), date(2025, 2, 4)):
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2025, 2, 5))
    assert cal.is_working_day(date(2025, 2, 8))  # Saturday, make-up day
    assert cal.add_working_days(date(2025, 1, 24), 1) == date(2025, 1, 26)
    assert cal.add_working_days(date(2025, 1, 24), 2) == date(2025, 1, 27)
    assert cal.add_working_days(date(2025, 1, 24), 3) == date(2025, 2, 5)
    assert cal.add_working_days(date(2025, 2, 7), 1) == date(2025, 2, 8)
    assert cal.holidays_skipped(date(2025, 1, 24), date(2025, 2, 5)) == ["春节"]
    assert cal.make_up_days(date(2025, 1, 24), date(2025, 2, 10)) == [
        date(2025, 1, 26),
        date(2025, 2, 8),
    ]


def test_2025_national_day_and_mid_autumn() -> None:
    cal = official()
    assert cal.is_working_day(date(2025, 9, 28))  # Sunday, make-up day
    for d in days(date(2025, 10, 1), date(2025, 10, 8)):
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2025, 10, 11))  # Saturday, make-up day
    # 9-28 (1), 9-29, 9-30, [10-01..10-08 rest], 10-09 (4), 10-10, 10-11 Sat (6), then 14 more.
    assert cal.add_working_days(date(2025, 9, 26), 20) == date(2025, 10, 30)
    assert cal.holidays_skipped(date(2025, 9, 26), date(2025, 10, 30)) == ["国庆节", "中秋节"]


def test_2026_new_year() -> None:
    cal = official()
    for d in days(date(2026, 1, 1), date(2026, 1, 3)):  # Thursday to Saturday
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2026, 1, 4))  # Sunday, make-up day
    assert cal.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 4)


def test_2026_spring_festival() -> None:
    cal = official()
    assert cal.is_working_day(date(2026, 2, 14))  # Saturday, make-up day
    for d in days(date(2026, 2, 15), date(2026, 2, 23)):  # Sunday to Monday, nine days
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2026, 2, 24))
    assert cal.is_working_day(date(2026, 2, 28))  # Saturday, make-up day
    assert not cal.is_working_day(date(2026, 3, 1))
    # 2-13 Fri (1), 2-14 Sat (2), [2-15..2-23], 2-24 (3), 2-25 (4), 2-26 (5).
    assert cal.add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)
    assert cal.add_working_days(date(2026, 2, 26), 2) == date(2026, 2, 28)
    assert cal.working_days_between(date(2026, 2, 13), date(2026, 2, 28)) == 6


def test_2026_other_holidays() -> None:
    cal = official()
    assert not cal.is_working_day(date(2026, 4, 6))  # Qingming, Monday
    for d in days(date(2026, 5, 1), date(2026, 5, 5)):
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2026, 5, 9))  # Saturday, make-up day for Labour Day
    assert not cal.is_working_day(date(2026, 6, 19))  # Dragon Boat, Friday
    assert not cal.is_working_day(date(2026, 9, 25))  # Mid-Autumn, Friday


def test_2026_national_day() -> None:
    cal = official()
    assert cal.is_working_day(date(2026, 9, 20))  # Sunday, make-up day
    for d in days(date(2026, 10, 1), date(2026, 10, 7)):  # Thursday to Wednesday
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2026, 10, 8))
    assert cal.is_working_day(date(2026, 10, 10))  # Saturday, make-up day
    # 9-29 (1), 9-30 (2), [10-01..10-07], 10-08 (3), 10-09 (4), 10-10 Sat (5), 15 more.
    assert cal.add_working_days(date(2026, 9, 28), 20) == date(2026, 10, 30)
    assert cal.holidays_skipped(date(2026, 9, 28), date(2026, 10, 30)) == ["国庆节"]
    assert cal.make_up_days(date(2026, 9, 28), date(2026, 10, 30)) == [date(2026, 10, 10)]
    assert cal.add_working_days(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert cal.add_working_days(date(2026, 10, 12), -1) == date(2026, 10, 10)


# --- operations -----------------------------------------------------------------------------


def test_add_zero_rolls_forward() -> None:
    cal = official()
    assert cal.add_working_days(date(2026, 9, 30), 0) == date(2026, 9, 30)
    assert cal.add_working_days(date(2026, 10, 1), 0) == date(2026, 10, 8)
    assert cal.roll_forward(date(2026, 10, 3)) == date(2026, 10, 8)
    assert cal.roll_forward(date(2026, 10, 10)) == date(2026, 10, 10)
    assert cal.roll_forward(date(2026, 10, 11)) == date(2026, 10, 12)


def test_working_days_between_signs() -> None:
    cal = official()
    assert cal.working_days_between(date(2026, 10, 30), date(2026, 10, 30)) == 0
    assert cal.working_days_between(date(2026, 9, 28), date(2026, 10, 30)) == 20
    assert cal.working_days_between(date(2026, 10, 30), date(2026, 9, 28)) == -20
    # Overdue by one working day: due Friday, today Saturday is no working day, Monday is.
    assert cal.working_days_between(date(2026, 11, 6), date(2026, 11, 7)) == 0
    assert cal.working_days_between(date(2026, 11, 6), date(2026, 11, 9)) == 1


def test_holidays_skipped_backwards_and_empty() -> None:
    cal = official()
    assert cal.holidays_skipped(date(2026, 10, 8), date(2026, 9, 30)) == ["国庆节"]
    assert cal.holidays_skipped(date(2026, 11, 1), date(2026, 11, 30)) == []
    # The end day is included, the start day is not.
    assert cal.holidays_skipped(date(2026, 9, 30), date(2026, 10, 1)) == ["国庆节"]
    assert cal.holidays_skipped(date(2026, 10, 7), date(2026, 10, 9)) == []


def test_uncovered_years_fall_back_to_weekends() -> None:
    made_up = [
        SpecialDay(date(2027, 1, 1), DayKind.REST, "元旦"),
        SpecialDay(date(2027, 1, 9), DayKind.WORKDAY, "元旦"),
    ]
    cal = WorkingCalendar(made_up, [2026], version="v")
    assert not cal.is_covered(2027)
    assert cal.is_working_day(date(2027, 1, 1))  # Friday: no official data, so working
    assert not cal.is_working_day(date(2027, 1, 9))  # Saturday
    assert cal.special_day(date(2027, 1, 1)) is None
    assert cal.uncovered_years(date(2026, 12, 1), date(2028, 1, 1)) == {2027, 2028}
    assert cal.uncovered_years(date(2028, 1, 1), date(2026, 12, 1)) == {2027, 2028}
    assert cal.uncovered_years(date(2026, 1, 1), date(2026, 12, 31)) == set()
    covered = WorkingCalendar(made_up, [2027], version="v2")
    assert covered.is_covered(2027)
    assert not covered.is_working_day(date(2027, 1, 1))
    assert covered.is_working_day(date(2027, 1, 9))
    assert covered.special_day(date(2027, 1, 1)) == made_up[0]
    assert covered.version == "v2"


def test_conflicting_special_days_are_refused() -> None:
    clash = [
        SpecialDay(date(2026, 1, 1), DayKind.REST, "元旦"),
        SpecialDay(date(2026, 1, 1), DayKind.WORKDAY, "元旦"),
    ]
    with pytest.raises(ValueError, match="2026-01-01"):
        WorkingCalendar(clash, [2026])


def test_datetimes_are_refused() -> None:
    with pytest.raises(TypeError):
        official().is_working_day(datetime(2026, 10, 1, 9, 0))  # type: ignore[arg-type]


def test_many_decades_stay_fast_enough() -> None:
    cal = official_calendar()
    start = date(2004, 1, 1)
    for offset in range(0, 7000, 7):
        d = start + ONE_DAY * offset
        assert cal.working_days_between(d, cal.add_working_days(d, 300)) == 300


# --- properties over the official 2019-2026 table -------------------------------------------


@PROPERTY
@given(start=starts, n=counts)
def test_adding_lands_on_a_working_day_and_matches_the_package(start: date, n: int) -> None:
    result = official().add_working_days(start, n)
    assume(result <= LAST)
    assert result > start
    assert official().is_working_day(result)
    assert chinese_calendar.is_workday(result)
    assert result == oracle_add(start, n)


@PROPERTY
@given(start=starts, n=counts, m=counts)
def test_adding_is_strictly_monotonic_in_n(start: date, n: int, m: int) -> None:
    assume(n != m)
    n, m = sorted((n, m))
    r_n, r_m = official().add_working_days(start, n), official().add_working_days(start, m)
    assume(r_m <= LAST)
    assert r_n < r_m


@PROPERTY
@given(s1=starts, s2=starts, n=counts)
def test_adding_is_monotonic_in_start(s1: date, s2: date, n: int) -> None:
    s1, s2 = sorted((s1, s2))
    r1, r2 = official().add_working_days(s1, n), official().add_working_days(s2, n)
    assume(r2 <= LAST)
    assert r1 <= r2


@PROPERTY
@given(start=st.dates(min_value=date(2020, 1, 1), max_value=LAST), n=counts)
def test_negative_counts_mirror(start: date, n: int) -> None:
    cal = official()
    back = cal.add_working_days(start, -n)
    assume(back >= FIRST)
    assert back < start
    assert cal.is_working_day(back)
    assert back == oracle_add(start, -n)
    # Going back n from the nth working day after `back` returns to `back`.
    assert cal.add_working_days(cal.add_working_days(back, n), -n) == back
    # And forward again from a start that is not a working day lands on the day before it.
    forward = cal.add_working_days(start, n)
    if forward <= LAST:
        expected = start if cal.is_working_day(start) else cal.add_working_days(start, -1)
        assert cal.add_working_days(forward, -n) == expected


@PROPERTY
@given(start=any_day, n=st.integers(min_value=-250, max_value=250).filter(bool))
def test_working_days_between_inverts_adding(start: date, n: int) -> None:
    cal = official()
    result = cal.add_working_days(start, n)
    assume(FIRST <= result <= LAST)
    assert cal.working_days_between(start, result) == n


@PROPERTY
@given(a=any_day, offset=st.integers(min_value=-400, max_value=400))
def test_working_days_between_matches_a_naive_count(a: date, offset: int) -> None:
    b = a + timedelta(days=offset)
    assume(FIRST <= b <= LAST)
    assert official().working_days_between(a, b) == oracle_between(a, b)


@PROPERTY
@given(start=starts, n=counts)
def test_without_holidays_or_make_up_days_the_count_is_weekends_only(start: date, n: int) -> None:
    cal = official()
    weekends_only = WorkingCalendar([], [], "weekends")
    result = cal.add_working_days(start, n)
    assume(result <= LAST)
    plain = weekends_only.add_working_days(start, n)
    touched = cal.holidays_skipped(start, result) or cal.make_up_days(start, result)
    if not touched:
        assert result == plain
    else:
        # Only weekday rest days and weekend make-up days move the result.
        weekday_rest = [
            d
            for d in days(start + ONE_DAY, result)
            if d.weekday() < 5 and not cal.is_working_day(d)
        ]
        assert result != plain or len(weekday_rest) == len(cal.make_up_days(start, result))
