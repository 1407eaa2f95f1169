"""The ledger (台账) export: the checklist under any filter of the item list, as XLSX or CSV.

Rows are read as plain column tuples in batches (`yield_per`: a server-side cursor on
PostgreSQL) and written straight out — XLSX sheets streamed to temporary files, or a CSV
generator — so memory stays bounded whatever the number of rows.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, and_, case, func, literal, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from tracker.models import (
    Case,
    ChecklistItem,
    ItemStatus,
    Requirement,
    RequirementKind,
    Review,
    ReviewDecision,
    Submission,
    Unit,
    User,
)
from tracker.models.catalogue import Family
from tracker.models.checklist import OWED_STATUSES
from tracker.services import xlsx
from tracker.services.calendar import WorkingCalendar
from tracker.services.item_filters import ItemFilters, conditions
from tracker.services.xlsx import FORMULA_STARTS, ILLEGAL_XML

LedgerFilters = ItemFilters  # the export takes the item list's filters as they are

BATCH = 2000  # rows fetched per round trip

# Names used in the files; kept here (not in the UI catalogue) because the DOCX and the CLI export
# are written in Chinese whatever the interface language, and the XLSX follows the user's locale.
FAMILY_NAMES: dict[Family, tuple[str, str]] = {
    Family.PUBLICITY: ("行政执法公示", "Enforcement publicity"),
    Family.RECORDING: ("执法全过程记录", "Full-process recording"),
    Family.LEGAL_REVIEW: ("重大执法决定法制审核", "Legal review of major decisions"),
    Family.NORMATIVE_DOCS: ("规范性文件", "Normative documents"),
    Family.ASSESSMENT: ("督察考核", "Supervision and assessment"),
    Family.LAW_STUDY: ("学法用法", "Law study"),
    Family.OTHER: ("其他职责", "Other duties"),
}
STATUS_NAMES: dict[ItemStatus, tuple[str, str]] = {
    ItemStatus.OPEN: ("待办", "Open"),
    ItemStatus.SUBMITTED: ("已提交", "Submitted"),
    ItemStatus.RETURNED: ("已退回", "Returned"),
    ItemStatus.APPROVED: ("已通过", "Approved"),
}
YES_NO = {True: ("是", "Yes"), False: ("否", "No")}

# (key, Chinese header, English header, column width)
COLUMNS: tuple[tuple[str, str, str, int], ...] = (
    ("id", "序号", "ID", 9),
    ("code", "要求编号", "Code", 10),
    ("title", "事项", "Requirement", 44),
    ("family", "类别", "Family", 20),
    ("unit", "责任单位", "Unit", 22),
    ("scope", "期间/案件", "Period / case", 20),
    ("due_date", "截止日期", "Due date", 12),
    ("provisional", "期限待定", "Provisional due date", 10),
    ("status", "状态", "Status", 10),
    ("overdue", "逾期", "Overdue", 8),
    ("assignee", "经办人", "Officer in charge", 14),
    ("submitted_on", "最近提交日期", "Last submitted", 13),
    ("approved_on", "审核通过日期", "Approved on", 13),
    ("on_time", "按时完成", "Completed on time", 10),
    ("value", "数值/次数", "Value / occurrences", 12),
)
SUMMARY_COLUMNS: tuple[tuple[str, str, str, int], ...] = (
    ("family", "类别", "Family", 24),
    ("total", "事项总数", "Items", 10),
    ("approved", "已通过", "Approved", 10),
    ("submitted", "已提交待审", "Submitted", 11),
    ("owed", "待办/已退回", "Open / returned", 12),
    ("overdue", "逾期", "Overdue", 8),
    ("on_time", "按时完成", "On time", 10),
    ("on_time_rate", "按时完成率", "On-time rate", 12),
)


_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_text(value: str) -> str:
    """Text for a CSV cell: characters XML cannot hold dropped, and a leading ' added before a
    formula start, so that a spreadsheet shows the text instead of computing it (a plain
    signed number such as -2.5 is left alone: it is read as the number it is)."""
    value = ILLEGAL_XML.sub("", value)
    if value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _en(locale: str) -> bool:
    return locale.startswith("en")


def family_name(family: Family | str, locale: str = "zh_CN") -> str:
    return FAMILY_NAMES[Family(family)][1 if _en(locale) else 0]


def status_name(status: ItemStatus | str, locale: str = "zh_CN") -> str:
    return STATUS_NAMES[ItemStatus(status)][1 if _en(locale) else 0]


# ---------------------------------------------------------------- "on time", in SQL


class due_deadline(FunctionElement):
    """The instant a due date ends in the bureau's timezone (midnight after it, local)."""

    type = DateTime(timezone=True)
    name = "due_deadline"
    inherit_cache = True


@compiles(due_deadline, "postgresql")
def _due_deadline_pg(element: due_deadline, compiler: Any, **kw: Any) -> str:
    due, zone, _offset = list(element.clauses)
    return (
        f"((({compiler.process(due, **kw)} + 1)::timestamp) "
        f"AT TIME ZONE {compiler.process(zone, **kw)})"
    )


@compiles(due_deadline)
def _due_deadline_other(element: due_deadline, compiler: Any, **kw: Any) -> str:
    # SQLite knows no zones: a fixed offset, which Asia/Shanghai (no DST since 1991) is. Stored
    # instants are "YYYY-MM-DD HH:MM:SS.ffffff" UTC strings, so string order is time order.
    due, _zone, offset = list(element.clauses)
    return f"datetime({compiler.process(due, **kw)}, '+1 day', {compiler.process(offset, **kw)})"


def deadline_of(due: Any, timezone: str) -> due_deadline:
    """SQL: the UTC instant at which the local due date is over."""
    offset = ZoneInfo(timezone).utcoffset(datetime(2000, 7, 1)) or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return due_deadline(due, literal(timezone), literal(f"{-minutes:+d} minutes"))


def last_submitted_at() -> Any:
    """When the item's latest round was sent for review: kept on the item by the submit service
    (a correlated lookup of the submissions cost a second for a city's year of items)."""
    return ChecklistItem.last_submitted_at


def on_time_condition(timezone: str) -> Any:
    """Approved, and the approved (latest) round was submitted by the end of the due date."""
    return and_(
        ChecklistItem.status == ItemStatus.APPROVED,
        last_submitted_at() < deadline_of(ChecklistItem.due_date, timezone),
    )


def on_time_rate(on_time: int, due_or_done: int) -> float | None:
    """Items approved on time ÷ items approved or past their due date (None: nothing due yet)."""
    return on_time / due_or_done if due_or_done else None


# ---------------------------------------------------------------- rows


class Labels:
    """The fixed words of a file in one language: looked up once per export, not once a cell."""

    def __init__(self, locale: str) -> None:
        pick = 1 if _en(locale) else 0
        self.en = pick == 1
        self.families = {family: names[pick] for family, names in FAMILY_NAMES.items()}
        self.statuses = {status: names[pick] for status, names in STATUS_NAMES.items()}
        self.yes = YES_NO[True][pick]
        self.no = YES_NO[False][pick]


class LedgerRow(NamedTuple):
    id: int
    code: str
    title_zh: str
    title_en: str
    family: Family
    kind: RequirementKind
    unit_name: str
    unit_name_en: str | None
    period: str | None
    case_no: str | None
    due_date: date
    provisional: bool
    status: ItemStatus
    overdue: bool
    assignee: str | None
    submitted_on: date | None
    approved_on: date | None
    on_time: bool
    value: Decimal | None

    def cells(self, labels: Labels) -> list[Any]:
        """The row's cells in COLUMNS order, in the labels' language; None where a cell is empty.

        Typed text (code, title, unit, scope, officer) is given as typed: each writer makes it
        safe in its own way.
        """
        en = labels.en
        return [
            self.id,
            self.code,
            self.title_en if en else self.title_zh,
            labels.families[self.family],
            (self.unit_name_en or self.unit_name) if en else self.unit_name,
            self.case_no or self.period or None,
            self.due_date,
            labels.yes if self.provisional else None,
            labels.statuses[self.status],
            labels.yes if self.overdue else None,
            self.assignee or None,
            self.submitted_on,
            self.approved_on,
            (labels.yes if self.on_time else labels.no)
            if self.status == ItemStatus.APPROVED
            else None,
            None if self.value is None else float(self.value),
        ]


def export_statement(conds: list[Any], *, today: date, timezone: str, sort: str = "due") -> Any:
    """One SELECT of plain columns (no ORM objects) for the rows under `conds`.

    The approval time and the counted value are looked up only for the rows that show them
    (approved items; items of count requirements), and the instants come back as the driver
    gives them: `iter_rows` turns them into local dates itself.
    """
    assignee = aliased(User)
    approved_at = (
        select(func.max(Review.decided_at))
        .where(Review.item_id == ChecklistItem.id, Review.decision == ReviewDecision.APPROVE)
        .correlate(ChecklistItem)
        .scalar_subquery()
    )
    counted_value = (
        select(Submission.value)
        .where(Submission.item_id == ChecklistItem.id)
        .correlate(ChecklistItem)
        .order_by(Submission.round.desc())
        .limit(1)
        .scalar_subquery()
    )
    # An indicator's value is the item's own; a count's is its latest round's; a task has none.
    value = case(
        (Requirement.kind == RequirementKind.INDICATOR, ChecklistItem.value),
        (Requirement.kind == RequirementKind.COUNT, counted_value),
    )
    # Instants as the driver reads them, not through UTCDateTime's per-row conversion:
    # iter_rows converts them to local dates anyway.
    instant = DateTime(timezone=True)
    due_order = ChecklistItem.due_date.desc() if sort == "-due" else ChecklistItem.due_date
    return (
        select(
            ChecklistItem.id,
            Requirement.code,
            Requirement.title_zh,
            Requirement.title_en,
            Requirement.family,
            Requirement.kind,
            Unit.name,
            Unit.name_en,
            ChecklistItem.period,
            Case.case_no,
            ChecklistItem.due_date,
            ChecklistItem.due_provisional,
            ChecklistItem.status,
            ChecklistItem.is_overdue(today).label("overdue"),
            assignee.name.label("assignee"),
            type_coerce(last_submitted_at(), instant).label("submitted_at"),
            type_coerce(
                case((ChecklistItem.status == ItemStatus.APPROVED, approved_at)), instant
            ).label("approved_at"),
            on_time_condition(timezone).label("on_time"),
            value.label("value"),
        )
        .select_from(ChecklistItem)
        .join(ChecklistItem.unit)
        .join(ChecklistItem.requirement)
        .outerjoin(Case, Case.id == ChecklistItem.case_id)
        .outerjoin(assignee, assignee.id == ChecklistItem.assignee_id)
        .where(*conds)
        .order_by(due_order, Requirement.code, ChecklistItem.id)
    )


def _local_date(instant: datetime | None, zone: ZoneInfo) -> date | None:
    if instant is None:
        return None
    if instant.tzinfo is None:  # SQLite keeps no zone: stored instants are UTC
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone).date()


def iter_rows(
    session: Session, conds: list[Any], *, today: date, timezone: str, sort: str = "due"
) -> Iterator[LedgerRow]:
    """The ledger rows, fetched BATCH at a time."""
    zone = ZoneInfo(timezone)
    stmt = export_statement(conds, today=today, timezone=timezone, sort=sort)
    # Executed on the session's connection, not through the ORM: the rows are plain columns,
    # and the ORM's handling of each row cost more than half a second for a city's year.
    result = session.connection().execute(stmt.execution_options(yield_per=BATCH))
    for row in result:
        # The first columns are the row's as they are (id … due date); the rest need a type.
        (
            *plain,
            provisional,
            status,
            overdue,
            assignee,
            submitted_at,
            approved_at,
            on_time,
            value,
        ) = row
        yield LedgerRow(
            *plain,
            bool(provisional),
            status,
            bool(overdue),
            assignee,
            _local_date(submitted_at, zone),
            _local_date(approved_at, zone),
            bool(on_time),  # NULL when nothing was submitted
            value,
        )


def export_rows(
    session: Session,
    filters: LedgerFilters,
    *,
    user: User | None,
    today: date,
    timezone: str,
    calendar: WorkingCalendar | None = None,
) -> Iterator[LedgerRow]:
    """The rows of the filtered ledger, scoped to the user's units (every unit when None)."""
    conds = conditions(session, filters, user=user, today=today, calendar=calendar)
    return iter_rows(session, conds, today=today, timezone=timezone, sort=filters.sort)


# ---------------------------------------------------------------- summary


@dataclass
class FamilyTotals:
    total: int = 0
    approved: int = 0
    submitted: int = 0
    owed: int = 0
    overdue: int = 0
    on_time: int = 0
    due_or_done: int = 0

    def add(self, row: LedgerRow, today: date) -> None:
        self.total += 1
        if row.status == ItemStatus.APPROVED:
            self.approved += 1
        elif row.status == ItemStatus.SUBMITTED:
            self.submitted += 1
        if row.status in OWED_STATUSES:
            self.owed += 1
        if row.overdue:
            self.overdue += 1
        if row.on_time:
            self.on_time += 1
        if row.status == ItemStatus.APPROVED or row.due_date < today:
            self.due_or_done += 1

    @property
    def rate(self) -> float | None:
        return on_time_rate(self.on_time, self.due_or_done)


@dataclass
class Summary:
    families: dict[Family, FamilyTotals] = field(
        default_factory=lambda: {f: FamilyTotals() for f in Family}
    )

    def add(self, row: LedgerRow, today: date) -> None:
        self.families[row.family].add(row, today)

    @property
    def total(self) -> FamilyTotals:
        result = FamilyTotals()
        for t in self.families.values():
            for name in ("total", "approved", "submitted", "owed", "overdue", "on_time"):
                setattr(result, name, getattr(result, name) + getattr(t, name))
            result.due_or_done += t.due_or_done
        return result


# ---------------------------------------------------------------- XLSX
#
# The workbook's XML is written here, a string per cell, each sheet streamed to a temporary file
# and zipped at the end, as openpyxl's write-only mode does. Through openpyxl, its own work for
# each cell (typing the value, its style, an lxml element per cell) was over 80 % of a city's
# export: with 15 columns and three dates a row against the bench baseline's 11 and one, that
# alone took 1.4 times the whole baseline. openpyxl still reads the files in the tests.


def _headers(columns: Sequence[tuple[str, str, str, int]], locale: str) -> list[tuple[str, int]]:
    """Each column's heading in the locale, and its width."""
    return [(en if _en(locale) else zh, width) for _key, zh, en, width in columns]


def write_xlsx(
    rows: Iterable[LedgerRow],
    out: IO[bytes] | str,
    *,
    today: date,
    locale: str = "zh_CN",
    families: Iterable[Family] | None = None,
) -> Summary:
    """A summary sheet, then one sheet per family; returns the summary it wrote.

    Dates are date cells (DATE_FORMAT), empty values no cell at all, and typed text that starts
    like a formula is kept as text (see _text_xml).
    """
    en = _en(locale)
    labels = Labels(locale)
    families = list(families or Family)
    summary = Summary()
    cells = xlsx.CellCache()
    with contextlib.ExitStack() as cleanup:
        summary_sheet = xlsx.Sheet(
            xlsx.sheet_title("Summary" if en else "汇总"), _headers(SUMMARY_COLUMNS, locale)
        )
        cleanup.callback(summary_sheet.close)
        sheets: dict[Family, xlsx.Sheet] = {}
        for family in families:
            sheet = sheets[family] = xlsx.Sheet(
                xlsx.sheet_title(family_name(family, locale)), _headers(COLUMNS, locale)
            )
            cleanup.callback(sheet.close)
        for row in rows:
            sheet = sheets.get(row.family)
            if sheet is None:  # a family outside the chosen ones cannot come from the query
                continue
            summary.add(row, today)
            sheet.append(row.cells(labels), cells)

        lines = [(family_name(f, locale), summary.families[f]) for f in families]
        lines.append(("Total" if en else "合计", summary.total))
        for label, t in lines:
            counts = [t.total, t.approved, t.submitted, t.owed, t.overdue, t.on_time]
            summary_sheet.append([label, *counts, xlsx.Percent(t.rate)], cells)
        xlsx.save([summary_sheet, *sheets.values()], out)
    return summary


# ---------------------------------------------------------------- CSV


def _csv_cell(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return safe_text(value)
    return value  # numbers; None is written as an empty field


def iter_csv(rows: Iterable[LedgerRow], *, locale: str = "zh_CN") -> Iterator[bytes]:
    """UTF-8 CSV with a BOM (so Excel reads the Chinese), a chunk of lines at a time."""
    pick = 2 if _en(locale) else 1
    labels = Labels(locale)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c[pick] for c in COLUMNS])
    yield "\ufeff".encode() + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row.cells(labels)])
        pending += 1
        if pending >= 500:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode()


def write_csv(rows: Iterable[LedgerRow], out: IO[bytes], *, locale: str = "zh_CN") -> int:
    """Write the CSV to a binary file; returns the number of data rows."""
    counted = [0]

    def counting() -> Iterator[LedgerRow]:
        for row in rows:
            counted[0] += 1
            yield row

    for chunk in iter_csv(counting(), locale=locale):
        out.write(chunk)
    return counted[0]
