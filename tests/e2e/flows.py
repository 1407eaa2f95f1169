"""Steps shared by the browser journeys: evidence files, uploading, submitting."""

from __future__ import annotations

import struct
import zlib

from playwright.sync_api import expect

from tracker.services.demo_progress import demo_pdf


def png_bytes(width: int = 8, height: int = 8) -> bytes:
    """A small valid PNG (solid red)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\xcc\x22\x22" * width
    raw = zlib.compress(row * height)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def pdf_bytes(text: str = "e2e evidence") -> bytes:
    """A one-page PDF with a correct cross-reference table (the demo data's own maker)."""
    return demo_pdf(text)


def upload(page, files: list[dict]) -> None:
    """Choose files with the item page's file input and upload them.

    The page's script sends the form itself, to show the upload's progress: the request must be
    an XMLHttpRequest, and its answer replaces the page.
    """
    chooser = page.locator("form[data-upload-form] input[type=file]")
    chooser.set_input_files(files)
    with page.expect_request(
        lambda request: request.method == "POST" and request.url.endswith("/evidence")
    ) as posted:
        page.locator("form[data-upload-form] [type=submit]").click()
    assert posted.value.resource_type == "xhr", posted.value.resource_type
    for item in files:
        expect(page.locator("[data-evidence-table]")).to_contain_text(item["name"])


def submit_for_review(page, note: str = "") -> None:
    """Submit the open item page for review (the browser's confirmation is accepted)."""
    if note:
        page.fill("#submit-note", note)
    with page.expect_navigation():
        page.locator("#submit-submit").click()
    expect(page.locator("#workflow")).to_have_attribute("data-status", "submitted")


def simple_item(page, base: str, item_ids: list[int]) -> int:
    """The first item among these whose evidence is plain files (no date, no value to record)."""
    for candidate in item_ids:
        page.goto(f"{base}/items/{candidate}")
        form = page.locator("form[data-upload-form]")
        if (
            form.count()
            and not form.locator("[name=occurred_on]").count()
            and not page.locator("[data-value-form]").count()
            and page.locator("#submit-form").count()
        ):
            return candidate
    raise AssertionError(f"no plain-evidence item among {item_ids}")


def item_id(page) -> int:
    return int(page.url.split("?")[0].rstrip("/").rsplit("/", 1)[1])
