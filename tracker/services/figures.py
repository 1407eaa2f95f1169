"""Dashboard figures: items per unit and requirement family for a year, aggregated in SQL.

One GROUP BY query whatever the number of items, scoped to the units the viewer may see. The
JSON API's `/dashboard` uses it; the dashboard pages can reuse it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.models import ChecklistItem, ItemStatus, Requirement, Unit, User
from tracker.models.catalogue import Family
from tracker.permissions import sees_all_units
from tracker.scoping import unit_scope
from tracker.services.item_filters import year_condition

__all__ = ["FigureRow", "totals", "unit_family_figures"]

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
    `period` (a stored period code) to that period's items, as /items/?period= does.
    """
    status_columns = [
        func.count(when((ChecklistItem.status == status, 1))).label(status.value)
        for status in ItemStatus
    ]
    stmt = (
        select(
            Unit.id,
            Unit.code,
            Unit.name,
            Unit.name_en,
            Requirement.family,
            func.count(ChecklistItem.id).label("total"),
            *status_columns,
            func.count(when((ChecklistItem.is_overdue(today), 1))).label("overdue"),
        )
        .select_from(ChecklistItem)
        .join(Unit, Unit.id == ChecklistItem.unit_id)
        .join(Requirement, Requirement.id == ChecklistItem.requirement_id)
        .where(year_condition(year))
        .group_by(Unit.id, Unit.code, Unit.name, Unit.name_en, Unit.path, Requirement.family)
        .order_by(Unit.path, Unit.id, Requirement.family)
    )
    if viewer is not None and not sees_all_units(viewer):
        stmt = stmt.where(unit_scope(viewer))
    if period:
        stmt = stmt.where(ChecklistItem.period == period)
    rows = []
    for row in session.execute(stmt):
        mapping = row._mapping
        rows.append(
            FigureRow(
                unit_id=mapping["id"],
                unit_code=mapping["code"],
                unit_name=mapping["name"],
                unit_name_en=mapping["name_en"],
                family=Family(mapping["family"]),
                total=int(mapping["total"]),
                by_status={s.value: int(mapping[s.value] or 0) for s in ItemStatus},
                overdue=int(mapping["overdue"] or 0),
            )
        )
    return rows


def totals(rows: list[FigureRow]) -> dict[str, Any]:
    """The rows added up: total, per status, overdue and the completion rate."""
    total = sum(r.total for r in rows)
    by_status = {s.value: sum(r.by_status.get(s.value, 0) for r in rows) for s in ItemStatus}
    approved = by_status[ItemStatus.APPROVED.value]
    return {
        "total": total,
        "by_status": by_status,
        "overdue": sum(r.overdue for r in rows),
        "completion_rate": round(approved / total, 4) if total else None,
    }
