"""Period codes and the periods of each cadence."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.services.periods import Period, periods_for


@pytest.mark.parametrize(
    ("code", "start", "end"),
    [
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2026-H1", date(2026, 1, 1), date(2026, 6, 30)),
        ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)),
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-Q2", date(2026, 4, 1), date(2026, 6, 30)),
        ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-01", date(2026, 1, 1), date(2026, 1, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-07", date(2026, 7, 1), date(2026, 7, 31)),
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
    ],
)
def test_parse(code: str, start: date, end: date) -> None:
    period = Period.parse(code)
    assert period == Period(code, start, end)
    assert period.year == start.year
    assert str(period) == code


@pytest.mark.parametrize(
    "code",
    [
        "",
        "26",
        "0999",
        "20266",
        "2026-",
        "2026-Q0",
        "2026-Q5",
        "2026-q3",
        "2026-H0",
        "2026-H3",
        "2026-h1",
        "2026-00",
        "2026-13",
        "2026-7",
        "2026-007",
        "2026Q1",
        "2026-W01",
        " 2026",
        "2026-Q1 ",
        "2026/07",
    ],
)
def test_bad_codes_raise(code: str) -> None:
    with pytest.raises(ValueError, match="period code"):
        Period.parse(code)


def test_bad_month_message_says_why() -> None:
    with pytest.raises(ValueError, match=r"month must be 01\.\.12"):
        Period.parse("2026-13")


def test_non_string_code_raises_value_error() -> None:
    with pytest.raises(ValueError, match="period code"):
        Period.parse(2026)  # type: ignore[arg-type]


def test_contains() -> None:
    q3 = Period.parse("2026-Q3")
    assert date(2026, 7, 1) in q3
    assert date(2026, 9, 30) in q3
    assert date(2026, 10, 1) not in q3
    assert "2026-08-01" not in q3


@pytest.mark.parametrize(
    ("cadence", "codes"),
    [
        ("annual", ["2026"]),
        ("once", ["2026"]),
        ("semiannual", ["2026-H1", "2026-H2"]),
        ("quarterly", ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]),
        ("monthly", [f"2026-{m:02d}" for m in range(1, 13)]),
        ("event", []),
    ],
)
def test_periods_for(cadence: str, codes: list[str]) -> None:
    periods = periods_for(cadence, 2026)
    assert [p.code for p in periods] == codes
    assert periods == [Period.parse(c) for c in codes]


def test_unknown_cadence_raises() -> None:
    with pytest.raises(ValueError, match="weekly"):
        periods_for("weekly", 2026)


@settings(max_examples=60, deadline=None, database=None)
@given(
    year=st.integers(min_value=1000, max_value=9999),
    cadence=st.sampled_from(["annual", "semiannual", "quarterly", "monthly", "once"]),
)
def test_periods_partition_the_year(year: int, cadence: str) -> None:
    periods = periods_for(cadence, year)
    assert periods[0].start == date(year, 1, 1)
    assert periods[-1].end == date(year, 12, 31)
    for before, after in pairwise(periods):
        assert after.start == before.end + timedelta(days=1)
    for period in periods:
        assert period.start <= period.end
        assert period.year == year
        assert Period.parse(period.code) == period
