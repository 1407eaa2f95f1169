"""Deadline rules turned into due dates with their basis, on the official calendar."""

from __future__ import annotations

import dataclasses
import functools
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.services.calendar import DayKind, SpecialDay, WorkingCalendar, official_special_days
from tracker.services.deadlines import Deadline, DeadlineRuleError, compute_deadline, validate_rule
from tracker.services.periods import Period

PROPERTY = settings(max_examples=150, deadline=None, database=None)
ONE_DAY = timedelta(days=1)

# A made-up 2027 arrangement: New Year's Day (Friday) off, Sunday 17 January a make-up day.
MADE_UP_2027 = [
    SpecialDay(date(2027, 1, 1), DayKind.REST, "元旦"),
    SpecialDay(date(2027, 1, 17), DayKind.WORKDAY, "元旦"),
]


@functools.cache
def official() -> WorkingCalendar:
    """Official table 2019-2026; 2027 and later are not covered."""
    years = range(2019, 2027)
    return WorkingCalendar(official_special_days(years), years, version="chinesecalendar 1.11.0")


def with_2027(*, covered: bool, special: list[SpecialDay] = MADE_UP_2027) -> WorkingCalendar:
    """The official table plus a 2027 arrangement, loaded as covered or not."""
    years = list(range(2019, 2027)) + ([2027] if covered else [])
    return WorkingCalendar(
        official_special_days(range(2019, 2027)) + special, years, version="db-2027-draft"
    )


def due(rule: dict[str, Any], **kwargs: Any) -> Deadline:
    """Compute on the official calendar."""
    return compute_deadline(rule, calendar=official(), **kwargs)


# --- working days (event items) -------------------------------------------------------------


def test_twenty_working_days_skip_national_day_2026() -> None:
    result = due({"type": "working_days", "days": 20}, trigger=date(2026, 9, 28))
    assert result == Deadline(
        due=date(2026, 10, 30),
        provisional=False,
        basis_zh="20 个工作日，自 2026-09-28 起算，跳过国庆节，含补班日 2026-10-10",
        basis_en=(
            "20 working days from 2026-09-28, skipping National Day, "
            "counting make-up working day 2026-10-10"
        ),
        calendar_version="chinesecalendar 1.11.0",
    )


def test_twenty_working_days_over_national_day_2025() -> None:
    result = due({"type": "working_days", "days": 20}, trigger=date(2025, 9, 26))
    assert result.due == date(2025, 10, 30)
    assert "跳过国庆节、中秋节" in result.basis_zh
    assert "skipping National Day and Mid-Autumn Festival" in result.basis_en
    assert "2025-09-28、2025-10-11" in result.basis_zh
    assert not result.provisional


def test_working_days_count_make_up_saturday() -> None:
    # Decision on Friday 2026-10-09: the first working day after it is make-up Saturday 10-10.
    result = due({"type": "working_days", "days": 1}, trigger=date(2026, 10, 9))
    assert result.due == date(2026, 10, 10)
    assert result.basis_en == (
        "1 working day from 2026-10-09, counting make-up working day 2026-10-10"
    )


def test_working_days_over_spring_festival_2025() -> None:
    result = due({"type": "working_days", "days": 3}, trigger=date(2025, 1, 24))
    assert result.due == date(2025, 2, 5)
    assert result.basis_zh == "3 个工作日，自 2025-01-24 起算，跳过春节，含补班日 2025-01-26"


def test_working_days_plain_week() -> None:
    result = due({"type": "working_days", "days": 3}, trigger=date(2026, 11, 4))
    assert result.due == date(2026, 11, 9)
    assert result.basis_zh == "3 个工作日，自 2026-11-04 起算"
    assert result.basis_en == "3 working days from 2026-11-04"


def test_negative_working_days_before_trigger() -> None:
    # Legal review one working day before a major decision dated right after National Day.
    result = due({"type": "working_days", "days": -1}, trigger=date(2026, 10, 8))
    assert result.due == date(2026, 9, 30)
    assert result.basis_zh == "2026-10-08 前 1 个工作日，跳过国庆节"
    assert result.basis_en == "1 working day before 2026-10-08, skipping National Day"
    back_two = due({"type": "working_days", "days": -2}, trigger=date(2025, 2, 5))
    assert back_two.due == date(2025, 1, 26)  # a make-up Sunday counts backwards too


# --- natural days, months, years ------------------------------------------------------------


def test_natural_days_ending_on_national_day_roll_forward() -> None:
    result = due({"type": "natural_days", "days": 15}, trigger=date(2026, 9, 20))
    assert result.due == date(2026, 10, 8)
    assert result.basis_zh == (
        "15 日，自 2026-09-20 起算，末日 2026-10-05 逢休息日（国庆节）顺延至 2026-10-08"
    )
    assert result.basis_en == (
        "15 calendar days from 2026-09-20; "
        "last day 2026-10-05 is a rest day (National Day), moved to 2026-10-08"
    )


def test_natural_days_2025_national_day() -> None:
    assert due({"type": "natural_days", "days": 15}, trigger=date(2025, 9, 16)).due == date(
        2025, 10, 9
    )


def test_natural_days_on_working_day_or_make_up_day_do_not_move() -> None:
    plain = due({"type": "natural_days", "days": 15}, trigger=date(2026, 11, 2))
    assert plain.due == date(2026, 11, 17)
    assert plain.basis_zh == "15 日，自 2026-11-02 起算"
    make_up = due({"type": "natural_days", "days": 7}, trigger=date(2026, 10, 3))
    assert make_up.due == date(2026, 10, 10)  # Saturday, but a make-up working day
    assert "顺延" not in make_up.basis_zh


def test_natural_days_on_plain_weekend_roll_without_holiday_name() -> None:
    result = due({"type": "natural_days", "days": 4}, trigger=date(2026, 11, 3))
    assert result.due == date(2026, 11, 9)
    assert result.basis_zh.endswith("末日 2026-11-07 逢休息日顺延至 2026-11-09")
    assert result.basis_en.endswith("last day 2026-11-07 is a rest day, moved to 2026-11-09")


def test_natural_days_zero_is_the_trigger_day_rolled() -> None:
    assert due({"type": "natural_days", "days": 0}, trigger=date(2026, 10, 2)).due == date(
        2026, 10, 8
    )
    assert due({"type": "natural_days", "days": 0}, trigger=date(2026, 9, 30)).due == date(
        2026, 9, 30
    )


@pytest.mark.parametrize(
    ("trigger", "months", "expected"),
    [
        # 31 January + 1 month: 28 February 2026 is a make-up Saturday, so it stays.
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year, Thursday
        (date(2025, 1, 31), 1, date(2025, 2, 28)),  # Friday
        (date(2023, 1, 31), 1, date(2023, 2, 28)),  # Tuesday
        # 31 October 2025 + 1 month: 30 November is a Sunday, moved to Monday 1 December.
        (date(2025, 10, 31), 1, date(2025, 12, 1)),
        # 5 July + 3 months lands in the National Day week.
        (date(2026, 7, 5), 3, date(2026, 10, 8)),
        (date(2025, 12, 15), 2, date(2026, 2, 24)),  # Sunday 15 Feb in Spring Festival
        (date(2026, 3, 10), 0, date(2026, 3, 10)),
        # Into uncovered 2027: Saturday 30 January, moved to Monday on weekends alone.
        (date(2025, 11, 30), 14, date(2027, 2, 1)),
    ],
)
def test_months(trigger: date, months: int, expected: date) -> None:
    result = due({"type": "months", "months": months}, trigger=trigger)
    assert result.due == expected
    assert result.provisional == (expected.year > 2026)


def test_month_end_clamping_is_stated() -> None:
    result = due({"type": "months", "months": 1}, trigger=date(2025, 10, 31))
    assert result.basis_zh == (
        "1 个月，自 2025-10-31 起算（2025-11 无 31 日，取月末 2025-11-30），"
        "末日 2025-11-30 逢休息日顺延至 2025-12-01"
    )
    assert result.basis_en == (
        "1 month from 2025-10-31 (2025-11 has no day 31; month-end 2025-11-30 used); "
        "last day 2025-11-30 is a rest day, moved to 2025-12-01"
    )
    feb = due({"type": "months", "months": 1}, trigger=date(2026, 1, 31))
    assert feb.basis_zh == "1 个月，自 2026-01-31 起算（2026-02 无 31 日，取月末 2026-02-28）"


def test_years() -> None:
    leap = due({"type": "years", "years": 1}, trigger=date(2024, 2, 29))
    assert leap.due == date(2025, 2, 28)
    assert leap.basis_en == (
        "1 year from 2024-02-29 (2025-02 has no day 29; month-end 2025-02-28 used)"
    )
    three = due({"type": "years", "years": 3}, trigger=date(2023, 10, 1))
    assert three.due == date(2026, 10, 8)
    assert three.basis_zh.startswith("3 年，自 2023-10-01 起算，末日 2026-10-01 逢休息日（国庆节）")
    assert "3 years from 2023-10-01" in three.basis_en


# --- periodic rules -------------------------------------------------------------------------


def test_period_end_working_days() -> None:
    result = due({"type": "period_end", "working_days": 15}, period=Period.parse("2026-Q3"))
    assert result.due == date(2026, 10, 27)
    assert result.basis_zh == (
        "2026-Q3 期末（2026-09-30）后 15 个工作日，跳过国庆节，含补班日 2026-10-10"
    )
    assert result.basis_en.startswith(
        "15 working days after the end of period 2026-Q3 (2026-09-30), skipping National Day"
    )


def test_period_end_counts_make_up_saturday() -> None:
    # January 2026 ends on a Saturday; the 11th working day after is make-up Saturday 14 Feb.
    january = Period.parse("2026-01")
    assert due({"type": "period_end", "working_days": 10}, period=january).due == date(2026, 2, 13)
    assert due({"type": "period_end", "working_days": 11}, period=january).due == date(2026, 2, 14)


def test_period_end_zero_rolls_last_day_forward() -> None:
    may = due({"type": "period_end", "working_days": 0}, period=Period.parse("2025-05"))
    assert may.due == date(2025, 6, 3)  # 31 May to 2 June is the Dragon Boat holiday
    assert may.basis_zh == "2025-05 期末，末日 2025-05-31 逢休息日（端午节）顺延至 2025-06-03"
    year = due({"type": "period_end", "working_days": 0}, period=Period.parse("2025"))
    assert year.due == date(2025, 12, 31)
    assert year.basis_zh == "2025 期末 2025-12-31"
    assert year.basis_en == "end of period 2025, 2025-12-31"


def test_fixed_exclusive_is_the_day_before_and_never_provisional() -> None:
    rule = {"type": "fixed", "month": 4, "day": 1, "year_offset": 1, "exclusive": True}
    result = due(rule, period=Period.parse("2026"))
    assert result.due == date(2027, 3, 31)
    assert result.basis_zh == "固定日期 2027-03-31（4月1日之前）"
    assert result.basis_en == "fixed date 2027-03-31 (before 1 April)"
    # A hard date needs no holiday table, so the missing 2027 data does not matter.
    assert not result.provisional


def test_fixed_exclusive_first_of_january_is_new_years_eve() -> None:
    rule = {"type": "fixed", "month": 1, "day": 1, "year_offset": 1, "exclusive": True}
    assert due(rule, period=Period.parse("2026")).due == date(2026, 12, 31)
    january = {"type": "fixed", "month": 1, "day": 31, "year_offset": 1, "exclusive": True}
    assert due(january, period=Period.parse("2025")).due == date(2026, 1, 30)


def test_fixed_date_on_a_holiday_is_not_moved() -> None:
    result = due({"type": "fixed", "month": 10, "day": 1}, period=Period.parse("2026-Q3"))
    assert result.due == date(2026, 10, 1)
    assert result.basis_zh == "固定日期 2026-10-01，逢休息日不顺延"
    assert result.basis_en == "fixed date 2026-10-01, not moved off rest days"
    saturday = due(
        {"type": "fixed", "month": 1, "day": 31, "exclusive": False}, period=Period.parse("2026")
    )
    assert saturday.due == date(2026, 1, 31)


# --- provisional deadlines ------------------------------------------------------------------


def test_no_2027_data_means_weekends_only_and_provisional() -> None:
    rule = {"type": "working_days", "days": 20}
    result = due(rule, trigger=date(2026, 12, 20))
    # 12-21..25 (5), 12-28..31 (9), 2027-01-01 Fri (10), 01-04..08 (15), 01-11..15 (20).
    assert result.due == date(2027, 1, 15)
    assert result.provisional
    assert result.basis_zh == (
        "20 个工作日，自 2026-12-20 起算（2027 年官方节假日安排未发布，暂按周末计算）"
    )
    assert result.basis_en == (
        "20 working days from 2026-12-20 "
        "(provisional: no official 2027 holiday calendar, weekends only)"
    )


def test_loading_2027_changes_the_result_and_clears_provisional() -> None:
    rule = {"type": "working_days", "days": 20}
    trigger = date(2026, 12, 20)
    # Draft 2027 rows that are not marked covered are not applied: still weekends only.
    draft = compute_deadline(rule, calendar=with_2027(covered=False), trigger=trigger)
    assert (draft.due, draft.provisional) == (date(2027, 1, 15), True)
    rest_only = compute_deadline(
        rule, calendar=with_2027(covered=True, special=MADE_UP_2027[:1]), trigger=trigger
    )
    assert (rest_only.due, rest_only.provisional) == (date(2027, 1, 18), False)
    loaded = compute_deadline(rule, calendar=with_2027(covered=True), trigger=trigger)
    # New Year's Day is skipped, and make-up Sunday 17 January is the 20th working day.
    assert loaded.due == date(2027, 1, 17)
    assert not loaded.provisional
    assert loaded.basis_zh == "20 个工作日，自 2026-12-20 起算，跳过元旦，含补班日 2027-01-17"
    assert "skipping New Year's Day" in loaded.basis_en
    assert loaded.calendar_version == "db-2027-draft"


def test_provisional_names_every_missing_year() -> None:
    cal = WorkingCalendar(official_special_days([2026]), [2026], version="2026 only")
    result = compute_deadline(
        {"type": "working_days", "days": 300}, calendar=cal, trigger=date(2026, 12, 1)
    )
    assert result.due.year == 2028
    assert "（2027、2028 年官方节假日安排未发布，暂按周末计算）" in result.basis_zh
    assert "no official 2027, 2028 holiday calendar" in result.basis_en


def test_period_end_into_2027_is_provisional() -> None:
    result = due({"type": "period_end", "working_days": 20}, period=Period.parse("2026"))
    assert result.due == date(2027, 1, 28)
    assert result.provisional
    within = due({"type": "period_end", "working_days": 20}, period=Period.parse("2026-Q1"))
    assert not within.provisional


def test_natural_days_from_uncovered_year_are_provisional() -> None:
    result = due({"type": "natural_days", "days": 15}, trigger=date(2027, 3, 1))
    assert result.due == date(2027, 3, 16)
    assert result.provisional
    assert "2027" in result.basis_en


def test_unknown_holiday_names_pass_through_in_english() -> None:
    local = [SpecialDay(date(2026, 11, 16), DayKind.REST, "地方假日")]
    cal = WorkingCalendar(local, [2026], version="local")
    result = compute_deadline(
        {"type": "working_days", "days": 1}, calendar=cal, trigger=date(2026, 11, 13)
    )
    assert result.due == date(2026, 11, 17)
    assert result.basis_en == "1 working day from 2026-11-13, skipping 地方假日"


def test_deadline_is_immutable() -> None:
    result = due({"type": "working_days", "days": 1}, trigger=date(2026, 11, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.due = date(2030, 1, 1)  # type: ignore[misc]


# --- properties -----------------------------------------------------------------------------


@PROPERTY
@given(
    trigger=st.dates(min_value=date(2019, 1, 1), max_value=date(2026, 12, 31)),
    n=st.integers(min_value=-250, max_value=250).filter(bool),
)
def test_working_day_rule_matches_the_calendar(trigger: date, n: int) -> None:
    result = due({"type": "working_days", "days": n}, trigger=trigger)
    assert result.due == official().add_working_days(trigger, n)
    assert official().working_days_between(trigger, result.due) == n
    assert result.provisional == (not 2019 <= result.due.year <= 2026)
    assert ("暂按周末计算" in result.basis_zh) == result.provisional


@PROPERTY
@given(
    trigger=st.dates(min_value=date(2019, 1, 1), max_value=date(2026, 12, 31)),
    n=st.integers(min_value=0, max_value=400),
)
def test_natural_day_rule_is_the_first_working_day_on_or_after_the_last_day(
    trigger: date, n: int
) -> None:
    cal = official()
    result = due({"type": "natural_days", "days": n}, trigger=trigger)
    last = trigger + timedelta(days=n)
    assert result.due >= last
    assert cal.is_working_day(result.due)
    day = last
    while day < result.due:
        assert not cal.is_working_day(day)
        day += ONE_DAY
    assert ("顺延" in result.basis_zh) == (result.due != last)


@PROPERTY
@given(
    trigger=st.dates(min_value=date(2019, 1, 1), max_value=date(2026, 12, 31)),
    n=st.integers(min_value=0, max_value=36),
)
def test_month_rule_keeps_the_day_or_clamps_to_month_end(trigger: date, n: int) -> None:
    year, month = trigger.year + (trigger.month - 1 + n) // 12, (trigger.month - 1 + n) % 12 + 1
    first_of_next = date(year + month // 12, month % 12 + 1, 1)
    last = min(date(year, month, 1) + ONE_DAY * (trigger.day - 1), first_of_next - ONE_DAY)
    result = due({"type": "months", "months": n}, trigger=trigger)
    assert result.due == official().roll_forward(last)
    assert ("取月末" in result.basis_zh) == (last.day != trigger.day)


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        {"type": "working_days", "days": 20},
        {"type": "working_days", "days": -1},
        {"type": "natural_days", "days": 0},
        {"type": "months", "months": 3},
        {"type": "years", "years": 3},
        {"type": "period_end", "working_days": 0},
        {"type": "fixed", "month": 1, "day": 31},
        {"type": "fixed", "month": 4, "day": 1, "year_offset": 1, "exclusive": True},
        {"type": "fixed", "month": 12, "day": 31, "year_offset": 0, "exclusive": False},
    ],
)
def test_valid_rules(rule: dict[str, Any]) -> None:
    validate_rule(rule)


@pytest.mark.parametrize(
    ("rule", "field", "fragment"),
    [
        ({}, "type", "missing field 'type'"),
        ({"type": "weeks", "weeks": 2}, "type", "unknown value 'weeks'"),
        ({"type": 3}, "type", "unknown value 3"),
        ({"type": "working_days"}, "days", "missing field 'days'"),
        ({"type": "working_days", "days": "20"}, "days", "must be an integer"),
        ({"type": "working_days", "days": 2.5}, "days", "must be an integer"),
        ({"type": "working_days", "days": True}, "days", "must be an integer"),
        ({"type": "working_days", "days": None}, "days", "must be an integer"),
        ({"type": "working_days", "days": 0}, "days", "must not be 0"),
        ({"type": "natural_days", "days": -1}, "days", "must be >= 0"),
        ({"type": "months", "months": -2}, "months", "must be >= 0"),
        ({"type": "months", "days": 30}, "days", "unknown field 'days'"),
        ({"type": "years"}, "years", "missing field 'years'"),
        ({"type": "years", "years": -1}, "years", "must be >= 0"),
        ({"type": "period_end", "working_days": -3}, "working_days", "must be >= 0"),
        ({"type": "period_end", "days": 3}, "days", "unknown field 'days'"),
        ({"type": "fixed", "day": 1}, "month", "missing field 'month'"),
        ({"type": "fixed", "month": 4}, "day", "missing field 'day'"),
        ({"type": "fixed", "month": 13, "day": 1}, "month", "must be 1..12"),
        ({"type": "fixed", "month": 0, "day": 1}, "month", "must be >= 1"),
        ({"type": "fixed", "month": 4, "day": 31}, "day", "must be 1..30 for month 4"),
        ({"type": "fixed", "month": 2, "day": 29}, "day", "must be 1..28 for month 2"),
        ({"type": "fixed", "month": 1, "day": 32}, "day", "must be 1..31"),
        ({"type": "fixed", "month": 1, "day": 0}, "day", "must be >= 1"),
        ({"type": "fixed", "month": 1, "day": 1, "year_offset": "1"}, "year_offset", "integer"),
        ({"type": "fixed", "month": 1, "day": 1, "year_offset": 99}, "year_offset", "-10..10"),
        ({"type": "fixed", "month": 1, "day": 1, "exclusive": "yes"}, "exclusive", "true or false"),
        ({"type": "fixed", "month": 1, "day": 1, "exlusive": True}, "exlusive", "unknown field"),
    ],
)
def test_invalid_rules_name_the_field(rule: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(DeadlineRuleError) as caught:
        validate_rule(rule)
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert field in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_rule_must_be_a_mapping() -> None:
    with pytest.raises(DeadlineRuleError, match="mapping"):
        validate_rule([("type", "fixed")])  # type: ignore[arg-type]


def test_compute_validates_first() -> None:
    with pytest.raises(DeadlineRuleError, match="days"):
        due({"type": "natural_days", "days": -5}, trigger=date(2026, 1, 5))


@pytest.mark.parametrize(
    "rule",
    [
        {"type": "working_days", "days": 20},
        {"type": "natural_days", "days": 15},
        {"type": "months", "months": 3},
        {"type": "years", "years": 3},
    ],
)
def test_event_rules_need_a_trigger(rule: dict[str, Any]) -> None:
    with pytest.raises(DeadlineRuleError, match="trigger") as caught:
        due(rule, period=Period.parse("2026"))
    assert caught.value.field == "trigger"


@pytest.mark.parametrize(
    "rule",
    [
        {"type": "period_end", "working_days": 10},
        {"type": "fixed", "month": 1, "day": 31, "year_offset": 1},
    ],
)
def test_periodic_rules_need_a_period(rule: dict[str, Any]) -> None:
    with pytest.raises(DeadlineRuleError, match="period") as caught:
        due(rule, trigger=date(2026, 5, 6))
    assert caught.value.field == "period"
