"""Item counts read from `item_tally` instead of counting a year's items on every request.

The database keeps the tally (migration 0012: triggers on checklist_item), per year, unit,
requirement and status, with how many of those items were approved on time and the requirement's
family (the dashboard sums it without the catalogue: services/figures.py). A page whose filters
are only the viewer's scope, a year, a unit, a family or a search in the requirement's text reads
a few thousand tally rows instead of up to 200,000 items; other filters (period, assignee, due
window) fall back to counting the items. What depends on today's date (overdue, past due) is
counted over the items that are still owed or late, which are few.

The dashboard reads the same counts summed per (year, unit, family, status) from
`unit_family_tally`, which triggers on item_tally keep (migration 0014). `iter_problems`
recounts both from the items.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tracker.models import (
    ChecklistItem,
    ItemStatus,
    ItemTally,
    Requirement,
    Unit,
    UnitFamilyTally,
    User,
)
from tracker.models.catalogue import Family
from tracker.services import item_filters
from tracker.services.item_filters import OVERDUE, ItemFilters, join_unit_and_requirement

Key = tuple[int, int, int, str]  # year, unit id, requirement id, status


def readable(filters: ItemFilters) -> bool:
    """Whether the tally can count items under these filters (status aside: counts are per
    status). Period, assignee and due window are not kept in it."""
    return not (filters.period or filters.assignee or filters.due_within is not None)


def conditions(session: Session, filters: ItemFilters, *, user: User | None) -> list[Any]:
    """The item list's conditions (scope, year, unit, family, text) over the tally joined with
    Unit and Requirement; only for `readable` filters."""
    if not readable(filters):
        raise ValueError("the tally keeps no period, assignee or due window")
    return item_filters.conditions(
        session,
        filters,
        user=user,
        today=date.min,  # unused: no kept filter depends on the date
        with_status=False,
        target=ItemTally,
    )


def tally_select(*columns: Any) -> Any:
    """SELECT over the tally joined with the unit and the requirement of each row."""
    return (
        select(*columns)
        .select_from(ItemTally)
        .join(Unit, Unit.id == ItemTally.unit_id)
        .join(Requirement, Requirement.id == ItemTally.requirement_id)
    )


def status_counts(session: Session, conds: list[Any]) -> dict[str, int]:
    """Items per stored status under tally conditions (`conditions`)."""
    rows = session.execute(
        tally_select(ItemTally.status, func.sum(ItemTally.items))
        .where(*conds)
        .group_by(ItemTally.status)
    )
    counts = {status.value: 0 for status in ItemStatus}
    for status, items in rows:
        counts[ItemStatus(status).value] = int(items or 0)
    return counts


def list_counts(
    session: Session,
    filters: ItemFilters,
    *,
    user: User | None,
    item_conditions: list[Any],
    today: date,
) -> dict[str, int]:
    """Items per status, and overdue, under the list's filters with the status left out.

    `item_conditions` are those filters over the items joined with Unit and Requirement
    (`item_filters.conditions(..., with_status=False)`): overdue items, which depend on today,
    are counted over them (owed and past due: few, and indexed); the rest comes from the tally
    when it keeps the filters, else from one aggregate over the items.
    """
    overdue_items = ChecklistItem.is_overdue(today)
    if not readable(filters):
        columns = [
            func.count(when((ChecklistItem.status == status, 1))).label(status.value)
            for status in ItemStatus
        ]
        columns.append(func.count(when((overdue_items, 1))).label(OVERDUE))
        row = session.execute(_items_select(*columns).where(*item_conditions)).one()
        return {key: int(value or 0) for key, value in row._mapping.items()}
    counts = status_counts(session, conditions(session, filters, user=user))
    counts[OVERDUE] = int(
        session.scalar(_items_select(func.count()).where(*item_conditions, overdue_items)) or 0
    )
    return counts


def _items_select(*columns: Any) -> Any:
    return join_unit_and_requirement(select(*columns).select_from(ChecklistItem))


def listed_total(counts: dict[str, int], status: str) -> int:
    """How many items the list shows: those of the chosen status (or overdue), else all."""
    if status:
        return counts.get(status, 0)
    return sum(counts[s.value] for s in ItemStatus)


# ---------------------------------------------------------------- verify


Counts = tuple[int, int, str]  # items, on time, family


@dataclass(frozen=True)
class TallyProblem:
    key: Key
    expected: Counts  # counted from the items
    found: Counts  # kept in the tally

    def describe(self) -> str:
        year, unit_id, requirement_id, status = self.key
        return (
            f"item tally: year {year}, unit {unit_id}, requirement {requirement_id}, {status}: "
            f"expected {self.expected[0]} items ({self.expected[1]} on time, "
            f"{self.expected[2] or '-'}), found {self.found[0]} ({self.found[1]}, "
            f"{self.found[2] or '-'})"
        )


def _recount_select() -> Any:
    """The tally as the items give it: (year, unit, requirement, status, family, items, on
    time) per key, by one GROUP BY (the columns in the order of `TALLY_COLUMNS`)."""
    on_time = func.sum(when((ChecklistItem.approved_on_time, 1), else_=0))
    key = (
        ChecklistItem.year,
        ChecklistItem.unit_id,
        ChecklistItem.requirement_id,
        ChecklistItem.status,
        Requirement.family,
    )
    return (
        select(*key, func.count(), on_time)
        .join(Requirement, Requirement.id == ChecklistItem.requirement_id)
        .group_by(*key)
    )


TALLY_COLUMNS = ["year", "unit_id", "requirement_id", "status", "family", "items", "on_time"]


def recount(session: Session) -> dict[Key, Counts]:
    """The tally as the items give it, by one GROUP BY."""
    return {
        (y, u, r, ItemStatus(s).value): (int(n), int(o or 0), Family(f).value)
        for y, u, r, s, f, n, o in session.execute(_recount_select())
    }


def rebuild(connection: Connection | Session) -> None:
    """Both tallies recounted from the items, replacing what they held: the item tally is
    emptied and refilled, and the triggers of item_tally fill unit_family_tally from it.

    For bulk loaders that write items with checklist_item's tally triggers disabled: on
    PostgreSQL, a million items in one transaction would update each unit x family row
    hundreds of times, and each update leaves a row version the next one steps over (the
    bench generator ran for a quarter of an hour instead of five minutes).
    """
    connection.execute(delete(ItemTally))
    connection.execute(delete(UnitFamilyTally))  # emptied whatever it held
    connection.execute(insert(ItemTally).from_select(TALLY_COLUMNS, _recount_select()))


def iter_problems(session: Session) -> Iterator[TallyProblem | UnitFamilyTallyProblem]:
    """Every row of either tally that differs from the items' recount (rows at zero count as
    absent): the item tally's first, then the unit x family tally's."""
    expected = recount(session)
    kept = {
        (y, u, r, ItemStatus(s).value): (int(n), int(o), Family(f).value)
        for y, u, r, s, f, n, o in session.execute(
            select(
                ItemTally.year,
                ItemTally.unit_id,
                ItemTally.requirement_id,
                ItemTally.status,
                ItemTally.family,
                ItemTally.items,
                ItemTally.on_time,
            )
        )
        if n or o
    }
    for key, want, have in _differences(expected, kept, absent=(0, 0, "")):
        yield TallyProblem(key, want, have)
    yield from _unit_family_problems(session, expected)


def _differences(expected: dict, kept: dict, *, absent: tuple) -> Iterator[tuple]:
    """(key, expected, kept) for every key whose counts differ, a missing key counting as
    `absent`, in key order."""
    for key in sorted(expected.keys() | kept.keys()):
        want, have = expected.get(key, absent), kept.get(key, absent)
        if want != have:
            yield key, want, have


FamilyKey = tuple[int, int, str, str]  # year, unit id, family, status


@dataclass(frozen=True)
class UnitFamilyTallyProblem:
    key: FamilyKey
    expected: tuple[int, int]  # items, on time: counted from the items
    found: tuple[int, int]  # kept in unit_family_tally

    def describe(self) -> str:
        year, unit_id, family, status = self.key
        return (
            f"unit family tally: year {year}, unit {unit_id}, {family}, {status}: expected "
            f"{self.expected[0]} items ({self.expected[1]} on time), found {self.found[0]} "
            f"({self.found[1]})"
        )


def _unit_family_problems(
    session: Session, recounted: dict[Key, Counts]
) -> Iterator[UnitFamilyTallyProblem]:
    expected: dict[FamilyKey, tuple[int, int]] = {}
    for (year, unit_id, _requirement_id, status), (items, on_time, family) in recounted.items():
        key = (year, unit_id, family, status)
        before = expected.get(key, (0, 0))
        expected[key] = (before[0] + items, before[1] + on_time)
    kept = {
        (y, u, Family(f).value, ItemStatus(s).value): (int(n), int(o))
        for y, u, f, s, n, o in session.execute(
            select(
                UnitFamilyTally.year,
                UnitFamilyTally.unit_id,
                UnitFamilyTally.family,
                UnitFamilyTally.status,
                UnitFamilyTally.items,
                UnitFamilyTally.on_time,
            )
        )
        if n or o
    }
    for key, want, have in _differences(expected, kept, absent=(0, 0)):
        yield UnitFamilyTallyProblem(key, want, have)
