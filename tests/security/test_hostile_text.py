"""Stored XSS and formula injection: hostile text in every free-text field is shown as text
everywhere it appears (pages, emails, DingTalk markdown, XLSX, CSV, DOCX)."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.factories import T0, make_case, make_item, make_requirement
from tests.helpers import page, post_form
from tests.integration.test_samples_web import get_streamed
from tests.security.world import add_pdf
from tracker.models import Notification, NotificationChannel, Role
from tracker.notify.dingtalk import markdown_text
from tracker.services import comments, evidence, review_settings, reviews, submissions
from tracker.services import reminders as reminder_service
from tracker.services.ledger import safe_text

FORMULA = '=HYPERLINK("http://e.x","x")'


def hostile(tag: str) -> str:
    """Markup that runs script if it reaches a page unescaped; `xss("tag")` marks the field."""
    return f'<script>xss("{tag}")</script><img src=x onerror=xss("{tag}")>'


def marker(tag: str) -> str:
    return f'xss("{tag}")'


def assert_inert(html: str, where: str) -> None:
    """No script or event handler carries a marker: every hostile field was escaped."""
    soup = page_from(html)
    for script in soup.find_all("script"):
        assert "xss(" not in script.get_text(), f"{where}: script injected"
    for element in soup.find_all(True):
        for name, value in element.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            if name.lower().startswith("on") or name.lower() in {"src", "href"}:
                assert "xss(" not in text, f"{where}: <{element.name} {name}> injected"
        assert element.name not in {"img"} or element.get("src") != "x", f"{where}: img injected"


def page_from(html: str):
    class _Response:
        def get_data(self, as_text: bool = False):
            return html

    return page(_Response())


@pytest.fixture
def hostile_bureau(db_session, bureau, clock):
    """Hostile text in unit and person names, the catalogue, an item's evidence, comments,
    submission note, return reason, a case, a return-reason template."""
    chief, staff = bureau.user(Role.CHIEF), bureau.user(Role.STAFF)
    inspector = bureau.user(Role.INSPECTOR)
    bureau.section.name = hostile("unit")
    bureau.section.name_en = hostile("unit")
    chief.name = hostile("chief")[:100]
    staff.name = "<b>" + hostile("staff")[:90]
    requirement = make_requirement(
        db_session,
        cadence="annual",
        owners=[bureau.section.code],
        title_zh=FORMULA + '<script>xss("title")</script>',  # 60 characters at most
        title_en=FORMULA + hostile("title"),
        description_zh=hostile("description"),
        description_en=hostile("description"),
        legal_basis=hostile("basis"),
        evidence_hint_zh=hostile("hint"),
        evidence_hint_en=hostile("hint"),
    )
    item = make_item(db_session, unit=bureau.section, requirement=requirement)
    item.assignee_id = staff.id
    add_pdf(db_session, item, chief, name='<img src=x onerror=xss("file")>.pdf')
    evidence.add_link(
        db_session,
        actor=chief,
        item=item,
        url="https://example.org/notice",
        title=hostile("linktitle"),
        note=hostile("note"),
        occurred_on=None,
        now=T0,
    )
    comments.add_comment(db_session, actor=staff, item=item, body=hostile("comment"), now=T0)
    submissions.submit(db_session, actor=chief, item=item, note=hostile("subnote"), now=T0)
    reviews.decide(
        db_session,
        actor=inspector,
        item=item,
        decision="return",
        comment=hostile("return"),
        now=T0,
    )
    make_case(
        db_session,
        unit=bureau.section,
        decided_on=date(2026, 10, 9),
        case_no="=1+2<i>c</i>",
        party=hostile("party"),
    )
    review_settings.create_template(
        db_session,
        actor=bureau.user(Role.ADMIN),
        text_zh=hostile("reason"),
        text_en=hostile("reason"),
        now=T0,
    )
    db_session.commit()
    return item


PAGES = (
    "/items/{item}",
    "/items/",
    "/items/?q=xss",
    "/cases/",
    "/cases/{case}",
    "/admin/units",
    "/admin/users",
    "/admin/requirements",
    "/admin/requirements/{requirement}",
    "/admin/reasons",
    "/audit/",
    "/dashboard/",
    "/dashboard/deadlines",
    "/dashboard/scores",
    "/reports/",
    "/review/",
    "/account/tokens",
)
# Each field must be shown somewhere (as text), or the check above would prove nothing.
SHOWN = (
    "unit",
    "chief",
    "staff",
    "title",
    "description",
    "basis",
    "linktitle",
    "note",
    "comment",
    "subnote",
    "return",
    "party",
    "reason",
    "file",
)


def test_hostile_text_is_escaped_on_every_page(app, db_session, bureau, hostile_bureau):
    from tracker.models import Case

    item = hostile_bureau
    case = db_session.scalar(select(Case).where(Case.case_no == "=1+2<i>c</i>"))
    values = {"item": item.id, "case": case.id, "requirement": item.requirement_id}
    shown = ""
    for role in (Role.ADMIN, Role.CHIEF, Role.INSPECTOR):
        client = signed_in_client(app, bureau.user(role))
        for path in PAGES:
            url = path.format(**values)
            response = client.get(url)
            if response.status_code == 403:
                continue
            assert response.status_code == 200, (role, url)
            html = response.get_data(as_text=True)
            assert_inert(html, f"{role} {url}")
            shown += page(response).get_text(" ")
    missing = [tag for tag in SHOWN if marker(tag) not in shown]
    assert missing == []


def test_hostile_text_in_the_reminder_email_and_the_dingtalk_digest(
    app, db_session, bureau, hostile_bureau
):
    item = hostile_bureau
    item.status = "open"
    item.due_date = date(2026, 11, 4)
    bureau.section.dingtalk_webhook = "https://oapi.dingtalk.com/robot/send?access_token=t"
    db_session.commit()
    day = datetime(2026, 11, 4, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    reminder_service.run_reminder_pass(db_session, now=day)
    db_session.commit()
    messages = list(db_session.scalars(select(Notification)))
    emails = [m for m in messages if m.channel == NotificationChannel.EMAIL]
    robots = [m for m in messages if m.channel == NotificationChannel.DINGTALK]
    assert emails and robots
    for message in emails:
        assert_inert(message.body_html, f"email to {message.address}")
        assert marker("title") in page_from(message.body_html).get_text()
    (robot,) = robots
    body = robot.body_text
    # The title is one escaped line: no link, image, HTML or heading of its own.
    assert '\\<script\\>xss\\("title"\\)' in body and "\\<img src=x onerror=xss" in body
    # Every <, [ and ! of the data escaped; the only link is the app's own, to the item.
    data = re.sub(r"^- \[|\]\(http://[^ )]+/items/\d+\)", "", body, flags=re.MULTILINE)
    assert re.search(r"(?<!\\)[<\[!]", data) is None
    assert "\n#" not in body.replace("\n### ", "").replace("\n#### ", "")
    # The admin's outbox page shows both parts inert.
    admin = signed_in_client(app, bureau.user(Role.ADMIN))
    for message in messages:
        response = admin.get(f"/admin/outbox/{message.id}")
        assert response.status_code == 200
        assert_inert(response.get_data(as_text=True), f"outbox {message.id}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[点我](http://evil.example/)", "\\[点我\\]\\(http://evil.example/\\)"),
        ("![x](http://evil.example/a.png)", "\\!\\[x\\]\\(http://evil.example/a.png\\)"),
        ('<font color="red">x</font>', '\\<font color="red"\\>x\\</font\\>'),
        ("标题\n### 假标题\n- 假条目", "标题 \\#\\#\\# 假标题 - 假条目"),
        ("**粗** _斜_ ~~删~~ `码` > 引", "\\*\\*粗\\*\\* \\_斜\\_ \\~\\~删\\~\\~ \\`码\\` \\> 引"),
    ],
)
def test_markdown_text_makes_data_inert(text, expected):
    assert markdown_text(text) == expected


def test_the_ledger_neutralises_formulas_in_xlsx_and_csv(app, db_session, bureau, hostile_bureau):
    admin = signed_in_client(app, bureau.user(Role.ADMIN))
    response, _streamed, body = get_streamed(admin, "/reports/ledger.xlsx?year=2026")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(body))
    texts = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    if cell.value.startswith(("=", "+", "-", "@")):
                        assert cell.quotePrefix, f"{sheet.title}!{cell.coordinate}"
    assert any(t.startswith(FORMULA) for t in texts)  # kept as the text it is
    response, _streamed, body = get_streamed(admin, "/reports/ledger.csv?year=2026")
    assert response.status_code == 200
    rows = body.decode("utf-8-sig").splitlines()
    assert any("'" + FORMULA.replace('"', '""') in row for row in rows)
    for row in rows[1:]:
        for cell in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', row):
            assert not cell.strip('"').startswith(("=", "+", "@")), row


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("-2", "-2"),  # a plain number is read as the number
        ("-2.5", "-2.5"),
        ("-1+2", "'-1+2"),
        ("+86 571", "'+86 571"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("正常文字", "正常文字"),
        ("a=1", "a=1"),
        ("x\x0by\x00", "xy"),
    ],
)
def test_safe_text(value, expected):
    assert safe_text(value) == expected


def test_the_annual_report_holds_hostile_and_control_characters_as_text(
    app, db_session, bureau, hostile_bureau
):
    admin = signed_in_client(app, bureau.user(Role.ADMIN))
    bureau.root.name = hostile("bureau") + "\x0b"
    db_session.commit()
    response = post_form(
        admin,
        "/reports/narrative?year=2026",
        {"year": "2026", "overview": hostile("narrative") + "\x0c\x01 第二段"},
    )
    assert response.status_code in (200, 302, 303)
    response, _streamed, body = get_streamed(admin, "/reports/annual-report.docx?year=2026")
    assert response.status_code == 200
    document = Document(io.BytesIO(body))
    text = "\n".join(p.text for p in document.paragraphs)
    assert marker("bureau") in text
    assert "<script>" in text  # as characters of the text, not markup of the file


def test_control_characters_in_names_do_not_break_the_ledger_export(app, db_session, bureau, clock):
    make_item(db_session, unit=bureau.section)
    bureau.section.name = "食品\x0b安全\x01科"  # pasted from a word processor
    bureau.user(Role.STAFF).name = "经办\x08人"
    db_session.commit()
    admin = signed_in_client(app, bureau.user(Role.ADMIN))
    response, _streamed, body = get_streamed(admin, "/reports/ledger.xlsx?year=2026")
    assert response.status_code == 200
    cells = [
        cell.value
        for sheet in load_workbook(io.BytesIO(body)).worksheets
        for row in sheet.iter_rows()
        for cell in row
    ]
    assert "食品安全科" in cells


def _csv_cells(text: str) -> list[str]:
    import csv

    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_scores_and_package_manifests_neutralise_formulas(app, db_session, bureau, clock):
    import zipfile

    bureau.section.name = '=HYPERLINK("http://e.x","科")'
    item = make_item(db_session, unit=bureau.section)
    add_pdf(db_session, item, bureau.user(Role.CHIEF), name="=1+2.pdf")
    submissions.submit(db_session, actor=bureau.user(Role.CHIEF), item=item, note=None, now=T0)
    db_session.commit()
    admin = signed_in_client(app, bureau.user(Role.ADMIN))
    response, _streamed, body = get_streamed(admin, "/dashboard/scores.csv?year=2026")
    assert response.status_code == 200
    cells = _csv_cells(body.decode("utf-8-sig"))
    assert "'" + bureau.section.name in cells
    assert not any(c.startswith(("=", "@")) for c in cells)
    inspector = signed_in_client(app, bureau.user(Role.INSPECTOR))
    response, _streamed, body = get_streamed(
        inspector, f"/review/package.zip?unit={bureau.section.id}"
    )
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        manifest = archive.read("manifest.csv").decode("utf-8-sig")
        cells = _csv_cells(manifest)
        assert "'=1+2.pdf" in cells  # (units appear by code in the manifest)
        assert not any(c.startswith(("=", "@", "+")) for c in cells)
        assert all(not n.startswith(("/", "..")) and ".." not in n for n in archive.namelist())
