"""The checklist filters, in one place: the /items/ page, the ledger export and the API use them.

Filters arrive as query-string values (invalid ones are ignored, as a bookmark from an older
version must still open) and become SQL conditions over ChecklistItem joined with its Requirement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tracker.models import ChecklistItem, ItemStatus, Requirement, Unit, User
from tracker.models.catalogue import Family
from tracker.scoping import unit_scope
from tracker.services.calendar import WorkingCalendar

OVERDUE = "overdue"  # derived, never stored: owed and past its due date
STATUS_FILTERS = [*(s.value for s in ItemStatus), OVERDUE]
MAX_DUE_WITHIN = 366  # working days; larger values would only walk the calendar for nothing
_HALF_OR_QUARTER = re.compile(r"(\d{4})-?([HQ]\d)")


def period_code(typed: str) -> str:
    """The stored period code for what was typed: 2026Q4 and 2026-q4 both mean 2026-Q4."""
    code = typed.strip().upper()
    match = _HALF_OR_QUARTER.fullmatch(code)
    return f"{match[1]}-{match[2]}" if match else code[:8]


def year_condition(year: int, target: Any = ChecklistItem) -> Any:
    """Items of the year: periodic ones by their period, case items by the decision date (the
    year is kept on the item, so this is one indexed equality). `target`: the items, or the
    item tally, which has the same year, unit and requirement columns."""
    return target.year == year


def status_condition(status: str, today: date) -> Any:
    """A stored status, or the derived "overdue"."""
    if status == OVERDUE:
        return ChecklistItem.is_overdue(today)
    return ChecklistItem.status == ItemStatus(status)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ItemFilters:
    """The item list's query-string filters; invalid values are ignored."""

    year: int | None = None
    period: str = ""
    family: str = ""
    status: str = ""
    unit: int = 0
    assignee: str = ""  # "", "me", "none" or a user id
    q: str = ""
    due_within: int | None = None
    sort: str = "due"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> ItemFilters:
        year = _int(args.get("year"))
        family = args.get("family", "") or ""
        status = args.get("status", "") or ""
        assignee = (args.get("assignee", "") or "").strip()
        due_within = _int(args.get("due_within"))
        return cls(
            year=year if year is not None and 2000 <= year <= 2100 else None,
            period=period_code(args.get("period", "") or ""),
            family=family if family in {f.value for f in Family} else "",
            status=status if status in STATUS_FILTERS else "",
            unit=max(_int(args.get("unit")) or 0, 0),
            assignee=assignee if assignee in ("me", "none") or assignee.isdigit() else "",
            q=(args.get("q", "") or "").strip(),
            due_within=due_within if due_within is not None and due_within >= 0 else None,
            sort="-due" if args.get("sort") == "-due" else "due",
        )

    def query_args(self) -> dict[str, Any]:
        """The non-empty filters, for links."""
        values = {
            "year": self.year,
            "period": self.period,
            "family": self.family,
            "status": self.status,
            "unit": self.unit or None,
            "assignee": self.assignee,
            "q": self.q,
            "due_within": self.due_within,
            "sort": "-due" if self.sort == "-due" else None,
        }
        return {k: v for k, v in values.items() if v not in (None, "")}


def conditions(
    session: Session,
    filters: ItemFilters,
    *,
    user: User | None,
    today: date,
    calendar: WorkingCalendar | None = None,
    with_status: bool = True,
    target: Any = ChecklistItem,
) -> list[Any]:
    """SQL conditions of the user's scope (None: every unit, for the CLI) and of each filter.

    `with_status=False` leaves the status out: the list's counts per status use the rest.
    `target=ItemTally` gives the conditions over the tally (services/tally.py), for filters it
    keeps (`tally.readable`).
    """
    result: list[Any] = []
    scope = unit_scope(user) if user is not None else None
    if scope is not None:
        result.append(scope)
    if filters.unit:
        # A unit outside the scope (or unknown) is ignored rather than giving an empty list.
        visible = select(Unit.id).where(Unit.id == filters.unit)
        if scope is not None:
            visible = visible.where(scope)
        if session.scalar(visible) is not None:
            result.append(target.unit_id == filters.unit)
    if filters.year:
        result.append(year_condition(filters.year, target))
    if filters.period:
        result.append(ChecklistItem.period == filters.period)
    if filters.family:
        result.append(Requirement.family == Family(filters.family))
    if filters.due_within is not None and calendar is not None:
        limit = calendar.add_working_days(today, min(filters.due_within, MAX_DUE_WITHIN))
        result.append(ChecklistItem.due_date.between(today, limit))
    if filters.assignee == "me":
        if user is not None:
            result.append(ChecklistItem.assignee_id == user.id)
    elif filters.assignee == "none":
        result.append(ChecklistItem.assignee_id.is_(None))
    elif filters.assignee:
        result.append(ChecklistItem.assignee_id == int(filters.assignee))
    if filters.q:
        like = f"%{filters.q}%"
        result.append(
            or_(
                Requirement.code.ilike(like),
                Requirement.title_zh.ilike(like),
                Requirement.title_en.ilike(like),
            )
        )
    if with_status and filters.status:
        result.append(status_condition(filters.status, today))
    return result


# A list at least this long (the tally gives its length before the page is read) is read in
# due-date index order rather than fetched whole and sorted.
LONG_LIST = 1000


def join_unit_and_requirement(
    stmt: Any, *, items_first: bool = False, dialect: str | None = None
) -> Any:
    """The items of `stmt` joined with their unit and requirement.

    `items_first` (with the session's `dialect`): have SQLite read the items through their own
    indexes and look each one's unit and requirement up, rather than drive the joins from the
    units, probing each unit's items and sorting them all before taking a page (90,000 rows for
    a city chief's list; 300 probes for a bureau-wide one). The join keys get a "+ 0", which
    SQLite cannot look up in an index. For a long page in due order it then walks the (year,
    due date) index and stops after the page; for owed items it reads the (status, due date)
    index. PostgreSQL chooses such plans by itself; a short list is cheaper fetched and sorted.
    """
    unit_key: Any = ChecklistItem.unit_id
    requirement_key: Any = ChecklistItem.requirement_id
    if items_first and dialect == "sqlite":
        unit_key, requirement_key = unit_key + 0, requirement_key + 0
    return stmt.join(Unit, Unit.id == unit_key).join(Requirement, Requirement.id == requirement_key)
