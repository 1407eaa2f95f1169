"""Reporting periods of checklist items: year, half-year, quarter, month."""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date

# Only canonical codes are accepted ("2026-Q3", never "2026-q3" or "2026-7"): the code is part
# of an item's unique key, so two spellings of one period would create duplicate items.
_CODE = re.compile(
    r"(?P<year>[1-9]\d{3})(?:-(?:H(?P<half>[12])|Q(?P<quarter>[1-4])|(?P<month>\d\d)))?"
)

CADENCES = ("annual", "semiannual", "quarterly", "monthly", "once", "event")


def _month_end(year: int, month: int) -> date:
    """Last day of a month."""
    return date(year, month, monthrange(year, month)[1])


@dataclass(frozen=True)
class Period:
    """A named span of dates: "2026", "2026-H1", "2026-Q3" or "2026-07"."""

    code: str
    start: date
    end: date

    def __str__(self) -> str:
        return self.code

    @classmethod
    def parse(cls, code: str) -> Period:
        """Period for a code; ValueError for anything that is not a canonical period code."""
        match = _CODE.fullmatch(code) if isinstance(code, str) else None
        if match is None:
            raise ValueError(
                f"invalid period code {code!r}: expected YYYY, YYYY-H1/H2, YYYY-Q1..Q4 or YYYY-MM"
            )
        year = int(match["year"])
        if match["half"]:
            first = 1 if match["half"] == "1" else 7
            return cls(code, date(year, first, 1), _month_end(year, first + 5))
        if match["quarter"]:
            first = 3 * int(match["quarter"]) - 2
            return cls(code, date(year, first, 1), _month_end(year, first + 2))
        if match["month"]:
            month = int(match["month"])
            if not 1 <= month <= 12:
                raise ValueError(f"invalid period code {code!r}: month must be 01..12")
            return cls(code, date(year, month, 1), _month_end(year, month))
        return cls(code, date(year, 1, 1), date(year, 12, 31))

    @property
    def year(self) -> int:
        """The calendar year the period belongs to."""
        return self.start.year

    def __contains__(self, d: object) -> bool:
        return isinstance(d, date) and self.start <= d <= self.end


def periods_for(cadence: str, year: int) -> list[Period]:
    """The periods of one year for a requirement cadence (event items have none)."""
    match cadence:
        case "annual" | "once":
            codes = [f"{year}"]
        case "semiannual":
            codes = [f"{year}-H1", f"{year}-H2"]
        case "quarterly":
            codes = [f"{year}-Q{q}" for q in range(1, 5)]
        case "monthly":
            codes = [f"{year}-{m:02d}" for m in range(1, 13)]
        case "event":
            codes = []
        case _:
            raise ValueError(f"unknown cadence {cadence!r}: expected one of {', '.join(CADENCES)}")
    return [Period.parse(c) for c in codes]
