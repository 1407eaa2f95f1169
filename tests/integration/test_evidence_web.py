"""Evidence on the item page: upload, links, values, withdrawal, download and preview, per role."""

from __future__ import annotations

import hashlib
import io
from datetime import date
from urllib.parse import quote

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.conftest import signed_in_client
from tests.factories import T0, make_item, make_requirement
from tests.helpers import CJK, count_statements, csrf_token, page, post_form
from tests.unit.test_filetypes import docx_bytes, pdf_bytes, png_bytes
from tracker.models import AuditEvent, Blob, Evidence, ItemStatus, Role
from tracker.services import evidence as service
from tracker.storage import LocalBlobStorage

MIB = 1 << 20
FORM_PAGE = "/account/password"  # any page of every signed-in user carries the CSRF token
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"PE\x00\x00" + b"\x00" * 4000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def station_item(db_session, bureau, clock):
    made = make_item(db_session, unit=bureau.station)
    db_session.commit()
    return made


def multipart(token: str, files: tuple[tuple[bytes, str], ...], fields: dict) -> dict:
    """A multipart body encoded in memory (the test client spools large ones to a temporary
    file it never closes)."""
    values = MultiDict({"csrf_token": token, **fields})
    for data, name in files:
        values.add("files", FileStorage(io.BytesIO(data), filename=name))
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def upload(client, item_id: int, *files: tuple[bytes, str], **fields):
    return client.post(
        f"/items/{item_id}/evidence", **multipart(csrf_token(client, FORM_PAGE), files, fields)
    )


def post(client, url: str, data: dict | None = None):
    return post_form(client, url, data or {}, form_url=FORM_PAGE)


def status(client, url: str) -> int:
    """GET and close: a download response holds the blob open until it is closed."""
    with client.get(url) as response:
        return response.status_code


def evidence_rows(db_session) -> list[Evidence]:
    db_session.expire_all()
    return list(db_session.scalars(select(Evidence).order_by(Evidence.id)))


def stored_evidence(db_session, storage, actor, item, data=None, name="记录.pdf", **kwargs):
    (evidence,) = service.add_files(
        db_session,
        actor=actor,
        item=item,
        files=[(io.BytesIO(data or pdf_bytes()), name)],
        storage=storage,
        max_bytes=10 * MIB,
        now=T0,
        **kwargs,
    )
    db_session.commit()
    return evidence


def assert_nothing_left(db_session, storage: LocalBlobStorage) -> None:
    assert evidence_rows(db_session) == []
    assert db_session.scalar(select(func.count()).select_from(Blob)) == 0
    assert list(storage.iter_hashes()) == []
    assert storage.temp_files() == []
    # Nothing else either: only the (empty) temporary folder may exist under the root.
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []


def english(db_session, user) -> None:
    user.locale = "en"
    db_session.commit()


# ---------------------------------------------------------------- roles


def test_chief_uploads_to_his_units_items(chief_client, db_session, blobs, item):
    data = pdf_bytes()
    response = upload(chief_client, item.id, (data, "整改报告.pdf"), note="第一批")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/items/{item.id}#evidence")
    (evidence,) = evidence_rows(db_session)
    assert evidence.item_id == item.id and evidence.note == "第一批"
    assert evidence.blob_sha256 == sha(data) == blobs.hash_of(sha(data))
    soup = page(chief_client.get(f"/items/{item.id}"))
    row = soup.select_one(f"[data-evidence-table] [data-evidence-id='{evidence.id}']")
    assert row.select_one("[data-evidence-name]").get_text(strip=True) == "整改报告.pdf"
    assert row.select_one("[data-sha256]")["data-sha256"] == sha(data)
    assert row.select_one("[data-download]")["href"] == f"/items/evidence/{evidence.id}/download"
    assert row.select_one("[data-preview]")["href"] == f"/items/evidence/{evidence.id}/preview"
    assert row.select_one("[data-withdraw-form]")
    form = soup.select_one("form[data-upload-form]")
    assert form["enctype"] == "multipart/form-data" and form.select_one("input[name=csrf_token]")
    files = form.select_one("input[type=file][name=files]")
    assert files.has_attr("multiple")
    script = soup.select_one("script[src$='js/evidence-drop.js']")
    assert status(chief_client, script["src"]) == 200  # served by the app: works offline


def test_another_units_item_and_evidence_are_404_whatever_the_id(
    app, db_session, bureau, blobs, item, station_item
):
    evidence = stored_evidence(db_session, blobs, bureau.user(Role.CHIEF), item)
    other = signed_in_client(app, bureau.users["other_chief"])
    assert upload(other, item.id, (png_bytes(), "x.png")).status_code == 404
    assert post(other, f"/items/{item.id}/links", {"url": "https://a.cn"}).status_code == 404
    assert post(other, f"/items/{item.id}/value", {"value": "1"}).status_code == 404
    for action in ("download", "preview"):
        assert status(other, f"/items/evidence/{evidence.id}/{action}") == 404
        assert status(other, f"/items/evidence/999999/{action}") == 404
    assert post(other, f"/items/evidence/{evidence.id}/withdraw").status_code == 404
    assert post(other, "/items/evidence/999999/withdraw").status_code == 404
    assert upload(other, 999999, (png_bytes(), "x.png")).status_code == 404
    # Staff see their own unit only.
    staff = signed_in_client(app, bureau.user(Role.STAFF))
    assert upload(staff, station_item.id, (png_bytes(), "x.png")).status_code == 404
    assert len(evidence_rows(db_session)) == 1 and list(blobs.iter_hashes()) == [
        evidence.blob_sha256
    ]
    assert db_session.get(Evidence, evidence.id).withdrawn_at is None


def test_staff_work_only_the_items_assigned_to_them(staff_client, db_session, bureau, blobs, item):
    assert upload(staff_client, item.id, (pdf_bytes(), "a.pdf")).status_code == 403
    assert post(staff_client, f"/items/{item.id}/links", {"url": "https://a.cn"}).status_code == 403
    assert not page(staff_client.get(f"/items/{item.id}")).select("form[data-upload-form]")
    assert evidence_rows(db_session) == [] and list(blobs.iter_hashes()) == []
    item.assignee_id = bureau.user(Role.STAFF).id
    db_session.commit()
    assert upload(staff_client, item.id, (pdf_bytes(), "a.pdf")).status_code == 303
    assert page(staff_client.get(f"/items/{item.id}")).select("form[data-upload-form]")


@pytest.mark.parametrize("role", [Role.LEADER, Role.INSPECTOR])
def test_leaders_and_inspectors_read_but_do_not_upload(app, db_session, bureau, blobs, item, role):
    data = pdf_bytes()
    evidence = stored_evidence(db_session, blobs, bureau.user(Role.CHIEF), item, data)
    client = signed_in_client(app, bureau.user(role))
    assert upload(client, item.id, (png_bytes(), "x.png")).status_code == 403
    assert post(client, f"/items/{item.id}/links", {"url": "https://a.cn"}).status_code == 403
    assert post(client, f"/items/evidence/{evidence.id}/withdraw").status_code == 403
    response = client.get(f"/items/evidence/{evidence.id}/download")
    assert response.status_code == 200 and response.get_data() == data
    soup = page(client.get(f"/items/{item.id}"))
    assert soup.select_one(f"[data-evidence-id='{evidence.id}'] [data-download]")
    assert not soup.select("form[data-upload-form], form[data-link-form], [data-withdraw]")
    assert len(evidence_rows(db_session)) == 1


# ---------------------------------------------------------------- uploads


def test_the_same_file_twice_is_stored_once(chief_client, db_session, blobs, item):
    data = png_bytes()
    assert upload(chief_client, item.id, (data, "现场照片.png")).status_code == 303
    assert upload(chief_client, item.id, (data, "现场照片(1).png")).status_code == 303
    rows = evidence_rows(db_session)
    assert len(rows) == 2 and {r.blob_sha256 for r in rows} == {sha(data)}
    assert db_session.scalar(select(func.count()).select_from(Blob)) == 1
    assert list(blobs.iter_hashes()) == [sha(data)]
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.added"))
    assert [e.data["sha256"] for e in events] == [sha(data), sha(data)]


def test_several_files_in_one_upload(chief_client, db_session, blobs, item):
    response = upload(chief_client, item.id, (pdf_bytes(), "a.pdf"), (png_bytes(), "b.png"))
    assert response.status_code == 303
    assert [e.original_filename for e in evidence_rows(db_session)] == ["a.pdf", "b.png"]


@pytest.mark.parametrize(
    ("data", "name"),
    [(EXE, "通知.pdf"), (b"", "空文件.pdf"), (b"<svg onload=alert(1)>", "图.txt")],
    ids=["exe-renamed-pdf", "empty", "markup"],
)
def test_refused_files_leave_nothing(chief_client, db_session, bureau, blobs, item, data, name):
    english(db_session, bureau.user(Role.CHIEF))
    # A good file first: the whole request is refused, the good file's blob included.
    response = upload(chief_client, item.id, (pdf_bytes(), "good.pdf"), (data, name))
    assert response.status_code == 400
    error = page(response).select_one("[data-evidence-error]")
    assert error is not None and name in error.get_text()
    assert "refused" in error.get_text() or "empty" in error.get_text()
    assert_nothing_left(db_session, blobs)


def test_a_file_over_the_limit_is_413(
    app, chief_client, db_session, bureau, blobs, item, monkeypatch
):
    monkeypatch.setitem(app.config, "TRACKER_MAX_UPLOAD_MB", 1)
    english(db_session, bureau.user(Role.CHIEF))
    response = upload(chief_client, item.id, (b"a" * (2 * MIB), "大文件.txt"))
    assert response.status_code == 413
    error = page(response).select_one("[data-evidence-error]").get_text()
    assert "大文件.txt" in error and "too large" in error and "1 MB" in error
    assert_nothing_left(db_session, blobs)


def test_a_request_over_the_request_limit_is_413_with_an_explanation(
    app, chief_client, db_session, bureau, blobs, item, monkeypatch
):
    english(db_session, bureau.user(Role.CHIEF))
    body = multipart(csrf_token(chief_client, FORM_PAGE), ((b"a" * (2 * MIB), "big.txt"),), {})
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", MIB)
    response = chief_client.post(f"/items/{item.id}/evidence", **body)
    assert response.status_code == 413
    text = page(response).select_one("main").get_text(" ", strip=True)
    assert "1 MB" in text and "10 files" in text and "100 MB" in text
    assert_nothing_left(db_session, blobs)


def test_a_path_in_the_file_name_is_dropped(chief_client, db_session, blobs, item):
    response = upload(chief_client, item.id, (b"root:x:0:0:root\n", "../../etc/passwd.txt"))
    assert response.status_code == 303
    (evidence,) = evidence_rows(db_session)
    assert evidence.original_filename == evidence.safe_filename == "passwd.txt"
    # Without an extension the plain text is refused: its name cannot say what it is.
    response = upload(chief_client, item.id, (b"root:x:0:0:root\n", "../../etc/passwd"))
    assert response.status_code == 400
    assert len(evidence_rows(db_session)) == 1
    stored = [p for p in blobs.root.rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [evidence.blob_sha256]
    assert all(".." not in str(p.relative_to(blobs.root)) for p in stored)


def test_count_items_take_a_date_and_show_progress(chief_client, db_session, bureau, blobs, clock):
    requirement = make_requirement(
        db_session, cadence="annual", kind="count", target_count=2, owners=["SEC"]
    )
    item = make_item(db_session, unit=bureau.section, requirement=requirement)
    db_session.commit()
    response = upload(chief_client, item.id, (pdf_bytes(), "纪要.pdf"))
    assert response.status_code == 400
    assert page(response).select_one("#evidence-occurred-on.is-invalid")
    assert_nothing_left(db_session, blobs)
    response = upload(chief_client, item.id, (pdf_bytes(), "纪要.pdf"), occurred_on="2026-03-10")
    assert response.status_code == 303
    soup = page(chief_client.get(f"/items/{item.id}"))
    progress = soup.select_one("[data-count-progress]")
    assert "1 / 2" in progress.get_text() and progress["data-done"] == "1"
    assert soup.select_one("[data-occurred-on]")["data-occurred-on"] == "2026-03-10"
    assert evidence_rows(db_session)[0].occurred_on == date(2026, 3, 10)


# ---------------------------------------------------------------- links and values


def test_links(chief_client, db_session, item):
    response = post(
        chief_client,
        f"/items/{item.id}/links",
        {"url": "https://www.gsxt.gov.cn/notice/1", "title": "公示页面", "note": ""},
    )
    assert response.status_code == 303
    (link,) = evidence_rows(db_session)
    assert link.url == "https://www.gsxt.gov.cn/notice/1" and link.title == "公示页面"
    row = page(chief_client.get(f"/items/{item.id}")).select_one(f"[data-evidence-id='{link.id}']")
    anchor = row.select_one("a[data-evidence-url]")
    assert anchor["href"] == link.url and "noopener" in anchor["rel"]
    assert not row.select("[data-download], [data-preview]")
    assert status(chief_client, f"/items/evidence/{link.id}/download") == 404
    response = post(chief_client, f"/items/{item.id}/links", {"url": "javascript:alert(1)"})
    assert response.status_code == 400
    assert page(response).select_one("#link-url.is-invalid")
    assert len(evidence_rows(db_session)) == 1


def test_indicator_value(chief_client, db_session, bureau, clock):
    requirement = make_requirement(
        db_session,
        cadence="annual",
        kind="indicator",
        target_value=90,
        target_op=">=",
        target_unit="%",
        owners=["SEC"],
    )
    item = make_item(db_session, unit=bureau.section, requirement=requirement)
    db_session.commit()
    assert post(chief_client, f"/items/{item.id}/value", {"value": "95.5"}).status_code == 303
    db_session.expire_all()
    assert str(item.value.normalize()) == "95.5"
    soup = page(chief_client.get(f"/items/{item.id}"))
    indicator = soup.select_one("[data-indicator]")
    assert indicator["data-value"] == "95.5" and indicator["data-target"] == "90"
    assert indicator.select_one("[data-indicator-met]")
    assert soup.select_one("#indicator-value")["value"] == "95.5"
    assert post(chief_client, f"/items/{item.id}/value", {"value": "很多"}).status_code == 400


# ---------------------------------------------------------------- withdrawal


def test_withdrawal_before_submission(chief_client, db_session, bureau, blobs, item):
    evidence = stored_evidence(db_session, blobs, bureau.user(Role.CHIEF), item)
    response = post(chief_client, f"/items/evidence/{evidence.id}/withdraw")
    assert response.status_code == 303
    (row,) = evidence_rows(db_session)
    assert row.withdrawn_at is not None and row.withdrawn_by_id == bureau.user(Role.CHIEF).id
    assert blobs.exists(row.blob_sha256)  # never deleted
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.withdrawn"))
    assert event.data["sha256"] == row.blob_sha256
    soup = page(chief_client.get(f"/items/{item.id}"))
    assert soup.select_one("[data-no-evidence]")
    withdrawn = soup.select_one("[data-withdrawn-section] [data-withdrawn-evidence]")
    assert withdrawn.select_one(f"[data-evidence-id='{evidence.id}']")
    assert "text-muted" in withdrawn["class"] and not withdrawn.select("[data-withdraw]")
    # Withdrawn evidence is history: still downloadable by the unit.
    assert status(chief_client, f"/items/evidence/{evidence.id}/download") == 200


def test_withdrawal_is_refused_after_submission(chief_client, db_session, bureau, blobs, item):
    evidence = stored_evidence(db_session, blobs, bureau.user(Role.CHIEF), item)
    evidence.submitted_round = 1
    item.status = ItemStatus.SUBMITTED
    db_session.commit()
    soup = page(chief_client.get(f"/items/{item.id}"))
    assert not soup.select("[data-withdraw], form[data-upload-form]")
    assert soup.select_one("[data-evidence-frozen]")
    response = post(chief_client, f"/items/evidence/{evidence.id}/withdraw")
    assert response.status_code == 409
    assert page(response).select_one("[data-evidence-error]")
    assert evidence_rows(db_session)[0].withdrawn_at is None
    assert upload(chief_client, item.id, (png_bytes(), "late.png")).status_code == 409
    assert len(evidence_rows(db_session)) == 1


def test_withdrawn_evidence_of_another_unit_is_hidden(app, db_session, bureau, blobs, item):
    """The admin (legal section) uploaded and withdrew it: the section's chief no longer sees it."""
    admin = bureau.user(Role.ADMIN)
    evidence = stored_evidence(db_session, blobs, admin, item)
    chief = signed_in_client(app, bureau.user(Role.CHIEF))
    assert status(chief, f"/items/evidence/{evidence.id}/download") == 200
    service.withdraw(db_session, actor=admin, evidence=evidence, now=T0)
    db_session.commit()
    assert status(chief, f"/items/evidence/{evidence.id}/download") == 404
    assert status(chief, f"/items/evidence/{evidence.id}/preview") == 404
    soup = page(chief.get(f"/items/{item.id}"))
    assert not soup.select(f"[data-evidence-id='{evidence.id}'] [data-download]")
    leader = signed_in_client(app, bureau.user(Role.LEADER))
    assert status(leader, f"/items/evidence/{evidence.id}/download") == 200


# ---------------------------------------------------------------- download and preview


def test_download_headers_and_streaming(chief_client, db_session, bureau, blobs, item):
    data = pdf_bytes() + b"%" + b"x" * (300 * 1024)  # several 64 KiB chunks
    evidence = stored_evidence(
        db_session, blobs, bureau.user(Role.CHIEF), item, data, "整改 报告.pdf"
    )
    response = chief_client.get(f"/items/evidence/{evidence.id}/download")
    assert response.status_code == 200
    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= 64 * 1024
    assert b"".join(chunks) == data
    response.close()
    headers = response.headers
    disposition = headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('整改 报告.pdf', safe='')}" in disposition
    assert "filename=evidence.pdf;" in disposition  # the ASCII fallback of a Chinese name
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Length"] == str(len(data))
    assert "private" in headers["Cache-Control"]


def test_preview_only_for_images_and_pdf(chief_client, db_session, bureau, blobs, item):
    chief = bureau.user(Role.CHIEF)
    png = stored_evidence(db_session, blobs, chief, item, png_bytes(), "照片.png")
    pdf = stored_evidence(db_session, blobs, chief, item, pdf_bytes(), "报告.pdf")
    docx = stored_evidence(db_session, blobs, chief, item, docx_bytes(), "通知.docx")
    text = stored_evidence(db_session, blobs, chief, item, b"plain\n", "说明.txt")
    response = chief_client.get(f"/items/evidence/{png.id}/preview")
    assert response.status_code == 200 and response.get_data() == png_bytes()
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox; default-src 'none'") and "img-src" in policy
    response = chief_client.get(f"/items/evidence/{pdf.id}/preview")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    for other in (docx, text):
        assert status(chief_client, f"/items/evidence/{other.id}/preview") == 404
        assert status(chief_client, f"/items/evidence/{other.id}/download") == 200
    soup = page(chief_client.get(f"/items/{item.id}"))
    previews = {int(tr["data-evidence-id"]) for tr in soup.select("tr:has([data-preview])")}
    assert previews == {png.id, pdf.id}


def test_a_missing_blob_is_404_not_a_crash(chief_client, db_session, bureau, blobs, item):
    evidence = stored_evidence(db_session, blobs, bureau.user(Role.CHIEF), item)
    blobs.delete(evidence.blob_sha256)
    assert status(chief_client, f"/items/evidence/{evidence.id}/download") == 404


# ---------------------------------------------------------------- the page


def test_the_item_page_costs_the_same_with_30_evidence_rows(
    chief_client, db_session, bureau, blobs, item
):
    chief = bureau.user(Role.CHIEF)
    url = f"/items/{item.id}"  # read now: after a commit the test's own session would reload it
    stored_evidence(db_session, blobs, chief, item, b"0\n", "0.txt")
    chief_client.get(url)  # warm-up: first-request work is not counted
    with count_statements() as one:
        assert chief_client.get(url).status_code == 200
    for n in range(1, 30):
        uploader = bureau.user(Role.ADMIN) if n % 2 else chief
        stored_evidence(db_session, blobs, uploader, item, b"%d\n" % n, f"{n}.txt")
    service.withdraw(db_session, actor=chief, evidence=evidence_rows(db_session)[3], now=T0)
    db_session.commit()
    with count_statements() as thirty:
        response = chief_client.get(url)
    soup = page(response)
    assert len(soup.select("[data-evidence-table] tbody tr")) == 29
    assert len(soup.select("[data-withdrawn-evidence] tbody tr")) == 1
    assert thirty.count == one.count, (one.statements, thirty.statements)


def test_the_panel_is_english_in_english(chief_client, db_session, bureau, blobs, item):
    chief = bureau.user(Role.CHIEF)
    english(db_session, chief)
    evidence = stored_evidence(db_session, blobs, chief, item, name="报告.pdf", note="备注")
    service.withdraw(db_session, actor=chief, evidence=evidence, now=T0)
    stored_evidence(db_session, blobs, chief, item, png_bytes(), "照片.png")
    soup = page(chief_client.get(f"/items/{item.id}"))
    panel = soup.select_one("[data-evidence-panel]")
    text = panel.get_text(" ", strip=True)
    for data in ("报告.pdf", "照片.png", "备注", chief.name):
        text = text.replace(data, "")
    assert not CJK.search(text), CJK.findall(text)
    assert "Evidence" in text and "Upload" in text and "Withdraw" in text
