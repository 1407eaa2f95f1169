"""Conventions every page keeps: no inline code (the CSP forbids it), a title that says where
you are, confirmation before irreversible actions, empty states that say what to do next, and
the signal that ends an export's "preparing" notice."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.factories import make_item, seed_official_holidays
from tests.helpers import page
from tests.integration.test_ledger_export import get_streamed
from tests.integration.test_submissions import add_evidence
from tracker.config import PROJECT_ROOT
from tracker.services import submissions

TEMPLATES = PROJECT_ROOT / "templates"
# Emails are read in mail clients, where inline styles are the only styles there are.
PAGE_TEMPLATES = sorted(
    p for p in TEMPLATES.rglob("*.html") if p.relative_to(TEMPLATES).parts[0] != "email"
)
INLINE_CODE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle=", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: link": re.compile(r"javascript:", re.I),
}


@pytest.mark.parametrize("template", PAGE_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_page_templates_carry_no_inline_code(template: Path):
    text = template.read_text(encoding="utf-8")
    found = [name for name, pattern in INLINE_CODE.items() if pattern.search(text)]
    assert not found, f"{template.relative_to(TEMPLATES)}: {found}"


def test_every_page_template_names_its_page():
    untitled = []
    for template in PAGE_TEMPLATES:
        text = template.read_text(encoding="utf-8")
        if '{% extends "base.html" %}' not in text:
            continue
        title = re.search(r"{% block title %}(.*?){% endblock %}", text, re.S)
        if title is None or not title.group(1).strip():
            untitled.append(str(template.relative_to(TEMPLATES)))
    assert not untitled


def test_titles_say_where_you_are(admin_client):
    titles = {}
    urls = ["/items/", "/dashboard/", "/cases/", "/reports/", "/review/", "/audit/"]
    for url in [*urls, "/admin/users", "/admin/outbox", "/dashboard/deadlines"]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        titles[url] = page(response).title.get_text(strip=True)
    assert all(t.endswith(" · 合规台账") and len(t) > len(" · 合规台账") for t in titles.values())
    assert len(set(titles.values())) == len(titles), titles


@pytest.fixture
def submitted_item(db_session, bureau, clock):
    seed_official_holidays(db_session)
    item = make_item(db_session, unit=bureau.section)
    add_evidence(db_session, item, bureau.user("chief"))
    submissions.submit(
        db_session, actor=bureau.user("chief"), item=item, now=datetime(2026, 11, 2, tzinfo=UTC)
    )
    db_session.flush()
    return item


def test_submitting_asks_for_confirmation(chief_client, db_session, bureau):
    item = make_item(db_session, unit=bureau.section)
    form = page(chief_client.get(f"/items/{item.id}")).select_one("#submit-form")
    assert "督查员作出决定前" in form["data-confirm"]


def test_each_decision_asks_in_its_own_words(inspector_client, submitted_item):
    html = page(inspector_client.get(f"/items/{submitted_item.id}"))
    radios = {
        r["value"]: r["data-confirm"] for r in html.select("#review-form input[name=decision]")
    }
    assert radios["approve"].startswith("通过本事项？")
    assert radios["return"].startswith("按您填写的理由，将本事项退回")
    withdraw = html.select("form[data-withdraw-form]")
    assert all(f.get("data-confirm") for f in withdraw)


def test_empty_lists_say_what_to_do_next(chief_client, inspector_client, db_session, bureau):
    make_item(db_session, unit=bureau.section)
    no_match = page(chief_client.get("/items/?q=no-such-requirement"))
    empty = no_match.select_one("#no-items[data-empty-state]")
    assert "没有符合筛选条件的事项" in empty.get_text()
    assert empty.select_one("[data-clear-filters]")["href"] == "/items/"

    queue = page(inspector_client.get("/review/"))
    empty = queue.select_one("#queue-empty")
    assert "没有待审核的事项" in empty.get_text()
    assert "菜单中“审核队列”旁的数字" in empty.select_one("[data-next-step]").get_text()
    assert empty.select_one("[data-clear-filters]") is None  # nothing to clear


def test_an_export_answers_its_download_token(leader_client):
    url = "/reports/ledger.csv?year=2026&download_token=1732871234123456"
    response = get_streamed(leader_client, url)[0]
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    cookie = response.headers.get("Set-Cookie", "")
    assert cookie.startswith("tracker_download=1732871234123456;")
    assert "HttpOnly" not in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("token", ["", "abc", "1;evil=1", "9" * 40])
def test_only_plain_tokens_on_attachments_are_echoed(leader_client, token):
    export = get_streamed(leader_client, f"/reports/ledger.csv?year=2026&download_token={token}")[0]
    assert "tracker_download" not in export.headers.get("Set-Cookie", "")
    page_response = leader_client.get("/reports/?download_token=123")
    assert "tracker_download" not in page_response.headers.get("Set-Cookie", "")
