"""Journey 1: a section chief works through an overdue item, from the checklist to submission."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.flows import (
    item_id,
    pdf_bytes,
    png_bytes,
    simple_item,
    submit_for_review,
    upload,
)

pytestmark = pytest.mark.e2e

STAFF_NAME = "陈静"  # staff.fgk@demo.example.org


def test_chief_filters_overdue_assigns_uploads_and_submits(browser):
    page = browser.page
    browser.sign_in("chief.fgk@demo.example.org")

    browser.goto("/items/")
    expect(page.locator("h1")).to_have_text("我的清单")
    browser.shoot("checklist")

    # The keyboard reaches everything, with a visible focus: the first Tab offers the skip link.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return [e.textContent.trim(), e.getAttribute('href'), s.outlineStyle, s.outlineWidth]; }"
    )
    assert focused[:2] == ["跳到正文", "#main"] and focused[2] != "none", focused
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")

    # Filter to overdue items with the filter form.
    page.select_option("#status", "overdue")
    with page.expect_navigation():
        page.locator("#filters [type=submit]").click()
    assert "status=overdue" in page.url
    expect(page.locator('#status-counts a[data-count="overdue"]')).to_have_class("nav-link active")
    rows = page.locator("#items tbody tr")
    assert rows.count() > 0, "the demo bureau has overdue items"
    for row in rows.all()[:10]:
        expect(row).to_contain_text("逾期")

    # Pick one whose evidence is plain files, then assign it to the unit's officer with the
    # bulk-assign form of the filtered list.
    filtered = page.url
    ids = [int(r.get_attribute("data-item-id")) for r in rows.all()]
    target = simple_item(page, browser.base, ids)
    page.goto(filtered)
    row = page.locator(f'#items tr[data-item-id="{target}"]')
    row.locator("input[type=checkbox]").check()
    page.select_option("#bulk-assign select", label=f"{STAFF_NAME} · 法规科")
    with page.expect_navigation():
        page.locator("#bulk-assign [type=submit]").click()
    assigned = page.locator(f'#items tr[data-item-id="{target}"] td[data-assignee]')
    expect(assigned).to_have_text(STAFF_NAME)

    # Open it, upload two files through the file chooser, submit.
    with page.expect_navigation():
        page.locator(f'#items tr[data-item-id="{target}"] td a').first.click()
    assert item_id(page) == target
    expect(page.locator("#assign-form select option:checked")).to_have_text(STAFF_NAME)
    upload(
        page,
        [
            {"name": "核对记录.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes()},
            {"name": "现场照片.png", "mimeType": "image/png", "buffer": png_bytes()},
        ],
    )
    expect(page.locator("[data-evidence-table] tbody tr")).to_have_count(2)
    browser.shoot("item")
    submit_for_review(page, note="两份佐证材料已上传")
    assert browser.dialogs == ["提交本事项送审？督查员作出决定前，其佐证材料将被冻结。"]
    expect(page.locator("[data-awaiting-review]")).to_be_visible()
    expect(page.locator("#rounds tr[data-round='1']")).to_contain_text("两份佐证材料已上传")
    browser.shoot("item-submitted")

    # Back on the checklist, the item now counts as submitted.
    browser.goto("/items/?status=submitted")
    expect(page.locator(f'#items tr[data-item-id="{target}"]')).to_be_visible()
