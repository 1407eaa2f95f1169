"""Dashboard figures: items per unit and requirement family for a year, aggregated in SQL.

Each figure is a GROUP BY whatever the number of items: over the year's rows of the unit x family
tally (`UnitFamilyTally`) plus its few overdue items, or, for a period (which the tallies do not
keep), over the period's items.
Scoped to the units the viewer may see. The JSON API's `/dashboard` and the dashboard page
use it; the page asks for the family totals and for one page of units at a time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.models import ChecklistItem, ItemStatus, Requirement, Unit, UnitFamilyTally, User
from tracker.models.catalogue import Family
from tracker.permissions import sees_all_units
from tracker.scoping import unit_scope
from tracker.services.item_filters import year_condition

__all__ = [
    "FamilyRow",
    "FigureRow",
    "family_figures",
    "totals",
    "unit_family_figures",
    "units_with_items",
]

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


@dataclass(frozen=True)
class FamilyRow:
    """The items of one family in the year, over every unit in scope."""

    family: Family
    total: int
    by_status: dict[str, int]
    overdue: int
    # Approved on time, as the tally keeps it, and past due but not approved (owed or waiting
    # for review): the on-time rate's base is approved + late. None for a period (the tally
    # keeps no periods; the rate is counted over the period's items).
    on_time: int | None = None
    late: int | None = None


def _scope(viewer: User | None) -> Any:
    """The viewer's unit condition; None when he sees every unit (or for jobs, viewer None)."""
    return unit_scope(viewer) if viewer is not None and not sees_all_units(viewer) else None


def _narrowed(stmt: Any, unit_id: Any, *, scope: Any, unit_ids: Collection[int] | None) -> Any:
    """`stmt` kept to the units in scope and, when given, to `unit_ids`."""
    if scope is not None:
        stmt = stmt.where(unit_id.in_(select(Unit.id).where(scope)))
    if unit_ids is not None:
        stmt = stmt.where(unit_id.in_(list(unit_ids)))
    return stmt


def unit_family_figures(
    session: Session,
    *,
    year: int,
    today: date,
    viewer: User | None,
    period: str | None = None,
    unit_ids: Collection[int] | None = None,
) -> list[FigureRow]:
    """Per unit and family: total, items per status, overdue; units by tree order.

    `viewer` narrows the rows to the units he may see (None: every unit, for jobs and reports);
    `period` (a stored period code) to that period's items, as /items/?period= does;
    `unit_ids` to those units (a page of them). Without a period the counts come from the
    unit x family tally (a year's rows, not its items) and only the overdue items are counted.
    """
    if unit_ids is not None and not unit_ids:
        return []
    scope = _scope(viewer)
    if period:
        counted = _counted(
            Unit.id,
            Unit.code,
            Unit.name,
            Unit.name_en,
            Unit.path,
            Requirement.family,
            year=year,
            period=period,
            today=today,
            scope=scope,
            unit_ids=unit_ids,
        ).order_by(Unit.path, Unit.id, Requirement.family)
        return [_figure_row(row._mapping) for row in session.execute(counted)]
    overdue = _overdue(
        session, ChecklistItem.unit_id, year=year, today=today, scope=scope, unit_ids=unit_ids
    )
    sums = _tally_sums(
        UnitFamilyTally.unit_id, year=year, scope=scope, unit_ids=unit_ids
    ).subquery()
    named = (
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
    rows = []
    for unit_id, code, name, name_en, family_value, total, *counts in session.execute(named):
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


def family_figures(
    session: Session,
    *,
    year: int,
    today: date,
    viewer: User | None,
    period: str | None = None,
) -> list[FamilyRow]:
    """Per family over the units in scope: total, items per status, overdue; catalogue order.

    As `unit_family_figures`, one family's row for all units at once: a city's dashboard sums
    its families in SQL instead of over its units' rows.
    """
    scope = _scope(viewer)
    if period:
        stmt = _counted(
            Requirement.family, year=year, period=period, today=today, scope=scope, unit_ids=None
        )
        rows = {
            Family(row.family): FamilyRow(
                family=Family(row.family),
                total=int(row.total),
                by_status={status: int(row._mapping[status] or 0) for status in STATUS_VALUES},
                overdue=int(row.overdue or 0),
            )
            for row in session.execute(stmt)
        }
    else:
        rows = _kept_family_rows(session, year=year, today=today, scope=scope)
    return [rows[family] for family in Family if family in rows and rows[family].total]


def _kept_family_rows(
    session: Session, *, year: int, today: date, scope: Any
) -> dict[Family, FamilyRow]:
    """Per family from the unit x family tally: items per status and approved on time, summed
    per (family, status) and turned into a row per family here. Read in the order of the
    (year, family, status) index, without a sort or an expression per row: a city's year has
    about 6,000 such rows."""
    stmt = (
        select(
            UnitFamilyTally.family,
            UnitFamilyTally.status,
            func.sum(UnitFamilyTally.items),
            func.sum(UnitFamilyTally.on_time),
        )
        .where(UnitFamilyTally.year == year)
        .group_by(UnitFamilyTally.family, UnitFamilyTally.status)
    )
    stmt = _narrowed(stmt, UnitFamilyTally.unit_id, scope=scope, unit_ids=None)
    by_status: dict[Family, dict[str, int]] = {}
    on_time: dict[Family, int] = {}
    for family_value, status, items, approved_on_time in session.execute(stmt):
        family = Family(family_value)
        counts = by_status.setdefault(family, dict.fromkeys(STATUS_VALUES, 0))
        counts[ItemStatus(status).value] += int(items or 0)
        on_time[family] = on_time.get(family, 0) + int(approved_on_time or 0)
    past_due = _past_due_by_family(session, year=year, today=today, scope=scope)
    rows = {}
    for family, counts in by_status.items():
        overdue, late = past_due.get(family, (0, 0))
        rows[family] = FamilyRow(
            family=family,
            total=sum(counts.values()),
            by_status=counts,
            overdue=overdue,
            on_time=on_time[family],
            late=late,
        )
    return rows


# Listed rather than "not approved", so the (status, year, due date) index finds them.
NOT_APPROVED = tuple(s.value for s in ItemStatus if s != ItemStatus.APPROVED)


def _past_due_by_family(
    session: Session, *, year: int, today: date, scope: Any
) -> dict[Family, tuple[int, int]]:
    """Per family, the year's items past their due date and not approved: (overdue, late).

    Overdue items are still owed (open or returned); late ones also include those waiting for
    review. Both come from one read of the (status, year, due date) index: few items.
    """
    stmt = _per_family(
        func.count(when((ChecklistItem.is_overdue(today), 1))),  # the model's rule
        func.count(),
        where=(
            year_condition(year),
            ChecklistItem.status.in_(NOT_APPROVED),
            ChecklistItem.due_date < today,
        ),
        scope=scope,
        unit_ids=None,
    )
    return {Family(f): (int(overdue), int(late)) for f, overdue, late in session.execute(stmt)}


def _per_family(
    *counts: Any,
    where: Sequence[Any],
    group: Sequence[Any] = (),
    scope: Any,
    unit_ids: Collection[int] | None,
) -> Any:
    """`counts` of the items meeting `where`, per (`group`, family), in that column order.

    Counted per requirement first and only then joined with the requirements (a few dozen
    rows) for their family: joined item by item, the join and a GROUP BY on the family's text
    cost PostgreSQL more than the count (a city year's 2,100 past-due items: 1.4 → 1.1 ms).
    """
    per_requirement = _narrowed(
        select(
            *group,
            ChecklistItem.requirement_id,
            *(count.label(f"count_{n}") for n, count in enumerate(counts)),
        )
        .where(*where)
        .group_by(*group, ChecklistItem.requirement_id),
        ChecklistItem.unit_id,
        scope=scope,
        unit_ids=unit_ids,
    ).subquery()
    keys = [per_requirement.c[column.key] for column in group]
    return (
        select(
            *keys,
            Requirement.family,
            *(func.sum(per_requirement.c[f"count_{n}"]) for n in range(len(counts))),
        )
        .select_from(per_requirement)
        .join(Requirement, Requirement.id == per_requirement.c.requirement_id)
        .group_by(*keys, Requirement.family)
    )


def units_with_items(
    session: Session, *, year: int, viewer: User | None, period: str | None = None
) -> list[int]:
    """The ids of the units in scope with items in the year (or period), in tree order."""
    if period:
        holding = Unit.id.in_(
            select(ChecklistItem.unit_id).where(
                year_condition(year), ChecklistItem.period == period
            )
        )
    else:
        # A probe of the tally's (year, unit) key per unit: a year's rows are 20 times
        # as many as the units.
        holding = (
            select(UnitFamilyTally.unit_id)
            .where(
                UnitFamilyTally.unit_id == Unit.id,
                UnitFamilyTally.year == year,
                UnitFamilyTally.items > 0,
            )
            .exists()
        )
    stmt = select(Unit.id).where(holding).order_by(Unit.path, Unit.id)
    scope = _scope(viewer)
    if scope is not None:
        stmt = stmt.where(scope)
    return list(session.scalars(stmt))


def _tally_sums(*group: Any, year: int, scope: Any, unit_ids: Collection[int] | None) -> Any:
    """Per family (and `group`) from the year's tally rows: total and items per status."""
    items = func.sum(UnitFamilyTally.items)
    stmt = (
        select(
            *group,
            UnitFamilyTally.family,
            items.label("total"),
            *(
                func.sum(
                    when((UnitFamilyTally.status == status, UnitFamilyTally.items), else_=0)
                ).label(status.value)
                for status in ItemStatus
            ),
        )
        .where(UnitFamilyTally.year == year)
        .group_by(*group, UnitFamilyTally.family)
        .having(items > 0)  # a tally row falls to zero when its last item moves on
    )
    return _narrowed(stmt, UnitFamilyTally.unit_id, scope=scope, unit_ids=unit_ids)


def _overdue(
    session: Session,
    *group: Any,
    year: int,
    today: date,
    scope: Any,
    unit_ids: Collection[int] | None,
) -> dict[tuple[Any, ...], int]:
    """Overdue items per (`group`, family): owed and past due, few, read from the (status,
    year, due date) index (a join with the units would have SQLite probe them one by one)."""
    stmt = _per_family(
        func.count(),
        where=(year_condition(year), ChecklistItem.is_overdue(today)),
        group=group,
        scope=scope,
        unit_ids=unit_ids,
    )
    return {(*keys, Family(family)): int(n) for *keys, family, n in session.execute(stmt)}


def _counted(
    *group: Any,
    year: int,
    period: str,
    today: date,
    scope: Any,
    unit_ids: Collection[int] | None,
) -> Any:
    """Per `group`, counted over a period's items (the tally keeps no periods)."""
    stmt = (
        select(
            *group,
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
        .group_by(*group)
    )
    if scope is not None:
        stmt = stmt.where(scope)
    if unit_ids is not None:
        stmt = stmt.where(ChecklistItem.unit_id.in_(list(unit_ids)))
    return stmt


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
