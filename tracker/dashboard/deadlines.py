"""The deadline calendar: a month grid of the user's scoped items by due date.

Each day shows what the statutory calendar makes of it (working day, statutory rest day with the
holiday's name, make-up working day, weekend) and how many items fall due, owed and overdue ones
marked. A day opens a panel listing its items. Three queries whatever the month holds: the counts
(GROUP BY due date and status), the month's holidays, and the chosen day's items.
"""

from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

from babel.dates import format_skeleton
from flask import render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import and_, func, select
from sqlalchemy.orm import contains_eager

from tracker.clock import today
from tracker.dashboard import bp
from tracker.extensions import db
from tracker.guards import requires
from tracker.i18n import current_locale
from tracker.models import ChecklistItem, Holiday, HolidayYear, ItemStatus, Requirement, Unit
from tracker.models.checklist import OWED_STATUSES, STATUS_LABELS
from tracker.permissions import Permission
from tracker.scoping import unit_scope
from tracker.services.calendar import DayKind
from tracker.services.deadlines import _holiday_en  # the one English name table of holidays

DAY_ITEMS_LIMIT = 20  # items listed in the day panel; the rest are counted
WEEKDAYS = (
    _l("Mon"),
    _l("Tue"),
    _l("Wed"),
    _l("Thu"),
    _l("Fri"),
    _l("Sat"),
    _l("Sun"),
)
WORKING, REST, MAKE_UP, WEEKEND = "working", "rest", "make_up", "weekend"
KIND_LABELS = {
    WORKING: _l("Working day"),
    REST: _l("Statutory rest day"),
    MAKE_UP: _l("Make-up working day"),
    WEEKEND: _l("Weekend"),
}


@dataclass
class Day:
    """One cell of the grid."""

    day: date
    in_month: bool
    kind: str = WORKING
    holiday: str = ""
    total: int = 0
    owed: int = 0
    overdue: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def _month(value: str | None, fallback: date) -> date:
    """The first day of YYYY-MM, or of the fallback's month when the value is not one."""
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        if 2000 <= year <= 2100:
            return date(year, month, 1)
    except ValueError:
        pass
    return fallback.replace(day=1)


def _day(value: str | None) -> date | None:
    try:
        chosen = date.fromisoformat(value or "")
    except ValueError:
        return None
    return chosen if 2000 <= chosen.year <= 2100 else None


def _shift(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _holiday_name(name: str, locale: str) -> str:
    return _holiday_en(name) if locale.startswith("en") else name


@bp.get("/deadlines")
@requires(Permission.VIEW_ITEMS)
def deadlines():
    today_ = today()
    locale = current_locale()
    chosen = _day(request.args.get("day"))
    first = chosen.replace(day=1) if chosen else _month(request.args.get("month"), today_)
    last = first.replace(day=month_calendar.monthrange(first.year, first.month)[1])
    scope = unit_scope(current_user)
    conds = [ChecklistItem.due_date.between(first, last)]
    if scope is not None:
        conds.append(scope)

    counts = db.session.execute(
        select(ChecklistItem.due_date, ChecklistItem.status, func.count(ChecklistItem.id))
        .join(ChecklistItem.unit)
        .where(*conds)
        .group_by(ChecklistItem.due_date, ChecklistItem.status)
    ).all()
    # The month's special days apply only when the year's official table is loaded: a covered
    # year yields one row per special day (or one empty row), an uncovered year no row at all.
    special_rows = db.session.execute(
        select(HolidayYear.year, Holiday.day, Holiday.kind, Holiday.name)
        .outerjoin(Holiday, and_(Holiday.day.between(first, last)))
        .where(HolidayYear.year == first.year)
    ).all()
    covered = bool(special_rows)
    special = {row.day: (DayKind(row.kind), row.name) for row in special_rows if row.day}

    start = first - timedelta(days=first.weekday())
    end = last + timedelta(days=6 - last.weekday())
    days: dict[date, Day] = {}
    d = start
    while d <= end:
        cell = Day(day=d, in_month=first <= d <= last)
        kind, name = special.get(d, (None, ""))
        if kind == DayKind.REST:
            cell.kind, cell.holiday = REST, _holiday_name(name, locale)
        elif kind == DayKind.WORKDAY:
            cell.kind, cell.holiday = MAKE_UP, _holiday_name(name, locale)
        elif d.weekday() >= 5:
            cell.kind = WEEKEND
        days[d] = cell
        d += timedelta(days=1)
    for due, status, count in counts:
        cell = days[due]
        status = ItemStatus(status)
        cell.total += count
        cell.by_status[status.value] = count
        if status in OWED_STATUSES:
            cell.owed += count
            if due < today_:
                cell.overdue += count
    weeks = [list(days.values())[i : i + 7] for i in range(0, len(days), 7)]

    panel = None
    if chosen is not None:
        items = list(
            db.session.scalars(
                select(ChecklistItem)
                .join(ChecklistItem.unit)
                .join(ChecklistItem.requirement)
                .options(
                    contains_eager(ChecklistItem.unit), contains_eager(ChecklistItem.requirement)
                )
                .where(ChecklistItem.due_date == chosen, *conds[1:])
                .order_by(Requirement.code, Unit.path, ChecklistItem.id)
                .limit(DAY_ITEMS_LIMIT)
            )
        )
        total = days[chosen].total
        panel = {
            "day": days[chosen],
            "items": items,
            "more": max(total - len(items), 0),
        }

    return render_template(
        "dashboard/deadlines.html",
        first=first,
        weeks=weeks,
        weekdays=WEEKDAYS,
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        owed_statuses={s.value for s in OWED_STATUSES},
        covered=covered,
        today=today_,
        previous=_shift(first, -1),
        following=_shift(first, 1),
        panel=panel,
        month_title=format_skeleton("yMMMM", first, locale=locale),
        panel_title=format_skeleton("yMMMMd", chosen, locale=locale) if chosen else "",
        month_total=sum(c.total for c in days.values()),
    )
