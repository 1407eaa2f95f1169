"""The draft annual report: every section, figures equal to the ledger, placeholders, narrative."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from docx import Document
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml.ns import qn
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.factories import make_item, make_requirement
from tests.helpers import flashes, page, post_form
from tests.integration.test_ledger_export import approve
from tracker.models import (
    AuditEvent,
    Case,
    ChecklistItem,
    ItemStatus,
    ReportNarrative,
    Submission,
)
from tracker.models.catalogue import Family
from tracker.services import annual_report

TODAY = date(2026, 11, 2)
DOCX = "/reports/annual-report.docx?year=2026"


@pytest.fixture
def ledger(db_session, bureau, clock):
    """A year with law study, the leader's duties, publicity and legal review; no normative
    documents, no recording, no assessment items."""
    staff, inspector = bureau.user("staff"), bureau.user("inspector")
    xf01 = make_requirement(
        db_session,
        "XF-01",
        family="law_study",
        kind="count",
        target_count=2,
        cadence="annual",
        owners=["SEC"],
    )
    xf02 = make_requirement(
        db_session,
        "XF-02",
        family="law_study",
        kind="count",
        target_count=1,
        cadence="monthly",
        owners=["SEC"],
    )
    xf04 = make_requirement(db_session, "XF-04", family="law_study", cadence="annual")
    dk07 = make_requirement(db_session, "DK-07", family="assessment", cadence="annual")
    gs03 = make_requirement(db_session, "GS-03", cadence="annual", owners=["SEC"])
    gs12 = make_requirement(
        db_session,
        "GS-12",
        kind="indicator",
        target_value=100,
        target_op=">=",
        target_unit="%",
        cadence="annual",
        owners=["SEC"],
    )
    sh01 = make_requirement(db_session, "SH-01", family="legal_review", cadence="annual")

    def item(requirement, unit, period, due, **fields):
        return make_item(
            db_session, unit=unit, requirement=requirement, period=period, due_date=due, **fields
        )

    a = item(xf01, bureau.section, "2026", date(2026, 12, 31))
    approve(db_session, a, submitted=date(2026, 6, 1), by=staff, reviewer=inspector, value=3)
    b = item(xf01, bureau.station, "2026", date(2026, 12, 31))
    approve(db_session, b, submitted=date(2026, 7, 1), by=staff, reviewer=inspector, value=2)
    item(xf01, bureau.legal, "2026", date(2026, 12, 31), status=ItemStatus.SUBMITTED)
    for month in (1, 2, 3):
        m = item(xf02, bureau.section, f"2026-{month:02d}", date(2026, month, 28))
        submitted = date(2026, month, 20) if month != 3 else date(2026, 4, 3)  # March late
        approve(db_session, m, submitted=submitted, by=staff, reviewer=inspector, value=1)
    item(xf02, bureau.section, "2026-04", date(2026, 4, 28))  # overdue
    item(xf04, bureau.root, "2026", date(2026, 12, 20))
    d = item(dk07, bureau.root, "2026", date(2026, 12, 20))
    approve(db_session, d, submitted=date(2026, 10, 1), by=staff, reviewer=inspector)
    p1 = item(gs03, bureau.section, "2026", date(2026, 3, 1))
    approve(db_session, p1, submitted=date(2026, 2, 27), by=staff, reviewer=inspector)
    p2 = item(gs03, bureau.station, "2026", date(2026, 3, 1))
    approve(db_session, p2, submitted=date(2026, 3, 5), by=staff, reviewer=inspector)
    item(gs03, bureau.legal, "2026", date(2026, 5, 1), status=ItemStatus.RETURNED)  # overdue
    g1 = item(gs12, bureau.section, "2026", date(2026, 12, 31), value=Decimal("95"))
    approve(db_session, g1, submitted=date(2026, 9, 1), by=staff, reviewer=inspector)
    g2 = item(gs12, bureau.station, "2026", date(2026, 12, 31), value=Decimal("100"))
    approve(db_session, g2, submitted=date(2026, 9, 1), by=staff, reviewer=inspector)
    s1 = item(sh01, bureau.legal, "2026", date(2026, 8, 1))
    approve(db_session, s1, submitted=date(2026, 7, 1), by=staff, reviewer=inspector)
    item(sh01, bureau.legal, "2026-H2", date(2026, 12, 1))
    # Another year must not count.
    old = item(gs03, bureau.section, "2025", date(2025, 3, 1))
    approve(db_session, old, submitted=date(2025, 2, 1), by=staff, reviewer=inspector)
    for n, (decided, major) in enumerate(
        [(date(2026, 2, 1), True), (date(2026, 5, 1), False), (date(2025, 12, 1), True)]
    ):
        db_session.add(
            Case(
                case_no=f"报告〔2026〕{n}号",
                unit_id=bureau.station.id,
                decided_on=decided,
                major=major,
            )
        )
    db_session.commit()


def read(response) -> Document:
    assert response.status_code == 200, response.status_code
    assert response.mimetype.endswith("wordprocessingml.document")
    return Document(io.BytesIO(response.data))


def structure(document) -> dict:
    """(section heading, sub-heading) → {label: (text, highlighted)} and every paragraph."""
    result: dict = {}
    section = sub = None
    for p in document.paragraphs:
        style = p.style.name
        if style == "Heading 1":
            section, sub = p.text, None
            result.setdefault((section, None), {})
            continue
        if style == "Heading 2":
            sub = p.text
            result.setdefault((section, sub), {})
            continue
        if "：" in p.text and p.runs and p.runs[0].text.endswith("："):
            label = p.runs[0].text[:-1]
            rest = "".join(r.text for r in p.runs[1:])
            highlighted = any(r.font.highlight_color == WD_COLOR_INDEX.YELLOW for r in p.runs)
            result.setdefault((section, sub), {})[label] = (rest, highlighted)
    return result


def section_text(document, heading: str) -> str:
    lines, inside = [], False
    for p in document.paragraphs:
        if p.style.name == "Heading 1":
            inside = p.text == heading
            continue
        if inside:
            lines.append(p.text)
    return "\n".join(lines)


def year_items(session, *, family=None, code=None):
    stmt = select(ChecklistItem).where(ChecklistItem.period.like("2026%"))
    items = list(session.scalars(stmt))
    if family is not None:
        items = [i for i in items if i.requirement.family == family]
    if code is not None:
        items = [i for i in items if i.requirement.code == code]
    return items


def last_submission(session, item):
    return session.scalar(
        select(Submission).where(Submission.item_id == item.id).order_by(Submission.round.desc())
    )


def on_time(session, item) -> bool:
    if item.status != ItemStatus.APPROVED:
        return False
    sub = last_submission(session, item)
    return sub.submitted_at.astimezone(annual_report_tz()).date() <= item.due_date


def annual_report_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def expected_counts(session, items):
    approved = [i for i in items if i.status == ItemStatus.APPROVED]
    timely = [i for i in items if on_time(session, i)]
    due_or_done = [i for i in items if i.status == ItemStatus.APPROVED or i.due_date < TODAY]
    overdue = [i for i in items if i.is_overdue(TODAY)]
    rate = f"{len(timely) / len(due_or_done) * 100:.1f}%"
    return {
        "台账事项": f"{len(items)}项。",
        "已审核通过": f"{len(approved)}项。",
        "按时完成": f"{len(timely)}项。",
        "按时完成率": f"{rate}。",
        "逾期未完成": f"{len(overdue)}项。",
    }


def test_every_section_and_figure_equals_the_ledger(app, bureau, ledger, db_session):
    document = read(signed_in_client(app, bureau.user("admin")).get(DOCX))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == [s.title for s in annual_report.SECTIONS]
    subheadings = [p.text for p in document.paragraphs if p.style.name == "Heading 2"]
    assert subheadings == [
        "（一）行政执法公示制度",
        "（二）执法全过程记录制度",
        "（三）重大执法决定法制审核制度",
    ]
    assert "区市场监督管理局2026年法治政府建设年度报告（草稿）" in document.paragraphs[0].text
    figures = structure(document)
    law, leader, _docs, enforcement, _assessment = (s.title for s in annual_report.SECTIONS)

    # Overview: every 2026 item, counted here.
    overview = figures.get((None, None), {})
    all_items = year_items(db_session)
    assert len(all_items) == 16
    overview_lines = {
        p.runs[0].text[:-1]: "".join(r.text for r in p.runs[1:])
        for p in document.paragraphs[: [p.text for p in document.paragraphs].index(law)]
        if len(p.runs) > 1 and p.runs[0].text.endswith("：")
    }
    expected = expected_counts(db_session, all_items)
    expected["台账事项总数"] = expected.pop("台账事项")
    assert overview_lines == expected, overview

    # Law study: family figures, occurrences on approved items only, the total, a task.
    study = figures[(law, None)]
    law_items = year_items(db_session, family=Family.LAW_STUDY)
    for label, text in expected_counts(db_session, law_items).items():
        assert study[label] == (text, False), label
    xf01 = year_items(db_session, code="XF-01")
    xf01_done = sum(
        last_submission(db_session, i).value for i in xf01 if i.status == ItemStatus.APPROVED
    )
    assert xf01_done == 5
    xf01_done = int(xf01_done)
    assert study["党委理论学习中心组集体学法"] == (
        f"{xf01_done}次（目标{2 * len(xf01)}次）。",
        False,
    )
    xf02 = year_items(db_session, code="XF-02")
    xf02_done = sum(
        last_submission(db_session, i).value for i in xf02 if i.status == ItemStatus.APPROVED
    )
    xf02_done = int(xf02_done)
    assert study["公务员“一月一学法”"] == (f"{xf02_done}次（目标{len(xf02)}次）。", False)
    assert study["学法培训活动合计（经审核确认）"] == (f"{xf01_done + xf02_done}次。", False)
    assert study["领导干部学法用法考核"] == ("已完成0项（共1项）。", False)
    # No XF-03 items in the ledger: left for the author, highlighted, never a number.
    text, highlighted = study["“科长大讲堂”"]
    assert highlighted and text.startswith("【待填写：") and "台账无本年度记录" in text
    assert study["参加学法培训人次"][1]

    duties = figures[(leader, None)]
    assert duties["党政主要负责人年终述法"] == ("已完成1项（共1项）。", False)
    assert duties["党委会、局长办公会研究部署法治建设"][1]  # no DK-02 items: placeholder

    # Enforcement: cases of the year, publicity figures, the publication rate, an indicator.
    cases = list(db_session.scalars(select(Case)))
    year_cases = [c for c in cases if c.decided_on.year == 2026]
    lines = figures[(enforcement, None)]
    assert lines["本年度作出处罚决定的执法案件"] == (f"{len(year_cases)}件。", False)
    assert lines["其中重大执法决定"] == (f"{sum(c.major for c in year_cases)}件。", False)
    publicity = figures[(enforcement, "（一）行政执法公示制度")]
    pub_items = year_items(db_session, family=Family.PUBLICITY)
    for label, text in expected_counts(db_session, pub_items).items():
        assert publicity[label] == (text, False), label
    timely = sum(on_time(db_session, i) for i in pub_items)
    due = sum(i.status == ItemStatus.APPROVED or i.due_date < TODAY for i in pub_items)
    assert publicity["公示率（公示事项按时完成比例）"] == (
        f"{timely / due * 100:.1f}%（{timely}/{due}）。",
        False,
    )
    values = [i.value for i in year_items(db_session, code="GS-12")]
    average = sum(values) / len(values)
    assert publicity["各单位上报的行政处罚信息公示率"] == (
        f"{average:.1f}%（2个单位平均）。",
        False,
    )
    review = figures[(enforcement, "（三）重大执法决定法制审核制度")]
    assert review["重大执法决定法制审核"] == ("已完成1项（共2项）。", False)


def test_a_section_without_data_says_so(app, bureau, ledger):
    document = read(signed_in_client(app, bureau.user("leader")).get(DOCX))
    docs = annual_report.SECTIONS[2].title
    text = section_text(document, docs)
    assert "台账中暂无2026年度本部分的数据。" in text
    # Its figures are all left for the author, none invented.
    figures = structure(document)[(docs, None)]
    assert figures and all(highlighted for _, highlighted in figures.values())
    assert all(t.startswith("【待填写：") for t, _ in figures.values())
    # A part without data inside a section with data says so too.
    enforcement = annual_report.SECTIONS[3].title
    recording = section_text(document, enforcement).split("（二）执法全过程记录制度")[1]
    assert recording.split("\n")[1] == "台账中暂无2026年度本部分的数据。"


def test_an_empty_year_has_every_section_marked(app, bureau, ledger):
    document = read(
        signed_in_client(app, bureau.user("admin")).get("/reports/annual-report.docx?year=2024")
    )
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert len(headings) == 5
    for heading in headings:
        assert "台账中暂无2024年度本部分的数据。" in section_text(document, heading)


def test_chinese_fonts_are_set_for_east_asian_text(app, bureau, ledger):
    document = read(signed_in_client(app, bureau.user("admin")).get(DOCX))
    fonts = document.styles["Normal"].element.rPr.rFonts
    assert fonts.get(qn("w:eastAsia")) == "仿宋"
    heading = document.styles["Heading 1"].element.rPr.rFonts
    assert heading.get(qn("w:eastAsia")) == "黑体"
    assert heading.get(qn("w:eastAsiaTheme")) is None


def test_narrative_is_written_stored_audited_and_printed(app, bureau, ledger, db_session):
    admin = signed_in_client(app, bureau.user("admin"))
    url = "/reports/narrative?year=2026"
    form = page(admin.get(url)).select_one("#narrative-form")
    assert form is not None and form.select_one("textarea[name=law_study]") is not None
    text = "我局坚持党委理论学习中心组集体学法制度，全年组织专题学法。\n第二段：以赛代训。"
    response = post_form(
        admin,
        url,
        {"law_study": text, "overview": "2026年，我局全面推进法治建设。"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert any("2" in f for f in flashes(response))
    rows = {
        n.section: n
        for n in db_session.scalars(select(ReportNarrative).where(ReportNarrative.year == 2026))
    }
    assert rows["law_study"].text == text
    assert rows["law_study"].updated_by_id == bureau.user("admin").id
    events = list(
        db_session.scalars(
            select(AuditEvent).where(AuditEvent.action == "report_narrative.updated")
        )
    )
    assert sorted(e.data["section"] for e in events) == ["law_study", "overview"]
    # Saving the same text again changes nothing and records nothing.
    post_form(admin, url, {"law_study": text, "overview": "2026年，我局全面推进法治建设。"})
    assert (
        len(
            list(
                db_session.scalars(
                    select(AuditEvent).where(AuditEvent.action == "report_narrative.updated")
                )
            )
        )
        == 2
    )
    document = read(admin.get(DOCX))
    law = section_text(document, annual_report.SECTIONS[0].title)
    assert "我局坚持党委理论学习中心组集体学法制度，全年组织专题学法。" in law
    assert "第二段：以赛代训。" in law
    assert "2026年，我局全面推进法治建设。" in [p.text for p in document.paragraphs]
    # A section without a narrative is marked for the author.
    duties = section_text(document, annual_report.SECTIONS[1].title)
    assert "【待填写：本部分工作情况综述】" in duties


def test_narrative_needs_csrf_and_an_admin(app, bureau, ledger):
    admin = signed_in_client(app, bureau.user("admin"))
    assert admin.post("/reports/narrative?year=2026", data={"law_study": "x"}).status_code == 400
    for role in ("leader", "inspector", "chief", "staff"):
        client = signed_in_client(app, bureau.user(role))
        assert client.get("/reports/narrative?year=2026").status_code == 403, role
        assert client.post("/reports/narrative?year=2026", data={}).status_code in (400, 403)


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("leader", 200), ("inspector", 403), ("chief", 403), ("staff", 403)],
)
def test_who_may_download_the_annual_report(app, bureau, ledger, role, status):
    assert signed_in_client(app, bureau.user(role)).get(DOCX).status_code == status


def test_cli_report(app, bureau, ledger, tmp_path):
    out = tmp_path / "report.docx"
    result = app.test_cli_runner().invoke(
        args=["tracker", "report", "--year", "2026", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "5 sections" in result.output
    assert "三、加强行政规范性文件制定和监督管理" in result.output  # the section without data
    document = Document(str(out))
    assert [p.text for p in document.paragraphs if p.style.name == "Heading 1"] == [
        s.title for s in annual_report.SECTIONS
    ]
