"""The ledger (台账) export: the checklist under any filter of the item list, as XLSX or CSV.

Rows are read as plain column tuples in batches (`yield_per`: a server-side cursor on
PostgreSQL) and written straight out — XLSX sheets streamed to temporary files, or a CSV
generator — so memory stays bounded whatever the number of rows.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import absolute_coordinate
from openpyxl.utils.datetime import to_excel
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
from tracker.services.calendar import WorkingCalendar
from tracker.services.item_filters import ItemFilters, conditions

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
# Typed text (titles, names, case numbers) a spreadsheet would run as a formula when it starts
# with one of these (formula or DDE injection: "=HYPERLINK(...)", "@SUM(...)", "+cmd|...").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 (and so XLSX) cannot hold; openpyxl refuses them, so they are dropped.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_text(value: str) -> str:
    """Text for a CSV cell: characters XML cannot hold dropped, and a leading ' added before a
    formula start, so that a spreadsheet shows the text instead of computing it (a plain
    signed number such as -2.5 is left alone: it is read as the number it is)."""
    value = _ILLEGAL_XML.sub("", value)
    if value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


DATE_FORMAT = "yyyy-mm-dd"


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
    for (
        item_id,
        code,
        title_zh,
        title_en,
        family,
        kind,
        unit_name,
        unit_name_en,
        period,
        case_no,
        due_date,
        provisional,
        status,
        overdue,
        assignee,
        submitted_at,
        approved_at,
        on_time,
        value,
    ) in result:
        yield LedgerRow(
            item_id,
            code,
            title_zh,
            title_en,
            family,
            kind,
            unit_name,
            unit_name_en,
            period,
            case_no,
            due_date,
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

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

# Cell formats by their place in _STYLES_XML: the header, a date, text that must stay text
# (Excel's leading '), a percentage.
_HEADER_STYLE, _DATE_STYLE, _QUOTED_STYLE, _PERCENT_STYLE = 1, 2, 3, 4
_STYLES_XML = (
    f'{_XML_HEAD}<styleSheet xmlns="{_MAIN_NS}">'
    f'<numFmts count="2"><numFmt numFmtId="164" formatCode="{DATE_FORMAT}"/>'
    '<numFmt numFmtId="165" formatCode="0.0%"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b val="1"/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="00DDEBF7"/></patternFill></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_PAGE_MARGINS = (
    '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
)
MAX_TEXT = 32_767  # characters a cell holds (openpyxl cut them here too)
CELL_CACHE = 20_000  # distinct texts and days remembered: codes, titles, names, labels fit
_XML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_XML_ATTRIBUTE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


@dataclass(frozen=True)
class _Percent:
    """A summary rate: a number shown as a percentage (an empty cell when there is none)."""

    value: float | None


def _sheet_title(name: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", name)[:31]


def _number_xml(value: float) -> str:
    shown = "%.16g" % value if math.isfinite(value) else ""  # noqa: UP031 (Excel's 15-16 digits)
    return f' t="n"><v>{shown}</v></c>'


def _text_xml(value: str, style: int = 0) -> str | None:
    """Text as a cell that stays text: characters XML cannot hold dropped, and text that starts
    like a formula marked with Excel's leading ' (so that it is not run even once edited)."""
    text = _ILLEGAL_XML.sub("", value)[:MAX_TEXT]
    if not text:
        return None
    if not style and text.startswith(FORMULA_STARTS):
        style = _QUOTED_STYLE
    styled = f' s="{style}"' if style else ""
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'{styled} t="inlineStr"><is><t{space}>{text.translate(_XML_TEXT)}</t></is></c>'


def _value_xml(value: Any) -> str | None:
    """What follows `<c r="B7"` for a text, a date or a summary rate (None: no cell)."""
    if isinstance(value, str):
        return _text_xml(value)
    if isinstance(value, _Percent):
        if value.value is None:
            return f' s="{_PERCENT_STYLE}" t="n"/>'
        return f' s="{_PERCENT_STYLE}"' + _number_xml(value.value)
    if isinstance(value, date):
        return f' s="{_DATE_STYLE}"' + _number_xml(to_excel(value))
    raise TypeError(f"no cell for {value!r}")


class _CellXml(dict):
    """The XML of cells by value. Texts and days come back on every row (codes, titles, unit
    and officer names, labels, dates), so each is made once; numbers are written each time."""

    def __missing__(self, value: Any) -> str | None:
        xml = _value_xml(value)
        if len(self) < CELL_CACHE:
            self[value] = xml
        return xml

    def row(self, number: int, values: Iterable[Any]) -> str:
        """One `<row>`: None values are no cell at all."""
        r = str(number)
        cells = [f'<row r="{r}">']
        for letter, value in zip(_COLUMN_LETTERS, values, strict=False):
            if value is None:
                continue
            xml = _number_xml(value) if isinstance(value, int | float) else self[value]
            if xml is not None:
                cells.append(f'<c r="{letter}{r}"{xml}')
        cells.append("</row>")
        return "".join(cells)


_COLUMN_LETTERS = [get_column_letter(n) for n in range(1, max(len(COLUMNS), 26) + 1)]


class _SheetXml:
    """One worksheet streamed to a temporary file: frozen bold header, column widths, the
    rows, and a filter over all of them."""

    def __init__(self, title: str, columns: Sequence[tuple[str, str, str, int]], locale: str):
        self.title = title
        self.width = len(columns)
        self.rows = 0  # below the header
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        pick = 2 if _en(locale) else 1
        widths = "".join(
            f'<col min="{n}" max="{n}" width="{c[3]}" customWidth="1"/>'
            for n, c in enumerate(columns, start=1)
        )
        header = "".join(
            f'<c r="{letter}1"{_text_xml(c[pick], _HEADER_STYLE)}'
            for letter, c in zip(_COLUMN_LETTERS, columns, strict=False)
        )
        self._write(
            f'{_XML_HEAD}<worksheet xmlns="{_MAIN_NS}"><sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A1" sqref="A1"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{widths}</cols>'
            f'<sheetData><row r="1">{header}</row>'
        )

    def _write(self, xml: str) -> None:
        self.file.write(xml.encode())

    def append(self, values: Iterable[Any], cells: _CellXml) -> None:
        self.rows += 1
        self._write(cells.row(self.rows + 1, values))

    @property
    def filter_ref(self) -> str:
        return f"A1:{_COLUMN_LETTERS[self.width - 1]}{self.rows + 1}"

    def finish(self) -> int:
        """Close the XML; returns its size in bytes."""
        self._write(f'</sheetData><autoFilter ref="{self.filter_ref}"/>{_PAGE_MARGINS}</worksheet>')
        return self.file.tell()

    def close(self) -> None:
        self.file.close()


def _filter_range(sheet: _SheetXml) -> str:
    quoted = sheet.title.replace("'", "''")
    return f"'{quoted}'!{absolute_coordinate(sheet.filter_ref)}"


def _workbook_xml(sheets: Sequence[_SheetXml]) -> str:
    listed = "".join(
        f'<sheet name="{s.title.translate(_XML_ATTRIBUTE)}" sheetId="{n}" r:id="rId{n}"/>'
        for n, s in enumerate(sheets, start=1)
    )
    # The range each filter covers, named as Excel itself names it.
    filters = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{n}" hidden="1">'
        f"{_filter_range(s).translate(_XML_TEXT)}</definedName>"
        for n, s in enumerate(sheets)
    )
    return (
        f'{_XML_HEAD}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_DOC_RELS}">'
        f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{listed}</sheets>'
        f'<definedNames>{filters}</definedNames><calcPr calcId="124519" fullCalcOnLoad="1"/>'
        "</workbook>"
    )


def _package_parts(sheets: Sequence[_SheetXml]) -> dict[str, str]:
    """Every part of the file but the sheets: content types, relationships, workbook, styles."""
    count = len(sheets)
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{_SHEET_TYPE}"/>'
        for n in range(1, count + 1)
    )
    sheet_rels = "".join(
        f'<Relationship Id="rId{n}" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, count + 1)
    )
    office = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    return {
        "[Content_Types].xml": (
            f"{_XML_HEAD}"
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{office}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{office}.styles+xml"/>'
            f"{overrides}</Types>"
        ),
        "_rels/.rels": (
            f'{_XML_HEAD}<Relationships xmlns="{_PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": _workbook_xml(sheets),
        "xl/_rels/workbook.xml.rels": (
            f'{_XML_HEAD}<Relationships xmlns="{_PACKAGE_RELS}">{sheet_rels}'
            f'<Relationship Id="rId{count + 1}" Type="{_DOC_RELS}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": _STYLES_XML,
    }


def _save(sheets: Sequence[_SheetXml], out: IO[bytes] | str) -> None:
    """Zip the parts and the sheets' temporary files into the XLSX."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in _package_parts(sheets).items():
            package.writestr(name, xml)
        for number, sheet in enumerate(sheets, start=1):
            entry = zipfile.ZipInfo(f"xl/worksheets/sheet{number}.xml", time.localtime()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.file_size = sheet.finish()  # lets zipfile choose ZIP64 for a huge sheet
            sheet.file.seek(0)
            with package.open(entry, "w") as part:
                shutil.copyfileobj(sheet.file, part, 1024 * 1024)


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
    cells = _CellXml()
    with contextlib.ExitStack() as cleanup:
        summary_sheet = _SheetXml(
            _sheet_title("Summary" if en else "汇总"), SUMMARY_COLUMNS, locale
        )
        cleanup.callback(summary_sheet.close)
        sheets: dict[Family, _SheetXml] = {}
        for family in families:
            sheet = sheets[family] = _SheetXml(
                _sheet_title(family_name(family, locale)), COLUMNS, locale
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
            summary_sheet.append([label, *counts, _Percent(t.rate)], cells)
        _save([summary_sheet, *sheets.values()], out)
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
