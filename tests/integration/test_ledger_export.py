"""The ledger (台账) export: XLSX and CSV rows equal the filtered item list; summary; scope; CLI."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.factories import make_item, make_requirement
from tests.helpers import page
from tracker.models import (
    AuditEvent,
    ChecklistItem,
    ItemStatus,
    Review,
    ReviewDecision,
    Submission,
)
from tracker.models.catalogue import Family
from tracker.services import ledger

TODAY = date(2026, 11, 2)  # the frozen clock's local date
FAMILY_SHEETS = {f: ledger.family_name(f) for f in Family}


def approve(session, item, *, submitted: date, by, reviewer, value=None) -> None:
    """Record a submission on `submitted` (local noon) and its approval."""
    at = datetime(submitted.year, submitted.month, submitted.day, 4, 0, tzinfo=UTC)
    submission = Submission(
        item_id=item.id, round=1, submitted_by_id=by.id, submitted_at=at, value=value
    )
    session.add(submission)
    session.flush()
    session.add(
        Review(
            item_id=item.id,
            submission_id=submission.id,
            reviewer_id=reviewer.id,
            decision=ReviewDecision.APPROVE,
            decided_at=at + timedelta(days=1),
        )
    )
    item.status = ItemStatus.APPROVED
    item.last_submitted_at = at  # as the submit service keeps it
    session.flush()


@pytest.fixture
def data(db_session, bureau, clock):
    """Items of three families in two units: open, overdue, submitted, returned, approved."""
    staff = bureau.user("staff")
    inspector = bureau.user("inspector")
    gs = make_requirement(db_session, "GS-71", cadence="annual", owners=["SEC"])
    jl = make_requirement(
        db_session, "JL-71", family="recording", cadence="quarterly", owners=["SEC"]
    )
    xf = make_requirement(
        db_session,
        "XF-71",
        family="law_study",
        kind="count",
        target_count=2,
        cadence="annual",
        owners=["STA"],
    )
    items = {}
    items["gs_late"] = make_item(
        db_session, unit=bureau.section, requirement=gs, period="2026", due_date=date(2026, 3, 1)
    )
    items["gs_ontime"] = make_item(
        db_session, unit=bureau.station, requirement=gs, period="2026", due_date=date(2026, 5, 1)
    )
    approve(
        db_session, items["gs_ontime"], submitted=date(2026, 4, 28), by=staff, reviewer=inspector
    )
    items["gs_approved_late"] = make_item(
        db_session, unit=bureau.legal, requirement=gs, period="2026", due_date=date(2026, 6, 1)
    )
    approve(
        db_session,
        items["gs_approved_late"],
        submitted=date(2026, 6, 9),
        by=staff,
        reviewer=inspector,
    )
    items["jl_q1"] = make_item(
        db_session,
        unit=bureau.section,
        requirement=jl,
        period="2026-Q1",
        due_date=date(2026, 4, 10),
        status=ItemStatus.RETURNED,
        assignee_id=staff.id,
    )
    items["jl_q4"] = make_item(
        db_session,
        unit=bureau.section,
        requirement=jl,
        period="2026-Q4",
        due_date=date(2027, 1, 12),
        assignee_id=staff.id,
    )
    items["jl_q3"] = make_item(
        db_session,
        unit=bureau.section,
        requirement=jl,
        period="2026-Q3",
        due_date=date(2026, 10, 15),
        status=ItemStatus.SUBMITTED,
    )
    items["xf"] = make_item(
        db_session, unit=bureau.station, requirement=xf, period="2026", due_date=date(2026, 12, 31)
    )
    approve(
        db_session, items["xf"], submitted=date(2026, 9, 1), by=staff, reviewer=inspector, value=3
    )
    items["old"] = make_item(
        db_session, unit=bureau.section, requirement=gs, period="2025", due_date=date(2025, 3, 1)
    )
    db_session.commit()
    return items


def get_streamed(client: FlaskClient, url: str):
    """GET a `stream_with_context` body in the request's own context (see test_samples_web)."""
    token = _cv_app.set(None)
    try:
        response = FlaskClient.open(client, url)
        streamed = response.is_streamed
        body = response.get_data()
    finally:
        _cv_app.reset(token)
    return response, streamed, body


def _csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _workbook(response):
    assert response.status_code == 200, response.status_code
    assert response.mimetype == ledger_mimetype()
    return load_workbook(io.BytesIO(response.data))


def ledger_mimetype() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _sheet_rows(ws) -> tuple[list, list[list]]:
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return rows[0], rows[1:]


def _ids(workbook) -> list[int]:
    ids = []
    for ws in workbook.worksheets[1:]:
        _, rows = _sheet_rows(ws)
        ids.extend(r[0] for r in rows)
    return ids


def _list_ids(client, query: str) -> list[int]:
    response = client.get(f"/items/?{query}")
    assert response.status_code == 200
    return [int(tr["data-item-id"]) for tr in page(response).select("tr[data-item-id]")]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "status=overdue",
        "status=approved",
        "family=recording",
        "period=2026Q1",
        "q=GS-71",
        "assignee=none&status=open",
        "unit={section}",
        "sort=-due&family=publicity",
    ],
)
def test_xlsx_rows_equal_the_filtered_item_list(app, bureau, data, query):
    client = signed_in_client(app, bureau.user("admin"))
    query = query.format(section=bureau.section.id)
    expected = _list_ids(client, query)
    workbook = _workbook(client.get(f"/reports/ledger.xlsx?{query}"))
    assert sorted(_ids(workbook)) == sorted(expected)
    # Within a sheet the order is the list's order.
    for ws in workbook.worksheets[1:]:
        _, rows = _sheet_rows(ws)
        sheet_ids = [r[0] for r in rows]
        assert sheet_ids == [i for i in expected if i in set(sheet_ids)]


def test_xlsx_layout_headers_dates_and_summary(app, bureau, data, db_session):
    client = signed_in_client(app, bureau.user("admin"))
    workbook = _workbook(client.get("/reports/ledger.xlsx?year=2026"))
    assert workbook.sheetnames == ["汇总", *FAMILY_SHEETS.values()]
    publicity = workbook[FAMILY_SHEETS[Family.PUBLICITY]]
    header, rows = _sheet_rows(publicity)
    assert header == [c[1] for c in ledger.COLUMNS]  # Chinese headers
    assert publicity.freeze_panes == "A2"
    assert publicity.auto_filter.ref == f"A1:O{len(rows) + 1}"
    assert publicity.column_dimensions["C"].width == 44
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    # The 2025 item is not in the 2026 ledger.
    assert data["old"].id not in by_id
    row = by_id[data["gs_ontime"].id]
    assert isinstance(row["截止日期"], datetime)  # a real date cell, not text
    assert row["截止日期"].date() == date(2026, 5, 1)
    assert row["审核通过日期"].date() == date(2026, 4, 29)
    assert row["按时完成"] == "是"
    assert row["状态"] == "已通过"
    cell = publicity.cell(row=2, column=7)
    assert cell.number_format == "yyyy-mm-dd"
    assert by_id[data["gs_approved_late"].id]["按时完成"] == "否"
    assert by_id[data["gs_late"].id]["逾期"] == "是"
    study = workbook[FAMILY_SHEETS[Family.LAW_STUDY]]
    header, rows = _sheet_rows(study)
    assert dict(zip(header, rows[0], strict=True))["数值/次数"] == 3

    # The summary equals counts computed here from the database.
    items = list(
        db_session.scalars(
            select(ChecklistItem)
            .join(ChecklistItem.requirement)
            .where(ChecklistItem.period.like("2026%"))
        )
    )
    on_time = {data["gs_ontime"].id, data["xf"].id}
    summary_header, summary_rows = _sheet_rows(workbook["汇总"])
    assert summary_header[:2] == ["类别", "事项总数"]
    summary = {r[0]: r[1:] for r in summary_rows}
    for family in Family:
        mine = [i for i in items if i.requirement.family == family]
        approved = [i for i in mine if i.status == ItemStatus.APPROVED]
        due_or_done = [i for i in mine if i.status == ItemStatus.APPROVED or i.due_date < TODAY]
        timely = [i for i in mine if i.id in on_time]
        expected = [
            len(mine),
            len(approved),
            sum(i.status == ItemStatus.SUBMITTED for i in mine),
            sum(i.status in (ItemStatus.OPEN, ItemStatus.RETURNED) for i in mine),
            sum(i.is_overdue(TODAY) for i in mine),
            len(timely),
            (len(timely) / len(due_or_done)) if due_or_done else None,
        ]
        got = summary[ledger.family_name(family)]
        assert got[:6] == expected[:6], family
        assert got[6] == pytest.approx(expected[6]) if expected[6] is not None else got[6] is None
    assert summary["合计"][0] == len(items) == 7


def test_xlsx_headers_in_english_for_an_english_user(app, bureau, data, db_session):
    admin = bureau.user("admin")
    admin.locale = "en"
    db_session.commit()
    workbook = _workbook(signed_in_client(app, admin).get("/reports/ledger.xlsx?family=recording"))
    assert workbook.sheetnames == ["Summary", "Full-process recording"]
    header, rows = _sheet_rows(workbook["Full-process recording"])
    assert header[:3] == ["ID", "Code", "Requirement"]
    assert {r[8] for r in rows} == {"Returned", "Open", "Submitted"}


def test_csv_streams_the_same_rows_with_a_bom(app, bureau, data):
    client = signed_in_client(app, bureau.user("admin"))
    expected = _list_ids(client, "status=overdue")
    response, streamed, body = get_streamed(client, "/reports/ledger.csv?status=overdue")
    assert response.status_code == 200
    assert streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv_rows(body)
    assert rows[0] == [c[1] for c in ledger.COLUMNS]
    assert [int(r[0]) for r in rows[1:]] == expected
    late = next(r for r in rows[1:] if int(r[0]) == data["gs_late"].id)
    assert late[6] == "2026-03-01" and late[9] == "是"


def test_exports_are_audited(app, bureau, data, db_session):
    client = signed_in_client(app, bureau.user("leader"))
    assert client.get("/reports/ledger.xlsx?year=2026&status=overdue").status_code == 200
    get_streamed(client, "/reports/ledger.csv?family=recording")
    events = list(
        db_session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "ledger.exported")
            .order_by(AuditEvent.seq)
        )
    )
    assert [e.data for e in events] == [
        {"format": "xlsx", "filters": {"year": 2026, "status": "overdue"}},
        {"format": "csv", "filters": {"family": "recording"}},
    ]
    assert {e.actor_id for e in events} == {bureau.user("leader").id}


def test_chief_exports_only_his_units(app, bureau, data):
    chief = bureau.user("chief")  # chief of the section
    client = signed_in_client(app, chief)
    ids = _ids(_workbook(client.get("/reports/ledger.xlsx")))
    section_items = {i.id for i in data.values() if i.unit_id == bureau.section.id}
    assert set(ids) == section_items
    assert sorted(ids) == sorted(_list_ids(client, ""))
    # Asking for another unit is ignored, as on the list: still only his own rows.
    other = _ids(_workbook(client.get(f"/reports/ledger.xlsx?unit={bureau.station.id}")))
    assert set(other) == section_items
    rows = _csv_rows(get_streamed(client, "/reports/ledger.csv")[2])
    assert {int(r[0]) for r in rows[1:]} == section_items


def test_staff_and_anonymous_cannot_export(app, bureau, data, client):
    staff = signed_in_client(app, bureau.user("staff"))
    assert staff.get("/reports/ledger.xlsx").status_code == 403
    assert staff.get("/reports/ledger.csv").status_code == 403
    assert client.get("/reports/ledger.xlsx").status_code == 302


def test_export_memory_is_bounded_by_the_batch(app, db_session, bureau, clock):
    """Many rows through the real query: the row count is right and memory does not follow it."""
    requirement = make_requirement(db_session, "GS-72", cadence="monthly", owners=["SEC"])
    version = requirement.version
    db_session.execute(
        ChecklistItem.__table__.insert(),
        [
            {
                "requirement_id": requirement.id,
                "requirement_version": version,
                "unit_id": bureau.section.id,
                "period": f"2026-{(n % 12) + 1:02d}",
                "year": 2026,
                "scope_key": f"bulk{n}",
                "due_date": date(2026, 1, 1) + timedelta(days=n % 360),
                "due_provisional": False,
                "due_basis_zh": "测试",
                "due_basis_en": "test",
                "calendar_version": "test",
                "status": "open",
                "created_overdue": False,
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
            }
            for n in range(3000)
        ],
    )
    db_session.flush()
    filters = ledger.LedgerFilters(year=2026)

    def export() -> int:
        out = io.BytesIO()
        summary = ledger.write_xlsx(
            ledger.export_rows(
                db_session, filters, user=None, today=TODAY, timezone="Asia/Shanghai"
            ),
            out,
            today=TODAY,
        )
        return summary.total.total

    tracemalloc.start()
    total = export()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == 3000
    # 3,000 rows as ORM objects and a normal workbook would take far more; the write-only
    # workbook and batched rows keep the Python heap small (the 200,000-row figure: bench/).
    assert peak < 40 * 1024 * 1024, peak
    output = io.BytesIO()
    assert (
        ledger.write_csv(
            ledger.export_rows(
                db_session, filters, user=None, today=TODAY, timezone="Asia/Shanghai"
            ),
            output,
        )
        == 3000
    )


def test_cli_export_ledger(app, db_session, bureau, data, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "ledger.xlsx"
    result = runner.invoke(args=["tracker", "export-ledger", "--year", "2026", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "7 items" in result.output
    workbook = load_workbook(out)
    assert sorted(_ids(workbook)) == sorted(i.id for k, i in data.items() if k != "old")
    csv_out = tmp_path / "ledger.csv"
    result = runner.invoke(
        args=["tracker", "export-ledger", "--year", "2026", "--out", str(csv_out)]
    )
    assert result.exit_code == 0, result.output
    text = csv_out.read_bytes()
    assert text.startswith("\ufeff".encode())
    assert len(list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))) == 8
