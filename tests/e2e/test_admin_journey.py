"""Journey 3: an admin loads next year's holidays, checks the outbox and dashboard, exports."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

HOLIDAYS_2027 = (
    "date,kind,name\n"
    "2027-01-01,rest,元旦\n"
    "2027-02-06,rest,春节\n"
    "2027-02-07,rest,春节\n"
    "2027-02-08,rest,春节\n"
    "2027-02-09,rest,春节\n"
    "2027-02-10,rest,春节\n"
    "2027-02-11,rest,春节\n"
    "2027-02-12,rest,春节\n"
    "2027-02-13,workday,春节调休\n"
)


def test_admin_imports_holidays_checks_outbox_dashboard_and_exports(browser):
    page = browser.page
    browser.sign_in("admin@demo.example.org")

    browser.goto("/admin/calendar?year=2027")
    expect(page.locator("#covered-years")).not_to_contain_text("2027")
    warning = page.locator("#calendar-warning")
    expect(warning).to_contain_text("2027")  # next year's arrangement is missing
    browser.shoot("calendar-before")

    page.locator("#import-form input[type=file]").set_input_files(
        {"name": "2027.csv", "mimeType": "text/csv", "buffer": HOLIDAYS_2027.encode()}
    )
    with page.expect_navigation():
        page.locator("#import-form [type=submit]").click()
    expect(page.locator("#import-errors")).to_have_count(0)
    expect(page.locator("#covered-years tbody")).to_contain_text("2027")
    # 2027 is no longer reported missing; no deadline stays provisional because of it.
    if warning.count():
        expect(warning).not_to_contain_text("2027")
    expect(page.locator("#special-days")).to_contain_text("元旦")
    browser.shoot("calendar-after")

    browser.goto("/admin/outbox")
    expect(page.locator("h1")).to_be_visible()
    browser.shoot("outbox")

    browser.goto("/dashboard/")
    expect(page.locator("h1")).to_be_visible()
    browser.shoot("dashboard")

    browser.goto("/items/")
    with page.expect_download() as download_info:
        page.locator("#export-links a", has_text="XLSX").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    # The link showed that the file was being prepared, until the download began.
    expect(page.locator("#export-status")).to_have_text("下载已开始。")
    expect(page.locator("#export-links a[aria-busy]")).to_have_count(0)
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"PK")
    with zipfile.ZipFile(io.BytesIO(data)) as workbook:
        assert "xl/workbook.xml" in workbook.namelist()
