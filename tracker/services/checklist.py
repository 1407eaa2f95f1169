"""Checklist items: owner resolution, yearly generation, and deadline (re)computation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, cast, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from tracker.clock import get_clock
from tracker.models import Case, ChecklistItem, ItemStatus, Requirement, Unit, User
from tracker.models.catalogue import Cadence
from tracker.models.checklist import OWED_STATUSES, case_scope_key, item_year
from tracker.services import audit
from tracker.services.calendar import WorkingCalendar
from tracker.services.catalogue import CASE_UNIT, KIND_SELECTOR_PREFIX, rules_for_versions
from tracker.services.deadlines import Deadline, compute_deadline
from tracker.services.periods import Period, periods_for

INSERT_CHUNK = 1000
RECOMPUTE_BATCH = 500
NO_SUCH_UNIT = "no such unit"
UNIT_INACTIVE = "unit deactivated"


def local_today(now: datetime) -> date:
    """The bureau's date at an instant (deadlines are local dates)."""
    return get_clock().local(now).date()


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """Ids as [first, last] runs: a bulk insert's ids are compact in an audit event."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


# ---------------------------------------------------------------- owners


@dataclass(frozen=True)
class UnitRef:
    id: int
    code: str
    kind: str
    active: bool


class UnitDirectory:
    """Every unit, loaded once, for resolving owner selectors without a query per selector."""

    def __init__(self, units: Iterable[UnitRef]) -> None:
        self.by_id: dict[int, UnitRef] = {}
        self.by_code: dict[str, UnitRef] = {}
        self.by_kind: dict[str, list[UnitRef]] = {}
        for unit in units:
            self.by_id[unit.id] = unit
            self.by_code[unit.code] = unit
            if unit.active:
                self.by_kind.setdefault(unit.kind, []).append(unit)

    @classmethod
    def load(cls, session: Session) -> UnitDirectory:
        rows = session.execute(select(Unit.id, Unit.code, Unit.kind, Unit.active).order_by(Unit.id))
        return cls(UnitRef(i, c, str(k), a) for i, c, k, a in rows)


@dataclass
class Owners:
    """The units that get an item, and the owner entries that named nobody usable."""

    unit_ids: list[int] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # owner -> reason


def _selector_matches(selector: str, unit: UnitRef) -> bool:
    if selector.startswith(KIND_SELECTOR_PREFIX):
        return unit.kind == selector.removeprefix(KIND_SELECTOR_PREFIX)
    return selector == unit.code


def resolve_owners(
    selectors: Sequence[str], units: UnitDirectory, *, case_unit_id: int | None = None
) -> Owners:
    """Units named by a requirement's owners (docs/catalog-format.md §9).

    Periodic: the union of the codes and kind selectors. Event (case_unit_id given): the case's
    unit when `case_unit` is listed or the unit matches an entry; otherwise the listed codes.
    """
    owners = Owners()
    ids: dict[int, None] = {}  # ordered set

    def add_code(code: str) -> None:
        unit = units.by_code.get(code)
        if unit is None:
            owners.skipped[code] = NO_SUCH_UNIT
        elif not unit.active:
            owners.skipped[code] = UNIT_INACTIVE
        else:
            ids[unit.id] = None

    if case_unit_id is not None:
        case_unit = units.by_id.get(case_unit_id)
        if case_unit is not None and (
            CASE_UNIT in selectors or any(_selector_matches(s, case_unit) for s in selectors)
        ):
            owners.unit_ids = [case_unit.id]
            return owners
        for selector in selectors:
            if selector != CASE_UNIT and not selector.startswith(KIND_SELECTOR_PREFIX):
                add_code(selector)
        owners.unit_ids = list(ids)
        return owners

    for selector in selectors:
        if selector.startswith(KIND_SELECTOR_PREFIX):
            kind = selector.removeprefix(KIND_SELECTOR_PREFIX)
            for unit in units.by_kind.get(kind, []):
                ids[unit.id] = None
        elif selector != CASE_UNIT:
            add_code(selector)
    owners.unit_ids = list(ids)
    return owners


# ---------------------------------------------------------------- deadlines and rows


def item_deadline(
    rule: Mapping[str, Any],
    *,
    calendar: WorkingCalendar,
    period: str | None = None,
    trigger: date | None = None,
) -> Deadline:
    """Due date of an item: from its period code, or from its case's trigger date."""
    return compute_deadline(
        rule,
        calendar=calendar,
        period=Period.parse(period) if period is not None else None,
        trigger=trigger,
    )


def item_row(
    *,
    requirement_id: int,
    requirement_version: int,
    unit_id: int,
    deadline: Deadline,
    now: datetime,
    today: date,
    period: str | None = None,
    case_id: int | None = None,
    decided_on: date | None = None,
) -> dict[str, Any]:
    """Column values of a new item, ready for a bulk insert (`decided_on`: its case's)."""
    return {
        "requirement_id": requirement_id,
        "requirement_version": requirement_version,
        "unit_id": unit_id,
        "period": period,
        "case_id": case_id,
        "scope_key": period if case_id is None else case_scope_key(case_id),
        "year": item_year(period, decided_on),
        "due_date": deadline.due,
        "due_provisional": deadline.provisional,
        "due_basis_zh": deadline.basis_zh[:500],
        "due_basis_en": deadline.basis_en[:500],
        "calendar_version": deadline.calendar_version[:255],
        "status": ItemStatus.OPEN,
        # Born past its deadline (a case recorded late, a year generated late): not the
        # unit's delay, so the inspectors see it flagged.
        "created_overdue": deadline.due < today,
        "created_at": now,
        "updated_at": now,
    }


def _insert_items_postgresql(session: Session, rows: list[dict[str, Any]]) -> Iterator[Row[Any]]:
    """One INSERT ... SELECT FROM unnest(arrays) per chunk: one array parameter per column.

    A multi-row VALUES statement carries a placeholder per value, and psycopg parses each of
    them in Python on every execution (large statements are not cached): for thousands of
    items that parsing costs seconds. Arrays keep the statement short and the work in C.
    """
    table = ChecklistItem.__table__
    names = list(rows[0])
    unnested = (
        func.unnest(*(cast(bindparam(name), ARRAY(table.c[name].type)) for name in names))
        .table_valued(*names)
        .render_derived()
    )
    statement = (
        insert(table)
        .from_select(names, select(*(unnested.c[name] for name in names)))
        .returning(table.c.id, table.c.requirement_id, table.c.unit_id, table.c.scope_key)
    )
    step = INSERT_CHUNK * 10
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        yield from session.execute(statement, {n: [r[n] for r in chunk] for n in names})


def insert_items(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert of item rows (all with the same keys); returns the new ids in row order."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        inserted: Iterable[Row[Any]] = _insert_items_postgresql(session, rows)
    else:
        # Ids are matched back through the unique key: asking the database to return them in
        # parameter order makes SQLite insert one row per statement. render_nulls: rows with
        # and without a NULL would otherwise go in separate statements.
        statement = (
            insert(ChecklistItem)
            .returning(
                ChecklistItem.id,
                ChecklistItem.requirement_id,
                ChecklistItem.unit_id,
                ChecklistItem.scope_key,
            )
            .execution_options(render_nulls=True)
        )
        inserted = (
            row
            for start in range(0, len(rows), INSERT_CHUNK)
            for row in session.execute(statement, rows[start : start + INSERT_CHUNK])
        )
    by_key = {(rid, uid, key): item_id for item_id, rid, uid, key in inserted}
    return [by_key[(r["requirement_id"], r["unit_id"], r["scope_key"])] for r in rows]


# ---------------------------------------------------------------- generation


@dataclass
class GenerationResult:
    year: int
    created: int = 0
    existing: int = 0
    # code -> [created, already present]
    per_requirement: dict[str, list[int]] = field(default_factory=dict)
    # (requirement code, owner entry, reason)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    item_ids: list[int] = field(default_factory=list)


def year_period_codes(year: int) -> list[str]:
    """Every period code of a year, for every cadence."""
    codes: list[str] = []
    for cadence in ("annual", "semiannual", "quarterly", "monthly"):
        codes.extend(p.code for p in periods_for(cadence, year))
    return codes


def generate_year(
    session: Session,
    *,
    year: int,
    now: datetime,
    calendar: WorkingCalendar,
    actor: User | None = None,
) -> GenerationResult:
    """Create the year's items of every active periodic requirement for its owner units.

    Idempotent: existing items are loaded in one query and skipped (the unique constraint backs
    it). A `once` requirement gets one item per unit ever, in the first year generated.
    """
    result = GenerationResult(year=year)
    today = local_today(now)
    requirements = list(
        session.scalars(
            select(Requirement)
            .where(Requirement.active, Requirement.cadence != Cadence.EVENT)
            .order_by(Requirement.code)
        )
    )
    if not requirements:
        return result
    units = UnitDirectory.load(session)
    existing: set[tuple[int, int, str]] = {
        (rid, uid, key)
        for rid, uid, key in session.execute(
            select(ChecklistItem.requirement_id, ChecklistItem.unit_id, ChecklistItem.scope_key)
            .where(ChecklistItem.case_id.is_(None))
            .where(ChecklistItem.period.in_(year_period_codes(year)))
        )
    }
    once_ids = [r.id for r in requirements if r.cadence == Cadence.ONCE]
    once_done: set[tuple[int, int]] = set()
    if once_ids:
        once_done = {
            (rid, uid)
            for rid, uid in session.execute(
                select(ChecklistItem.requirement_id, ChecklistItem.unit_id).where(
                    ChecklistItem.requirement_id.in_(once_ids), ChecklistItem.case_id.is_(None)
                )
            )
        }

    rows: list[dict[str, Any]] = []
    for requirement in requirements:
        counts = result.per_requirement.setdefault(requirement.code, [0, 0])
        owners = resolve_owners(requirement.owners, units)
        result.skipped.extend(
            (requirement.code, owner, reason) for owner, reason in owners.skipped.items()
        )
        for period in periods_for(str(requirement.cadence), year):
            deadline: Deadline | None = None  # the same for every unit: computed once
            for unit_id in owners.unit_ids:
                if (requirement.id, unit_id, period.code) in existing or (
                    requirement.cadence == Cadence.ONCE and (requirement.id, unit_id) in once_done
                ):
                    counts[1] += 1
                    continue
                if deadline is None:
                    deadline = compute_deadline(
                        requirement.deadline_rule, calendar=calendar, period=period
                    )
                rows.append(
                    item_row(
                        requirement_id=requirement.id,
                        requirement_version=requirement.version,
                        unit_id=unit_id,
                        period=period.code,
                        deadline=deadline,
                        now=now,
                        today=today,
                    )
                )
                counts[0] += 1
    result.item_ids = insert_items(session, rows)
    result.created = len(result.item_ids)
    result.existing = sum(existing for _created, existing in result.per_requirement.values())
    if result.created:
        audit.record(
            session,
            actor=actor,
            action="item.created",
            object_type="checklist",
            object_id=year,
            data={
                "reason": "generate",
                "year": year,
                "created": result.created,
                "existing": result.existing,
                "per_requirement": {c: n[0] for c, n in result.per_requirement.items() if n[0]},
                "item_ids": id_ranges(result.item_ids),
                "calendar_version": calendar.version,
            },
            at=now,
        )
    session.flush()
    return result


# ---------------------------------------------------------------- recomputation


@dataclass
class RecomputeResult:
    checked: int = 0
    updated: int = 0  # rows written (a new basis or calendar version counts)
    moved: int = 0  # due date or provisional flag changed
    changes: list[tuple[int, date, date]] = field(default_factory=list)  # (id, old, new) moved


_ITEM_COLUMNS = (
    ChecklistItem.id,
    ChecklistItem.requirement_id,
    ChecklistItem.requirement_version,
    ChecklistItem.period,
    ChecklistItem.case_id,
    ChecklistItem.due_date,
    ChecklistItem.due_provisional,
    ChecklistItem.due_basis_zh,
    ChecklistItem.due_basis_en,
    ChecklistItem.calendar_version,
)


def _case_dates(session: Session, case_ids: set[int]) -> dict[int, dict[str, date | None]]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(Case.id, Case.decided_on, Case.served_on, Case.closed_on, Case.registered_on).where(
            Case.id.in_(case_ids)
        )
    )
    return {
        cid: {"decided_on": d, "served_on": s, "closed_on": c, "registered_on": r}
        for cid, d, s, c, r in rows
    }


def _recompute_batch(
    session: Session,
    rows: Sequence[Row[Any]],
    *,
    calendar: WorkingCalendar,
    actor: User | None,
    now: datetime,
    reason: str,
    rules: dict[tuple[int, int], dict[str, Any]],
    result: RecomputeResult,
) -> None:
    """Recompute one batch of items (selected as _ITEM_COLUMNS) and write what changed."""
    missing = {(r.requirement_id, r.requirement_version) for r in rows} - set(rules)
    rules.update(rules_for_versions(session, missing))
    cases = _case_dates(session, {r.case_id for r in rows if r.case_id is not None})
    updates: list[dict[str, Any]] = []
    for row in rows:
        entry = rules[(row.requirement_id, row.requirement_version)]
        if row.case_id is None:
            deadline = item_deadline(entry["deadline"], calendar=calendar, period=row.period)
        else:
            trigger = cases.get(row.case_id, {}).get(entry.get("trigger") or "")
            if trigger is None:  # the date was removed from the case: keep the last deadline
                continue
            deadline = item_deadline(entry["deadline"], calendar=calendar, trigger=trigger)
        result.checked += 1
        new = {
            "due_date": deadline.due,
            "due_provisional": deadline.provisional,
            "due_basis_zh": deadline.basis_zh[:500],
            "due_basis_en": deadline.basis_en[:500],
            "calendar_version": deadline.calendar_version[:255],
        }
        if all(getattr(row, k) == v for k, v in new.items()):
            continue
        updates.append({"id": row.id, **new, "updated_at": now})
        if (row.due_date, row.due_provisional) != (deadline.due, deadline.provisional):
            result.moved += 1
            result.changes.append((row.id, row.due_date, deadline.due))
            audit.record(
                session,
                actor=actor,
                action="item.deadline_recomputed",
                object_type="checklist_item",
                object_id=row.id,
                data={
                    "reason": reason,
                    "old": {"due": row.due_date.isoformat(), "provisional": row.due_provisional},
                    "new": {"due": deadline.due.isoformat(), "provisional": deadline.provisional},
                    "calendar_version": deadline.calendar_version,
                },
                at=now,
            )
    if updates:
        session.execute(update(ChecklistItem), updates)
        result.updated += len(updates)
        # The bulk UPDATE bypasses loaded objects: make them reload what was written.
        for values in updates:
            loaded = session.identity_map.get(session.identity_key(ChecklistItem, values["id"]))
            if loaded is not None:
                session.expire(loaded)


def _batches(session: Session, condition: Any, batch_size: int) -> Iterator[Sequence[Row[Any]]]:
    """Keyset-paginated batches of owed items matching the condition (bounded memory)."""
    last_id = 0
    while True:
        rows = session.execute(
            select(*_ITEM_COLUMNS)
            .where(condition, ChecklistItem.id > last_id)
            .order_by(ChecklistItem.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def recompute_owed_items(
    session: Session,
    *,
    calendar: WorkingCalendar,
    actor: User | None,
    now: datetime,
    reason: str,
    case_ids: Iterable[int] | None = None,
    provisional_only: bool = False,
    due_from: date | None = None,
    batch_size: int = RECOMPUTE_BATCH,
) -> RecomputeResult:
    """Recompute the deadlines of open and returned items; submitted and approved ones keep theirs.

    Selects the items of some cases, or the provisional ones (optionally also those due on or
    after `due_from`, when a year already covered is replaced), in batches.
    """
    condition = ChecklistItem.status.in_([s.value for s in OWED_STATUSES])
    if case_ids is not None:
        condition = and_(condition, ChecklistItem.case_id.in_(list(case_ids)))
    if provisional_only:
        wanted = ChecklistItem.due_provisional.is_(True)
        if due_from is not None:
            wanted = or_(wanted, ChecklistItem.due_date >= due_from)
        condition = and_(condition, wanted)
    result = RecomputeResult()
    rules: dict[tuple[int, int], dict[str, Any]] = {}
    for rows in _batches(session, condition, batch_size):
        _recompute_batch(
            session,
            rows,
            calendar=calendar,
            actor=actor,
            now=now,
            reason=reason,
            rules=rules,
            result=result,
        )
        session.flush()
    return result


def provisional_open_count(session: Session) -> int:
    """How many open or returned items have a provisional deadline."""
    return session.scalar(
        select(func.count())
        .select_from(ChecklistItem)
        .where(
            ChecklistItem.due_provisional.is_(True),
            ChecklistItem.status.in_([s.value for s in OWED_STATUSES]),
        )
    )
