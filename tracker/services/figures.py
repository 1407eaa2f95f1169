"""Dashboard figures: items per unit and requirement family for a year, aggregated in SQL.

Two GROUP BY queries whatever the number of items (the year's tally rows, and its overdue
items), scoped to the units the viewer may see. The JSON API's `/dashboard` and the dashboard
page use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.models import ChecklistItem, ItemStatus, ItemTally, Requirement, Unit, User
from tracker.models.catalogue import Family
from tracker.permissions import sees_all_units
from tracker.scoping import unit_scope
from tracker.services.item_filters import year_condition

__all__ = ["FigureRow", "totals", "unit_family_figures"]

STATUS_VALUES = tuple(s.value for s in ItemStatus)  # read once: Enum.value is slow per row
MIN_YEAR = 2000
MAX_YEAR = 2100


@dataclass(frozen=True)
class FigureRow:
    """The items of one unit and one family in the year."""

    unit_id: int
    unit_code: str
    unit_name: str
    unit_name_en: str | None
    family: Family
    total: int
    by_status: dict[str, int]
    overdue: int

    @property
    def approved(self) -> int:
        return self.by_status.get(ItemStatus.APPROVED.value, 0)

    @property
    def completion_rate(self) -> float | None:
        """Approved share of the items (None without items), rounded to 4 places."""
        return round(self.approved / self.total, 4) if self.total else None

    def unit_display_name(self, locale: str) -> str:
        if locale.startswith("en") and self.unit_name_en:
            return self.unit_name_en
        return self.unit_name


def unit_family_figures(
    session: Session,
    *,
    year: int,
    today: date,
    viewer: User | None,
    period: str | None = None,
) -> list[FigureRow]:
    """Per unit and family: total, items per status, overdue; units by tree order.

    `viewer` narrows the rows to the units he may see (None: every unit, for jobs and reports);
    `period` (a stored period code) to that period's items, as /items/?period= does. Without a
    period the counts come from the item tally (a year's rows, not its items) and only the
    overdue items are counted.
    """
    scope = unit_scope(viewer) if viewer is not None and not sees_all_units(viewer) else None
    if period:
        counted = _counted_figures(year=year, period=period, today=today, scope=scope)
        return [_figure_row(row._mapping) for row in session.execute(counted)]
    overdue = _overdue_by_unit_family(session, year=year, today=today, scope=scope)
    rows = []
    for unit_id, code, name, name_en, family_value, total, *counts in session.execute(
        _kept_figures(year=year, scope=scope)
    ):
        family = Family(family_value)
        rows.append(
            FigureRow(
                unit_id=unit_id,
                unit_code=code,
                unit_name=name,
                unit_name_en=name_en,
                family=family,
                total=int(total),
                by_status=dict(zip(STATUS_VALUES, map(int, counts), strict=True)),
                overdue=overdue.get((unit_id, family), 0),
            )
        )
    return rows


_GROUP = (Unit.id, Unit.code, Unit.name, Unit.name_en, Unit.path, Requirement.family)
_ORDER = (Unit.path, Unit.id, Requirement.family)


def _kept_figures(*, year: int, scope: Any) -> Any:
    """Per unit and family from the tally alone (it keeps the family), then the units' names:
    total and items per status."""
    items = func.sum(ItemTally.items)
    sums = (
        select(
            ItemTally.unit_id,
            ItemTally.family,
            items.label("total"),
            *(
                func.sum(when((ItemTally.status == status, ItemTally.items), else_=0)).label(
                    status.value
                )
                for status in ItemStatus
            ),
        )
        .where(ItemTally.year == year)
        .group_by(ItemTally.unit_id, ItemTally.family)
        .having(items > 0)  # a tally row falls to zero when its last item moves on
    )
    if scope is not None:
        sums = sums.where(ItemTally.unit_id.in_(select(Unit.id).where(scope)))
    sums = sums.subquery()
    return (
        select(
            Unit.id,
            Unit.code,
            Unit.name,
            Unit.name_en,
            sums.c.family,
            sums.c.total,
            *(sums.c[status] for status in STATUS_VALUES),
        )
        .join(sums, sums.c.unit_id == Unit.id)
        .order_by(Unit.path, Unit.id, sums.c.family)
    )


def _overdue_by_unit_family(
    session: Session, *, year: int, today: date, scope: Any
) -> dict[tuple[int, Family], int]:
    """Overdue items per unit and family: owed and past due, few, read from the (status, year,
    due date) index (a join with the units would have SQLite probe them one by one)."""
    stmt = (
        select(ChecklistItem.unit_id, Requirement.family, func.count())
        .join(Requirement, Requirement.id == ChecklistItem.requirement_id)
        .where(year_condition(year), ChecklistItem.is_overdue(today))
        .group_by(ChecklistItem.unit_id, Requirement.family)
    )
    if scope is not None:
        stmt = stmt.where(ChecklistItem.unit_id.in_(select(Unit.id).where(scope)))
    return {(unit_id, Family(family)): int(n) for unit_id, family, n in session.execute(stmt)}


def _counted_figures(*, year: int, period: str, today: date, scope: Any) -> Any:
    """Per unit and family, counted over a period's items (the tally keeps no periods)."""
    stmt = (
        select(
            Unit.id,
            Unit.code,
            Unit.name,
            Unit.name_en,
            Requirement.family,
            func.count(ChecklistItem.id).label("total"),
            *(
                func.count(when((ChecklistItem.status == status, 1))).label(status.value)
                for status in ItemStatus
            ),
            func.count(when((ChecklistItem.is_overdue(today), 1))).label("overdue"),
        )
        .select_from(ChecklistItem)
        .join(Unit, Unit.id == ChecklistItem.unit_id)
        .join(Requirement, Requirement.id == ChecklistItem.requirement_id)
        .where(year_condition(year), ChecklistItem.period == period)
        .group_by(*_GROUP)
        .order_by(*_ORDER)
    )
    return stmt.where(scope) if scope is not None else stmt


def _figure_row(mapping: Any) -> FigureRow:
    return FigureRow(
        unit_id=mapping["id"],
        unit_code=mapping["code"],
        unit_name=mapping["name"],
        unit_name_en=mapping["name_en"],
        family=Family(mapping["family"]),
        total=int(mapping["total"]),
        by_status={status: int(mapping[status] or 0) for status in STATUS_VALUES},
        overdue=int(mapping["overdue"] or 0),
    )


def totals(rows: list[FigureRow]) -> dict[str, Any]:
    """The rows added up: total, per status, overdue and the completion rate."""
    total = sum(r.total for r in rows)
    by_status = {s: sum(r.by_status.get(s, 0) for r in rows) for s in STATUS_VALUES}
    approved = by_status[ItemStatus.APPROVED.value]
    return {
        "total": total,
        "by_status": by_status,
        "overdue": sum(r.overdue for r in rows),
        "completion_rate": round(approved / total, 4) if total else None,
    }
