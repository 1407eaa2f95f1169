"""Large uploads go straight into blob storage while the request body is parsed
(`tracker.items.evidence_forms.EvidenceRequest`): each byte is written once, never spooled to a
temporary file first, and the upload's guarantees hold as for small bodies: the same errors in the
same order, 413 and 507 with nothing left, deduplication, and nothing left when the request is
refused before the service runs or the body is cut short.
"""

from __future__ import annotations

import hashlib
import io

import flask
import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.factories import T0, make_item
from tests.helpers import csrf_token, page
from tests.integration.test_evidence_s3 import s3  # noqa: F401
from tests.integration.test_evidence_web import EXE, FORM_PAGE, assert_nothing_left, evidence_rows
from tests.integration.test_storage_s3 import s3_endpoint, s3_leftovers  # noqa: F401
from tests.ops.test_faults import full_disk  # noqa: F401
from tests.unit.test_filetypes import pdf_bytes
from tracker.items.evidence_forms import IN_MEMORY_BODY
from tracker.models import AuditEvent, ItemStatus, Role
from tracker.services import api_tokens
from tracker.storage.local import LocalPendingBlob

MIB = 1 << 20


def big_pdf(size: int = 2 * MIB, seed: bytes = b"a") -> bytes:
    """A PDF of about `size` bytes, different for each seed."""
    filler = hashlib.sha256(seed).digest() * (size // 32)
    return pdf_bytes() + b"\n%" + filler


def body(field: str, files: list[tuple[bytes, str]], fields: dict | None = None) -> dict:
    values = MultiDict(fields or {})
    for data, name in files:
        values.add(field, FileStorage(io.BytesIO(data), filename=name))
    boundary, encoded = encode_multipart(values)
    return {"data": encoded, "content_type": f"multipart/form-data; boundary={boundary}"}


def web_upload(client, item_id: int, *files: tuple[bytes, str], **fields):
    token = csrf_token(client, FORM_PAGE)
    sent = body("files", list(files), {"csrf_token": token, **fields})
    return client.post(f"/items/{item_id}/evidence", **sent)


def api_upload(client, item_id: int, headers: dict, *files: tuple[bytes, str], **fields):
    sent = body("file", list(files), fields)
    return client.post(f"/api/v1/items/{item_id}/evidence", headers=headers, **sent)


@pytest.fixture
def bearer(db_session, bureau) -> dict[str, str]:
    _token, secret = api_tokens.create(
        db_session, actor=None, user=bureau.user(Role.CHIEF), name="t", now=T0
    )
    db_session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def no_spool(monkeypatch):
    """Werkzeug's own file streams (in memory, or a temporary file) must not be used."""

    def spool(*_args, **_kwargs):
        raise AssertionError("a file part was spooled instead of streamed to storage")

    monkeypatch.setattr(flask.Request, "_get_file_stream", spool)


@pytest.fixture
def written(monkeypatch) -> list[int]:
    """The sizes of the writes into the local storage's pending blobs."""
    writes: list[int] = []
    real_write = LocalPendingBlob._write

    def counting_write(self, chunk: bytes) -> None:
        writes.append(len(chunk))
        real_write(self, chunk)

    monkeypatch.setattr(LocalPendingBlob, "_write", counting_write)
    return writes


def added_events(db_session) -> list[AuditEvent]:
    db_session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == "evidence.added")
    return list(db_session.scalars(query.order_by(AuditEvent.seq)))


# ---------------------------------------------------------------- each byte written once


def test_a_large_web_upload_is_written_once(
    chief_client, db_session, blobs, item, no_spool, written
):
    first, second = big_pdf(seed=b"1"), big_pdf(seed=b"2")
    response = web_upload(chief_client, item.id, (first, "一.pdf"), (second, "二.pdf"))
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    rows = evidence_rows(db_session)
    expected = [hashlib.sha256(d).hexdigest() for d in (first, second)]
    assert [r.blob_sha256 for r in rows] == expected
    assert [blobs.hash_of(sha) for sha in expected] == expected
    assert sum(written) == len(first) + len(second)
    assert blobs.temp_files() == []


def test_a_large_api_upload_is_written_once_and_deduplicated(
    client, db_session, blobs, item, bearer, no_spool, written
):
    data = big_pdf()
    for _ in range(2):
        response = api_upload(client, item.id, bearer, (data, "决定书.pdf"), note="第一批")
        assert response.status_code == 201, response.get_data(as_text=True)[:500]
        (piece,) = response.get_json()["evidence"]
        assert piece["sha256"] == hashlib.sha256(data).hexdigest()
        assert piece["size"] == len(data) and piece["note"] == "第一批"
    assert sum(written) == 2 * len(data)  # the second copy is written once, then let go
    assert [e.data["deduplicated"] for e in added_events(db_session)] == [False, True]
    assert list(blobs.iter_hashes()) == [piece["sha256"]]
    assert blobs.temp_files() == []


def test_small_bodies_stay_in_werkzeugs_memory_spool(client, db_session, blobs, item, bearer):
    data = pdf_bytes()
    assert len(data) < IN_MEMORY_BODY
    assert api_upload(client, item.id, bearer, (data, "a.pdf")).status_code == 201
    assert blobs.exists(hashlib.sha256(data).hexdigest())


# ---------------------------------------------------------------- the same errors, nothing left


def test_the_item_is_checked_before_the_file(
    client, chief_client, db_session, blobs, item, bearer, written
):
    """A streamed refusal waits for the service: a frozen item is still 409, not 415."""
    item.status = ItemStatus.SUBMITTED
    db_session.commit()
    program = EXE + b"\x00" * (2 * MIB)
    response = api_upload(client, item.id, bearer, (program, "report.pdf"))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_transition"
    assert web_upload(chief_client, item.id, (program, "report.pdf")).status_code == 409
    assert_nothing_left(db_session, blobs)


def test_a_program_is_refused_after_its_first_bytes(
    client, db_session, blobs, item, bearer, written
):
    response = api_upload(client, item.id, bearer, (EXE + b"\x00" * (4 * MIB), "report.pdf"))
    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_file_type" and "report.pdf" in error["message"]
    assert sum(written) == 0  # refused before anything was stored
    assert_nothing_left(db_session, blobs)


def test_a_good_file_and_a_refused_one_leave_nothing(chief_client, db_session, blobs, item):
    response = web_upload(
        chief_client, item.id, (big_pdf(), "good.pdf"), (EXE + b"\x00" * MIB, "bad.pdf")
    )
    assert response.status_code == 400
    assert "bad.pdf" in page(response).select_one("[data-evidence-error]").get_text()
    assert_nothing_left(db_session, blobs)


def test_over_the_limit_is_413_and_stops_writing(
    app, client, chief_client, db_session, bureau, blobs, item, bearer, written, monkeypatch
):
    monkeypatch.setitem(app.config, "TRACKER_MAX_UPLOAD_MB", 1)
    data = big_pdf(4 * MIB)
    response = api_upload(client, item.id, bearer, (data, "big.pdf"))
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "file_too_large" and "1 MB" in error["message"]
    assert sum(written) <= MIB  # the rest of the part was not written anywhere
    bureau.user(Role.CHIEF).locale = "en"
    db_session.commit()
    response = web_upload(chief_client, item.id, (data, "大文件.pdf"))
    assert response.status_code == 413
    text = page(response).select_one("[data-evidence-error]").get_text()
    assert "大文件.pdf" in text and "too large" in text
    assert_nothing_left(db_session, blobs)


def test_a_full_disk_is_507_and_leaves_nothing(
    client,
    chief_client,
    db_session,
    blobs,
    item,
    bearer,
    full_disk,  # noqa: F811
):
    full_disk.room = MIB  # the disk fills up in the middle of the file
    response = api_upload(client, item.id, bearer, (big_pdf(), "a.pdf"))
    assert response.status_code == 507
    assert response.get_json()["error"]["code"] == "storage_full"
    full_disk.room = 3 * MIB  # room for the first file, not the second
    response = web_upload(
        chief_client, item.id, (big_pdf(seed=b"1"), "1.pdf"), (big_pdf(seed=b"2"), "2.pdf")
    )
    assert response.status_code == 507
    assert "507" in page(response).h1.get_text()
    assert_nothing_left(db_session, blobs)


# ---------------------------------------------------------------- nothing left behind


def test_a_request_refused_before_the_service_leaves_nothing(
    app, chief_client, db_session, bureau, blobs, written
):
    """The web form is parsed (CSRF) before access is checked: the streamed file is dropped."""
    other = make_item(db_session, unit=bureau.station)  # not the chief's unit: 404
    db_session.commit()
    assert web_upload(chief_client, other.id, (big_pdf(), "a.pdf")).status_code == 404
    assert sum(written) > 0
    response = chief_client.post(
        f"/items/{other.id}/evidence", **body("files", [(big_pdf(), "b.pdf")])
    )
    assert response.status_code == 400  # no CSRF token
    assert_nothing_left(db_session, blobs)


def test_a_body_cut_short_leaves_nothing(chief_client, db_session, blobs, item, written):
    sent = body(
        "files", [(big_pdf(), "a.pdf")], {"csrf_token": csrf_token(chief_client, FORM_PAGE)}
    )
    cut = sent["data"][: len(sent["data"]) // 2]
    response = chief_client.post(
        f"/items/{item.id}/evidence",
        input_stream=io.BytesIO(cut),
        content_type=sent["content_type"],
        environ_overrides={"CONTENT_LENGTH": str(len(sent["data"]))},
    )
    assert response.status_code == 400
    assert sum(written) > 0
    assert_nothing_left(db_session, blobs)


def test_file_parts_the_view_does_not_take_are_dropped(client, db_session, blobs, item, bearer):
    data = big_pdf(seed=b"kept")
    values = MultiDict()
    values.add("file", FileStorage(io.BytesIO(data), filename="kept.pdf"))
    values.add("other", FileStorage(io.BytesIO(big_pdf(seed=b"extra")), filename="extra.pdf"))
    boundary, encoded = encode_multipart(values)
    response = client.post(
        f"/api/v1/items/{item.id}/evidence",
        headers=bearer,
        data=encoded,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 201
    assert list(blobs.iter_hashes()) == [hashlib.sha256(data).hexdigest()]
    assert blobs.temp_files() == []


# ---------------------------------------------------------------- S3


def test_a_large_upload_streams_into_s3(client, db_session, s3, item, bearer, no_spool):  # noqa: F811
    data = big_pdf(10 * MIB)  # over one 8 MiB part: a multipart upload
    response = api_upload(client, item.id, bearer, (data, "现场.pdf"))
    assert response.status_code == 201, response.get_data(as_text=True)[:500]
    sha256 = hashlib.sha256(data).hexdigest()
    assert list(s3.iter_hashes()) == [sha256] and s3.hash_of(sha256) == sha256
    assert s3_leftovers(s3)() == []
