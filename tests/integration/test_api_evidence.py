"""POST /api/v1/items/<id>/evidence and GET /api/v1/evidence/<id>/download, per role: the web
upload's checks (413, 415, 422), 404 outside the scope, 403 without the right to work the item."""

from __future__ import annotations

import hashlib
import io

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.factories import T0
from tests.unit.test_filetypes import pdf_bytes, png_bytes
from tracker.models import AuditEvent, Evidence, ItemStatus, Role
from tracker.services import api_tokens

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"PE\x00\x00" + b"\x00" * 4000


def bearer_for(db_session, user) -> dict[str, str]:
    _token, secret = api_tokens.create(db_session, actor=None, user=user, name="t", now=T0)
    db_session.commit()
    return {"Authorization": f"Bearer {secret}"}


def multipart(files: list[tuple[bytes, str]], fields: dict) -> dict:
    """A multipart body encoded in memory (the test client spools large ones to a temporary
    file it never closes)."""
    values = MultiDict(fields)
    for data, name in files:
        values.add("file", FileStorage(io.BytesIO(data), filename=name))
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def upload(client, item_id: int, headers: dict, data: bytes, name: str, **fields):
    return client.post(
        f"/api/v1/items/{item_id}/evidence",
        headers=headers,
        **multipart([(data, name)], fields),
    )


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


def test_chief_uploads_a_file(client, db_session, bureau, item, blobs):
    response = upload(
        client, item.id, bearer_for(db_session, bureau.user(Role.CHIEF)), pdf_bytes(), "通报.pdf",
        note="第一批",
    )  # fmt: skip
    assert response.status_code == 201, response.get_data(as_text=True)
    (piece,) = response.get_json()["evidence"]
    assert piece["sha256"] == hashlib.sha256(pdf_bytes()).hexdigest()
    assert piece["filename"] == "通报.pdf" and piece["content_type"] == "application/pdf"
    assert piece["note"] == "第一批" and piece["uploaded_by"]["email"] == "chief@test.example.org"
    assert blobs.exists(piece["sha256"])
    # The same audit event as a web upload.
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "evidence.added")
    ).one()
    assert event.data["sha256"] == piece["sha256"] and event.actor_id == bureau.user("chief").id


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.STAFF, 403),  # not assigned to him
        (Role.LEADER, 403),
        (Role.INSPECTOR, 403),
        ("other_chief", 404),  # another unit's item: not revealed
    ],
)
def test_upload_refused_by_role_or_scope(client, db_session, bureau, item, blobs, role, status):
    headers = bearer_for(db_session, bureau.users[str(role)])
    error = error_of(upload(client, item.id, headers, pdf_bytes(), "a.pdf"), status)
    assert error["code"] == ("forbidden" if status == 403 else "not_found")
    assert db_session.scalar(select(func.count(Evidence.id))) == 0


def test_assigned_staff_uploads_and_missing_item_is_404(client, db_session, bureau, item, blobs):
    item.assignee_id = bureau.user(Role.STAFF).id
    db_session.commit()
    headers = bearer_for(db_session, bureau.user(Role.STAFF))
    assert upload(client, item.id, headers, png_bytes(), "photo.png").status_code == 201
    error_of(upload(client, 999999, headers, png_bytes(), "photo.png"), 404)


def test_a_file_over_the_limit_is_413(app, client, db_session, bureau, item, blobs, monkeypatch):
    monkeypatch.setitem(app.config, "TRACKER_MAX_UPLOAD_MB", 1)
    big = pdf_bytes() + b"\n%" + b"x" * (2 << 20)
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    error = error_of(upload(client, item.id, headers, big, "big.pdf"), 413)
    assert error["code"] == "file_too_large" and "1 MB" in error["message"]
    assert db_session.scalar(select(func.count(Evidence.id))) == 0
    assert not [p for p in blobs.root.rglob("*") if p.is_file()]


def test_a_program_renamed_pdf_is_415(client, db_session, bureau, item, blobs):
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    error = error_of(upload(client, item.id, headers, EXE, "report.pdf"), 415)
    assert error["code"] == "unsupported_file_type" and "report.pdf" in error["message"]
    assert db_session.scalar(select(func.count(Evidence.id))) == 0


def test_a_name_that_contradicts_the_content_is_415(client, db_session, bureau, item, blobs):
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    error = error_of(upload(client, item.id, headers, png_bytes(), "photo.pdf"), 415)
    assert error["code"] == "extension_mismatch"


def test_not_multipart_is_415(client, db_session, bureau, item):
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    response = client.post(f"/api/v1/items/{item.id}/evidence", json={}, headers=headers)
    assert error_of(response, 415)["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("files", "fields", "field"),
    [
        ([], {"note": "no file part"}, "file"),
        ([(b"", "empty.pdf")], {}, "file"),
        ([(pdf_bytes(), "a.pdf")], {"occurred_on": "2026-02-30"}, "occurred_on"),
        ([(pdf_bytes(), "a.pdf")], {"note": "长" * 1001}, "note"),
    ],
)
def test_bad_uploads_are_422_with_field_errors(
    client, db_session, bureau, item, blobs, files, fields, field
):
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    response = client.post(
        f"/api/v1/items/{item.id}/evidence", headers=headers, **multipart(files, fields)
    )
    error = error_of(response, 422)
    assert field in error["fields"] and error["fields"][field][0]


def test_upload_to_a_submitted_item_is_409(client, db_session, bureau, item, blobs):
    item.status = ItemStatus.SUBMITTED
    db_session.commit()
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    assert error_of(upload(client, item.id, headers, pdf_bytes(), "a.pdf"), 409)["code"] == (
        "invalid_transition"
    )


# ---------------------------------------------------------------- download


@pytest.fixture
def stored(client, db_session, bureau, item, blobs) -> dict:
    response = upload(
        client, item.id, bearer_for(db_session, bureau.user(Role.CHIEF)), pdf_bytes(), "决定书.pdf"
    )
    assert response.status_code == 201
    return response.get_json()["evidence"][0]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.LEADER, Role.INSPECTOR, Role.CHIEF, Role.STAFF])
def test_download_streams_the_bytes(client, db_session, bureau, stored, role):
    headers = bearer_for(db_session, bureau.user(role))
    with client.get(f"/api/v1/evidence/{stored['id']}/download", headers=headers) as response:
        assert response.status_code == 200
        assert response.get_data() == pdf_bytes()
        assert response.mimetype == "application/pdf"
        assert response.headers["ETag"] == f'"{stored["sha256"]}"'
        assert "attachment" in response.headers["Content-Disposition"]


def test_download_outside_the_scope_or_missing_is_404(client, db_session, bureau, stored):
    headers = bearer_for(db_session, bureau.users["other_chief"])
    with client.get(f"/api/v1/evidence/{stored['id']}/download", headers=headers) as response:
        assert error_of(response, 404)["code"] == "not_found"
    with client.get("/api/v1/evidence/999999/download", headers=headers) as response:
        error_of(response, 404)


def test_a_link_has_nothing_to_download(client, db_session, bureau, item):
    from tracker.services import evidence

    link = evidence.add_link(
        db_session,
        actor=bureau.user(Role.CHIEF),
        item=item,
        url="https://example.org/notice",
        title="公示",
        now=T0,
    )
    db_session.commit()
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    with client.get(f"/api/v1/evidence/{link.id}/download", headers=headers) as response:
        error_of(response, 404)
