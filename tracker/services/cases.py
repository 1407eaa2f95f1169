"""Enforcement cases: registration, edits and CSV import, each creating the case's event items."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from tracker.models import AppliesTo, Case, ChecklistItem, Requirement, Unit, User
from tracker.models.case import CASE_DATE_FIELDS
from tracker.models.catalogue import Cadence
from tracker.services import audit, checklist
from tracker.services.calendar import WorkingCalendar
from tracker.services.checklist import (
    RecomputeResult,
    UnitDirectory,
    id_ranges,
    insert_items,
    item_row,
    local_today,
    resolve_owners,
)
from tracker.services.deadlines import Deadline, compute_deadline
from tracker.services.errors import ValidationFailed
from tracker.services.holidays import (
    CsvInvalid,
    RowError,
    csv_rows,
    decode_csv,
    load_calendar,
    parse_date,
)

CASE_NO_MAX = 64
PARTY_MAX = 200
_IN_CHUNK = 500

# CSV columns: canonical name -> accepted header spellings (English and the usual Chinese).
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "case_no": ("case_no", "案号", "案件编号", "决定书文号"),
    "unit": ("unit", "unit_code", "单位", "办案单位", "承办单位"),
    "decided_on": ("decided_on", "决定日期", "处罚决定日期"),
    "served_on": ("served_on", "送达日期"),
    "closed_on": ("closed_on", "结案日期"),
    "registered_on": ("registered_on", "立案日期"),
    "major": ("major", "重大", "是否重大", "重大执法决定"),
    "party": ("party", "当事人"),
}
REQUIRED_COLUMNS = ("case_no", "unit", "decided_on")
_TRUE = {"1", "true", "yes", "y", "是", "t"}
_FALSE = {"", "0", "false", "no", "n", "否", "f"}


class CaseInvalid(ValidationFailed):
    """A case's data broke a rule; `errors` lists (field, message) for every problem."""

    def __init__(self, errors: list[tuple[str, object]]) -> None:
        super().__init__(errors[0][1], field=errors[0][0])
        self.errors = errors


def _check_dates(
    decided_on: date | None,
    served_on: date | None,
    closed_on: date | None,
    registered_on: date | None,
) -> list[tuple[str, object]]:
    """The order of a case's dates: filed, then decided, then served and closed."""
    errors: list[tuple[str, object]] = []
    if decided_on is None:
        return [("decided_on", _l("The decision date is required."))]
    if served_on is not None and served_on < decided_on:
        errors.append(("served_on", _l("The service date cannot be before the decision date.")))
    if closed_on is not None and closed_on < decided_on:
        errors.append(("closed_on", _l("The closing date cannot be before the decision date.")))
    if registered_on is not None and registered_on > decided_on:
        errors.append(("registered_on", _l("The filing date cannot be after the decision date.")))
    return errors


def _check_texts(case_no: str, party: str) -> list[tuple[str, object]]:
    errors: list[tuple[str, object]] = []
    if not case_no:
        errors.append(("case_no", _l("The case number is required.")))
    elif len(case_no) > CASE_NO_MAX:
        errors.append(
            ("case_no", _l("The case number is longer than %(n)d characters.", n=CASE_NO_MAX))
        )
    if len(party) > PARTY_MAX:
        errors.append(("party", _l("The party is longer than %(n)d characters.", n=PARTY_MAX)))
    return errors


def _duplicate(case_no: str) -> object:
    return _l("Case %(case_no)s is already registered.", case_no=case_no)


# ---------------------------------------------------------------- event items


@dataclass(frozen=True)
class EventRequirement:
    """What item creation needs of an active event requirement (loaded once)."""

    id: int
    code: str
    version: int
    trigger: str
    major_only: bool
    rule: dict[str, Any]
    owners: tuple[str, ...]


def event_requirements(session: Session) -> list[EventRequirement]:
    """Active event requirements, one query."""
    return [
        EventRequirement(
            r.id,
            r.code,
            r.version,
            str(r.trigger),
            r.applies_to == AppliesTo.MAJOR,
            dict(r.deadline_rule),
            tuple(r.owners),
        )
        for r in session.scalars(
            select(Requirement)
            .where(Requirement.active, Requirement.cadence == Cadence.EVENT)
            .order_by(Requirement.code)
        )
    ]


@dataclass
class _ItemFactory:
    """Builds event item rows for cases, computing each (requirement, date) deadline once."""

    requirements: list[EventRequirement]
    units: UnitDirectory
    calendar: WorkingCalendar
    now: datetime
    today: date
    _deadlines: dict[tuple[int, date], Deadline] = field(default_factory=dict)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)

    def rows(
        self,
        *,
        case_id: int,
        unit_id: int,
        dates: Mapping[str, date | None],
        major: bool,
        existing: set[tuple[int, int]] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of the items a case's dates trigger, minus the (requirement, unit) existing."""
        existing = existing or set()
        rows: list[dict[str, Any]] = []
        for requirement in self.requirements:
            if requirement.major_only and not major:
                continue
            trigger = dates.get(requirement.trigger)
            if trigger is None:  # created when the case gets that date
                continue
            owners = resolve_owners(requirement.owners, self.units, case_unit_id=unit_id)
            self.skipped.extend((requirement.code, o, r) for o, r in owners.skipped.items())
            for owner_id in owners.unit_ids:
                if (requirement.id, owner_id) in existing:
                    continue
                key = (requirement.id, trigger)
                deadline = self._deadlines.get(key)
                if deadline is None:
                    deadline = compute_deadline(
                        requirement.rule, calendar=self.calendar, trigger=trigger
                    )
                    self._deadlines[key] = deadline
                rows.append(
                    item_row(
                        requirement_id=requirement.id,
                        requirement_version=requirement.version,
                        unit_id=owner_id,
                        case_id=case_id,
                        decided_on=dates.get("decided_on"),
                        deadline=deadline,
                        now=self.now,
                        today=self.today,
                    )
                )
        return rows


def _factory(session: Session, *, now: datetime, calendar: WorkingCalendar | None) -> _ItemFactory:
    return _ItemFactory(
        requirements=event_requirements(session),
        units=UnitDirectory.load(session),
        calendar=calendar if calendar is not None else load_calendar(session),
        now=now,
        today=local_today(now),
    )


def _dates_of(case: Case) -> dict[str, date | None]:
    return {name: getattr(case, name) for name in CASE_DATE_FIELDS}


def case_items(session: Session, case: Case) -> list[ChecklistItem]:
    """The items of a case, by requirement code."""
    return list(
        session.scalars(
            select(ChecklistItem)
            .join(ChecklistItem.requirement)
            .where(ChecklistItem.case_id == case.id)
            .order_by(Requirement.code, ChecklistItem.unit_id)
        )
    )


def _items_by_id(session: Session, ids: Sequence[int]) -> list[ChecklistItem]:
    if not ids:
        return []
    return list(session.scalars(select(ChecklistItem).where(ChecklistItem.id.in_(ids))))


# ---------------------------------------------------------------- one case


@dataclass
class CaseResult:
    case: Case
    items: list[ChecklistItem]  # created by this call
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (code, owner, reason)
    recompute: RecomputeResult = field(default_factory=RecomputeResult)


def register_case(
    session: Session,
    *,
    actor: User | None,
    case_no: str,
    unit: Unit,
    decided_on: date,
    served_on: date | None = None,
    closed_on: date | None = None,
    registered_on: date | None = None,
    major: bool = False,
    party: str = "",
    now: datetime,
    calendar: WorkingCalendar | None = None,
) -> CaseResult:
    """Register a case and create the items its known dates trigger."""
    case_no, party = case_no.strip(), (party or "").strip()
    errors = _check_texts(case_no, party) + _check_dates(
        decided_on, served_on, closed_on, registered_on
    )
    if not unit.active:
        errors.append(("unit", _l("The unit is deactivated.")))
    if not errors and session.scalar(select(Case.id).where(Case.case_no == case_no)):
        errors.append(("case_no", _duplicate(case_no)))
    if errors:
        raise CaseInvalid(errors)
    case = Case(
        case_no=case_no,
        unit_id=unit.id,
        decided_on=decided_on,
        served_on=served_on,
        closed_on=closed_on,
        registered_on=registered_on,
        major=bool(major),
        party=party,
        created_at=now,
        updated_at=now,
        created_by_id=actor.id if actor else None,
    )
    session.add(case)
    session.flush()
    factory = _factory(session, now=now, calendar=calendar)
    rows = factory.rows(case_id=case.id, unit_id=unit.id, dates=_dates_of(case), major=case.major)
    ids = insert_items(session, rows)
    audit.record(
        session,
        actor=actor,
        action="case.created",
        object_type="case",
        object_id=case.id,
        data={
            "case_no": case.case_no,
            "unit": unit.code,
            **{name: _iso(value) for name, value in _dates_of(case).items()},
            "major": case.major,
            "party": case.party,
            "items": ids,
            "created_overdue": [i for i, r in zip(ids, rows, strict=True) if r["created_overdue"]],
            "skipped_owners": [list(s) for s in factory.skipped],
        },
        at=now,
    )
    return CaseResult(case, _items_by_id(session, ids), factory.skipped)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def update_case(
    session: Session,
    *,
    actor: User | None,
    case: Case,
    case_no: str | None = None,
    decided_on: date,
    served_on: date | None,
    closed_on: date | None,
    registered_on: date | None,
    major: bool,
    party: str,
    now: datetime,
    calendar: WorkingCalendar | None = None,
) -> CaseResult:
    """Edit a case: recompute its open and returned items, create the newly triggered ones.

    Submitted and approved items keep their deadlines. The unit cannot change: its items
    belong to it.
    """
    case_no = (case_no if case_no is not None else case.case_no).strip()
    party = (party or "").strip()
    errors = _check_texts(case_no, party) + _check_dates(
        decided_on, served_on, closed_on, registered_on
    )
    if (
        not errors
        and case_no != case.case_no
        and session.scalar(select(Case.id).where(Case.case_no == case_no, Case.id != case.id))
    ):
        errors.append(("case_no", _duplicate(case_no)))
    if errors:
        raise CaseInvalid(errors)
    values: dict[str, Any] = {
        "case_no": case_no,
        "decided_on": decided_on,
        "served_on": served_on,
        "closed_on": closed_on,
        "registered_on": registered_on,
        "major": bool(major),
        "party": party,
    }
    changes: dict[str, list[Any]] = {}
    for name, new in values.items():
        old = getattr(case, name)
        if old != new:
            changes[name] = [_plain(old), _plain(new)]
            setattr(case, name, new)
    if not changes:
        return CaseResult(case, [])
    case.updated_at = now
    session.flush()
    if "decided_on" in changes:
        # Case items count in their decision's year (filters, tally): they follow it.
        session.execute(
            update(ChecklistItem)
            .where(ChecklistItem.case_id == case.id)
            .values(year=decided_on.year)
            .execution_options(synchronize_session="fetch")
        )
    audit.record(
        session,
        actor=actor,
        action="case.updated",
        object_type="case",
        object_id=case.id,
        data={"case_no": case.case_no, "changes": changes},
        at=now,
    )
    factory = _factory(session, now=now, calendar=calendar)
    recompute = checklist.recompute_owed_items(
        session,
        calendar=factory.calendar,
        actor=actor,
        now=now,
        reason="case.updated",
        case_ids=[case.id],
    )
    existing = {
        (rid, uid)
        for rid, uid in session.execute(
            select(ChecklistItem.requirement_id, ChecklistItem.unit_id).where(
                ChecklistItem.case_id == case.id
            )
        )
    }
    rows = factory.rows(
        case_id=case.id,
        unit_id=case.unit_id,
        dates=_dates_of(case),
        major=case.major,
        existing=existing,
    )
    ids = insert_items(session, rows)
    if ids:
        audit.record(
            session,
            actor=actor,
            action="item.created",
            object_type="case",
            object_id=case.id,
            data={
                "reason": "case.updated",
                "case_no": case.case_no,
                "items": ids,
                "created_overdue": [
                    i for i, r in zip(ids, rows, strict=True) if r["created_overdue"]
                ],
            },
            at=now,
        )
    session.flush()
    return CaseResult(case, _items_by_id(session, ids), factory.skipped, recompute)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# ---------------------------------------------------------------- CSV import


@dataclass
class CaseImportResult:
    source: str
    cases: int = 0
    items: int = 0
    created_overdue: int = 0
    case_ids: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def _header(cells: list[str], line: int, errors: list[RowError]) -> dict[str, int]:
    """Column positions by canonical name."""
    lookup = {alias.lower(): name for name, aliases in CSV_COLUMNS.items() for alias in aliases}
    positions: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = lookup.get(cell.lower())
        if name is None:
            errors.append(
                RowError(
                    line,
                    _l(
                        "unknown column %(column)s; the columns are %(columns)s",
                        column=repr(cell),
                        columns=", ".join(CSV_COLUMNS),
                    ),
                )
            )
        elif name in positions:
            errors.append(RowError(line, _l("column %(column)s appears twice", column=name)))
        else:
            positions[name] = index
    for name in REQUIRED_COLUMNS:
        if name not in positions:
            errors.append(RowError(line, _l("the column %(column)s is missing", column=name)))
    return positions


@dataclass
class _CaseRow:
    line: int
    case_no: str
    unit_id: int
    dates: dict[str, date | None]
    major: bool
    party: str


def _parse_case_row(
    line: int,
    cells: list[str],
    positions: dict[str, int],
    units: UnitDirectory,
    errors: list[RowError],
) -> _CaseRow | None:
    def cell(name: str) -> str:
        index = positions.get(name)
        return cells[index] if index is not None and index < len(cells) else ""

    before = len(errors)
    if len(cells) > len(positions):
        errors.append(
            RowError(
                line,
                _l("expected %(n)d columns, found %(found)d", n=len(positions), found=len(cells)),
            )
        )
    case_no, party = cell("case_no"), cell("party")
    errors.extend(RowError(line, message, name) for name, message in _check_texts(case_no, party))
    code = cell("unit").upper()
    unit = units.by_code.get(code)
    if not code:
        errors.append(RowError(line, _l("The unit is required."), "unit"))
    elif unit is None:
        errors.append(RowError(line, _l("No unit has the code %(code)s.", code=code), "unit"))
    elif not unit.active:
        errors.append(RowError(line, _l("The unit is deactivated."), "unit"))
    dates: dict[str, date | None] = {}
    for name in CASE_DATE_FIELDS:
        raw = cell(name)
        dates[name] = parse_date(raw) if raw else None
        if raw and dates[name] is None:
            errors.append(
                RowError(line, _l("%(value)s is not a date (YYYY-MM-DD)", value=repr(raw)), name)
            )
    if not cell("decided_on"):
        errors.append(RowError(line, _l("The decision date is required."), "decided_on"))
    elif len(errors) == before:
        errors.extend(
            RowError(line, message, name)
            for name, message in _check_dates(
                dates["decided_on"], dates["served_on"], dates["closed_on"], dates["registered_on"]
            )
        )
    major_text = cell("major").lower()
    if major_text not in _TRUE | _FALSE:
        errors.append(RowError(line, _l("must be yes or no (1/0, true/false)"), "major"))
    if len(errors) > before or unit is None:
        return None
    return _CaseRow(line, case_no, unit.id, dates, major_text in _TRUE, party)


def _existing_case_nos(session: Session, case_nos: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(case_nos), _IN_CHUNK):
        chunk = case_nos[start : start + _IN_CHUNK]
        found.update(session.scalars(select(Case.case_no).where(Case.case_no.in_(chunk))))
    return found


def import_cases_csv(
    session: Session,
    *,
    data: bytes,
    source: str,
    actor: User | None,
    now: datetime,
    calendar: WorkingCalendar | None = None,
) -> CaseImportResult:
    """Register every case of a CSV file with its items, or none (CsvInvalid lists the errors).

    A handful of queries whatever the size: units, requirements, calendar and existing case
    numbers are loaded once, and cases and items are inserted in bulk.
    """
    text = decode_csv(data, source=source)
    errors: list[RowError] = []
    rows = iter(csv_rows(text))
    first = next(rows, None)
    if first is None:
        raise CsvInvalid(source, [RowError(None, _l("the file lists no cases"))])
    positions = _header(first[1], first[0], errors)
    if errors:
        raise CsvInvalid(source, errors)
    factory = _factory(session, now=now, calendar=calendar)
    parsed: list[_CaseRow] = []
    seen: dict[str, int] = {}
    for line, cells in rows:
        row = _parse_case_row(line, cells, positions, factory.units, errors)
        if row is None:
            continue
        if row.case_no in seen:
            errors.append(
                RowError(
                    line,
                    _l(
                        "case %(case_no)s is already on line %(other)d",
                        case_no=row.case_no,
                        other=seen[row.case_no],
                    ),
                    "case_no",
                )
            )
            continue
        seen[row.case_no] = line
        parsed.append(row)
    for case_no in sorted(_existing_case_nos(session, list(seen))):
        errors.append(RowError(seen[case_no], _duplicate(case_no), "case_no"))
    if not parsed and not errors:
        errors.append(RowError(None, _l("the file lists no cases")))
    if errors:
        errors.sort(key=lambda e: e.line or 0)
        raise CsvInvalid(source, errors)

    case_values = [
        {
            "case_no": row.case_no,
            "unit_id": row.unit_id,
            **row.dates,
            "major": row.major,
            "party": row.party,
            "created_at": now,
            "updated_at": now,
            "created_by_id": actor.id if actor else None,
        }
        for row in parsed
    ]
    ids_by_no: dict[str, int] = {}
    for start in range(0, len(case_values), checklist.INSERT_CHUNK):
        chunk = case_values[start : start + checklist.INSERT_CHUNK]
        for case_id, case_no in session.execute(
            insert(Case).returning(Case.id, Case.case_no).execution_options(render_nulls=True),
            chunk,
        ):
            ids_by_no[case_no] = case_id
    item_rows: list[dict[str, Any]] = []
    for row in parsed:
        item_rows.extend(
            factory.rows(
                case_id=ids_by_no[row.case_no],
                unit_id=row.unit_id,
                dates=row.dates,
                major=row.major,
            )
        )
    item_ids = insert_items(session, item_rows)
    result = CaseImportResult(
        source=source,
        cases=len(parsed),
        items=len(item_ids),
        created_overdue=sum(1 for r in item_rows if r["created_overdue"]),
        case_ids=sorted(ids_by_no.values()),
        skipped=sorted(set(factory.skipped)),
    )
    audit.record(
        session,
        actor=actor,
        action="case.imported",
        object_type="case",
        data={
            "source": source,
            "sha256": hashlib.sha256(data).hexdigest(),
            "cases": result.cases,
            "items": result.items,
            "created_overdue": result.created_overdue,
            "case_ids": id_ranges(result.case_ids),
            "item_ids": id_ranges(item_ids),
        },
        at=now,
    )
    session.flush()
    return result


def import_cases_file(
    session: Session,
    *,
    path: str | Path,
    actor: User | None,
    now: datetime,
    calendar: WorkingCalendar | None = None,
) -> CaseImportResult:
    """import_cases_csv on a file."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CsvInvalid(
            source, [RowError(None, _l("cannot read the file: %(error)s", error=str(error)))]
        ) from error
    return import_cases_csv(
        session, data=data, source=source, actor=actor, now=now, calendar=calendar
    )


# ---------------------------------------------------------------- demo


# (number, unit, party, days before today: decided, served, closed, filed; major). Modelled on
# the seed report's case work: unfair competition, medical devices, food, trademarks, cosmetics.
_DEMO_CASES: tuple[tuple[int, str, str, int, int | None, int | None, int | None, bool], ...] = (
    (101, "CQS", "杭州某某商贸有限公司（虚假宣传）", 40, 35, 10, 100, False),
    (102, "JCDD", "浙江某某医疗器械有限公司（经营无证医疗器械）", 12, 8, None, 80, True),
    (103, "LZS", "余杭区某某食品店（销售过期食品）", 3, None, None, 30, False),
    (104, "JCDD", "杭州某某电器有限公司（商标侵权）", -10, None, None, 60, True),
    (105, "WCS", "杭州某某化妆品有限公司（标签不符合规定）", 25, 20, None, 90, False),
)


def register_demo_cases(session: Session, *, now: datetime) -> list[CaseResult]:
    """A handful of cases dated around today so the demo has event items (skips existing)."""
    today = local_today(now)
    units = {u.code: u for u in session.scalars(select(Unit))}
    calendar = load_calendar(session)
    results = []
    for number, unit_code, party, decided, served, closed, filed, major in _DEMO_CASES:
        case_no = f"余市监处〔{today.year}〕{number}号"
        unit = units.get(unit_code)
        if unit is None or session.scalar(select(Case.id).where(Case.case_no == case_no)):
            continue

        def ago(days: int | None) -> date | None:
            return None if days is None else today - timedelta(days=days)

        results.append(
            register_case(
                session,
                actor=None,
                case_no=case_no,
                unit=unit,
                decided_on=today - timedelta(days=decided),
                served_on=ago(served),
                closed_on=ago(closed),
                registered_on=ago(filed),
                major=major,
                party=party,
                now=now,
                calendar=calendar,
            )
        )
    return results
