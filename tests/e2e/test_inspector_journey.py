"""Journey 2: an inspector works the queue: previews evidence, returns one item, approves one."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, PHONE, assert_fits
from tests.e2e.flows import pdf_bytes, png_bytes, simple_item, submit_for_review, upload

pytestmark = pytest.mark.e2e

RETURN_REASON = "照片不清晰，请补充完整的核对记录。"


def _submit_two_items(browser) -> list[int]:
    """The Inspection Brigade's chief submits two items, the second from a phone."""
    page = browser.page
    browser.sign_in("chief.jcdd@demo.example.org")
    browser.goto("/items/?status=open")
    ids = [int(r.get_attribute("data-item-id")) for r in page.locator("#items tbody tr").all()]
    submitted = []
    for name, mime, data in (
        ("执法记录仪使用登记.png", "image/png", png_bytes()),
        ("月度核对表.pdf", "application/pdf", pdf_bytes()),
    ):
        target = simple_item(page, browser.base, [i for i in ids if i not in submitted])
        if submitted:
            page.set_viewport_size(PHONE)
            page.reload()
            assert_fits(page, "item page with the upload form")
        upload(page, [{"name": name, "mimeType": mime, "buffer": data}])
        submit_for_review(page)
        submitted.append(target)
    page.set_viewport_size(DESKTOP)
    browser.context.clear_cookies()
    return submitted


CONFIRMATIONS = {
    "approve": "通过本事项？该结论将记入事项历史，无法撤回。",
    "return": "按您填写的理由，将本事项退回责任单位整改？",
}


def _decide(browser, decision: str, comment: str = "") -> None:
    """Record a decision; the browser asks for confirmation first, in words fit for it."""
    page = browser.page
    page.locator(f'#review-form input[name=decision][value="{decision}"]').check()
    if comment:
        page.fill("#review-comment", comment)
    asked = len(browser.dialogs)
    with page.expect_navigation():
        page.locator("#review-submit").click()
    assert browser.dialogs[asked:] == [CONFIRMATIONS[decision]]


def test_inspector_previews_returns_and_approves(browser):
    page = browser.page
    to_return, to_approve = _submit_two_items(browser)

    browser.sign_in("inspector1@demo.example.org")
    browser.goto("/review/")
    for target in (to_return, to_approve):
        expect(page.locator(f'#queue tr[data-item="{target}"]')).to_be_visible()
    browser.shoot("review-queue")

    # Open the first item from the queue and preview its image.
    with page.expect_navigation():
        page.locator(f'#queue tr[data-item="{to_return}"] a').first.click()
    expect(page.locator("#review-form")).to_be_visible()
    preview = page.locator("[data-evidence-table] [data-preview]").first
    href = preview.get_attribute("href")
    with page.expect_popup() as popup_info:
        preview.click()
    popup = popup_info.value
    popup.wait_for_load_state()
    response = page.request.get(browser.url(href))
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/png")
    assert response.body().startswith(b"\x89PNG")
    popup.close()
    browser.shoot("review-item")

    # Return it with a reason.
    _decide(browser, "return", RETURN_REASON)
    browser.goto(f"/items/{to_return}")
    expect(page.locator("#workflow")).to_have_attribute("data-status", "returned")
    expect(page.locator("#rounds tr[data-decision='return']")).to_contain_text(RETURN_REASON)

    # The second one: preview its PDF, then approve it.
    browser.goto(f"/items/{to_approve}")
    href = page.locator("[data-evidence-table] [data-preview]").first.get_attribute("href")
    response = page.request.get(browser.url(href))
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.body().startswith(b"%PDF")
    _decide(browser, "approve")
    browser.goto(f"/items/{to_approve}")
    expect(page.locator("#workflow")).to_have_attribute("data-status", "approved")

    # Neither is waiting in the queue any more.
    browser.goto("/review/")
    for target in (to_return, to_approve):
        expect(page.locator(f'#queue tr[data-item="{target}"]')).to_have_count(0)
