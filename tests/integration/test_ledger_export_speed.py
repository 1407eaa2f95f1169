"""The ledger's XLSX as written by its own streaming writer: what each cell holds, what is left
out, the file's parts; and the per-kind values the export query looks up only where shown."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from xml.etree import ElementTree

from openpyxl import load_workbook

from tests.factories import make_item, make_requirement
from tracker.models import ItemStatus, RequirementKind, Review, ReviewDecision, Submission
from tracker.models.catalogue import Family
from tracker.services import ledger

TODAY = date(2026, 11, 2)
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _row(**fields) -> ledger.LedgerRow:
    values = {
        "id": 1,
        "code": "GS-01",
        "title_zh": "公示",
        "title_en": "Publicity",
        "family": Family.PUBLICITY,
        "kind": RequirementKind.TASK,
        "unit_name": "执法科",
        "unit_name_en": "Enforcement section",
        "period": "2026",
        "case_no": None,
        "due_date": date(2026, 3, 1),
        "provisional": False,
        "status": ItemStatus.OPEN,
        "overdue": False,
        "assignee": None,
        "submitted_on": None,
        "approved_on": None,
        "on_time": False,
        "value": None,
    }
    return ledger.LedgerRow(**{**values, **fields})


def _xlsx(rows, **options) -> bytes:
    out = io.BytesIO()
    ledger.write_xlsx(rows, out, today=TODAY, families=[Family.PUBLICITY], **options)
    return out.getvalue()


def _cells(body: bytes) -> list[list]:
    sheet = load_workbook(io.BytesIO(body))[ledger.family_name(Family.PUBLICITY)]
    return [list(row) for row in sheet.iter_rows(min_row=2)]


def test_typed_text_reads_back_as_typed_and_never_as_a_formula():
    texts = {
        "padded": "  前后有空格 ",
        "lines": "第一行\r\n第二行",
        "markup": 'a & b <c> "d"',
        "formula": '=HYPERLINK("http://evil.example")',
        "number": "-2.5",
        "long": "长" * 40_000,
        "control": "食品\x0b安全\x01科",
    }
    rows = [_row(id=n, code=text) for n, text in enumerate(texts.values(), start=1)]
    cells = {row[0].value: row[1] for row in _cells(_xlsx(rows))}
    read = {key: cells[n] for n, key in enumerate(texts, start=1)}
    assert read["padded"].value == "  前后有空格 "
    assert read["lines"].value == "第一行\r\n第二行"
    assert read["markup"].value == 'a & b <c> "d"'
    assert read["long"].value == "长" * 32_767  # what a cell holds
    assert read["control"].value == "食品安全科"
    # A formula start is text, marked so that Excel keeps it text once edited (the XLSX rule
    # covers "-2.5" too: the CSV's safe_text alone lets plain numbers through).
    for key in ("formula", "number"):
        assert read[key].data_type == "s", key
        assert read[key].quotePrefix, key
        assert read[key].value == texts[key]
    assert not read["padded"].quotePrefix


def test_empty_values_are_no_cells_and_values_keep_their_types():
    approved = _row(
        id=7,
        status=ItemStatus.APPROVED,
        assignee="张三",
        submitted_on=date(2026, 2, 27),
        approved_on=date(2026, 2, 28),
        on_time=True,
        value=Decimal("2.5000"),
        kind=RequirementKind.COUNT,
    )
    waiting = _row(id=8, period=None, provisional=True, overdue=True)
    first, second = _cells(_xlsx([approved, waiting]))
    assert [c.value for c in first][:6] == [7, "GS-01", "公示", "行政执法公示", "执法科", "2026"]
    due, submitted, on_approval = first[6], first[11], first[12]
    for cell in (due, submitted, on_approval):
        assert isinstance(cell.value, datetime)
        assert cell.number_format == "yyyy-mm-dd"
    assert (submitted.value.date(), on_approval.value.date()) == (
        date(2026, 2, 27),
        date(2026, 2, 28),
    )
    assert [c.value for c in first][7:11] == [None, "已通过", None, "张三"]
    assert [c.value for c in first][13:] == ["是", 2.5]
    # No scope, no officer, no dates, no value: empty cells, as before.
    assert [c.value for c in second][5] is None
    assert [c.value for c in second][7:] == ["是", "待办", "是", None, None, None, None, None]


def test_english_labels_summary_rate_and_the_files_parts():
    rows = [_row(id=1, status=ItemStatus.APPROVED, on_time=True, due_date=date(2026, 1, 5))]
    body = io.BytesIO()
    ledger.write_xlsx(rows, body, today=TODAY, locale="en", families=[Family.PUBLICITY])
    workbook = load_workbook(io.BytesIO(body.getvalue()))
    assert workbook.sheetnames == ["Summary", "Enforcement publicity"]
    summary = workbook["Summary"]
    header = [c.value for c in summary[1]]
    assert header == [c[2] for c in ledger.SUMMARY_COLUMNS]
    assert all(c.font.b for c in summary[1])
    assert [c.value for c in summary[2]] == ["Enforcement publicity", 1, 1, 0, 0, 0, 1, 1]
    assert summary["H2"].number_format == "0.0%"
    assert summary.freeze_panes == "A2"
    assert summary.auto_filter.ref == "A1:H3"
    sheet = workbook["Enforcement publicity"]
    assert [c.value for c in sheet[2]][2:4] == ["Publicity", "Enforcement publicity"]
    assert sheet.auto_filter.ref == "A1:O2"
    with zipfile.ZipFile(io.BytesIO(body.getvalue())) as package:
        names = set(package.namelist())
        assert {
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            "xl/worksheets/sheet1.xml",
            "xl/worksheets/sheet2.xml",
        } == names
        parts = {n: ElementTree.fromstring(package.read(n)) for n in names}  # noqa: S314 (ours)
    # Each sheet's filter range is named, as Excel names it.
    defined = parts["xl/workbook.xml"].iter(f"{{{MAIN_NS}}}definedName")
    assert [(d.get("name"), d.get("localSheetId"), d.text) for d in defined] == [
        ("_xlnm._FilterDatabase", "0", "'Summary'!$A$1:$H$3"),
        ("_xlnm._FilterDatabase", "1", "'Enforcement publicity'!$A$1:$O$2"),
    ]


def test_a_family_without_rows_still_has_its_sheet_and_a_rate_of_nothing_is_empty():
    body = _xlsx([])
    workbook = load_workbook(io.BytesIO(body))
    sheet = workbook[ledger.family_name(Family.PUBLICITY)]
    assert sheet.max_row == 1
    assert sheet.auto_filter.ref == "A1:O1"
    total = [c.value for c in workbook["汇总"][3]]
    assert total == ["合计", 0, 0, 0, 0, 0, 0, None]


def test_values_and_approval_dates_by_requirement_kind(db_session, bureau, clock):
    """Indicators show the item's value, counts their latest round's, tasks none; the approval
    date only for approved items."""
    staff, inspector = bureau.user("staff"), bureau.user("inspector")
    task = make_requirement(db_session, "GS-81", cadence="annual", owners=["SEC"])
    count = make_requirement(
        db_session, "XF-81", kind="count", target_count=2, cadence="annual", owners=["SEC"]
    )
    indicator = make_requirement(
        db_session,
        "GS-82",
        kind="indicator",
        target_value=100,
        target_op=">=",
        target_unit="%",
        cadence="annual",
        owners=["SEC"],
    )
    unit = bureau.section
    items = {
        "task": make_item(db_session, unit=unit, requirement=task, due_date=date(2026, 6, 1)),
        "count": make_item(db_session, unit=unit, requirement=count, due_date=date(2026, 6, 1)),
        "indicator": make_item(
            db_session, unit=unit, requirement=indicator, due_date=date(2026, 6, 1)
        ),
    }
    items["indicator"].value = Decimal("97.5")
    at = datetime(2026, 5, 20, 4, 0, tzinfo=UTC)
    for round_, value in ((1, Decimal(1)), (2, Decimal(3))):
        db_session.add(
            Submission(
                item_id=items["count"].id,
                round=round_,
                submitted_by_id=staff.id,
                submitted_at=at + timedelta(days=round_),
                value=value,
            )
        )
    for key in ("task", "indicator"):
        submission = Submission(
            item_id=items[key].id,
            round=1,
            submitted_by_id=staff.id,
            submitted_at=at,
            value=Decimal(9),
        )
        db_session.add(submission)
        db_session.flush()
        db_session.add(
            Review(
                item_id=items[key].id,
                submission_id=submission.id,
                reviewer_id=inspector.id,
                decision=ReviewDecision.APPROVE,
                decided_at=at + timedelta(hours=18),  # the next day in Shanghai
            )
        )
        items[key].status = ItemStatus.APPROVED
        items[key].last_submitted_at = at
    items["count"].status = ItemStatus.SUBMITTED
    items["count"].last_submitted_at = at + timedelta(days=2)
    db_session.commit()

    rows = {
        row.id: row
        for row in ledger.export_rows(
            db_session,
            ledger.LedgerFilters(year=2026),
            user=None,
            today=TODAY,
            timezone="Asia/Shanghai",
        )
    }
    task_row, count_row, indicator_row = (rows[items[k].id] for k in items)
    assert (task_row.value, count_row.value, indicator_row.value) == (
        None,
        Decimal(3),
        Decimal("97.5"),
    )
    assert (task_row.submitted_on, task_row.approved_on) == (date(2026, 5, 20), date(2026, 5, 21))
    assert task_row.on_time and task_row.status == ItemStatus.APPROVED
    assert (count_row.submitted_on, count_row.approved_on) == (date(2026, 5, 22), None)
    assert not count_row.on_time
