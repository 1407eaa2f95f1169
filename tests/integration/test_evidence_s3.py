"""Evidence uploads and downloads with the app configured for S3 storage (a moto server)."""

from __future__ import annotations

import hashlib
import io
import uuid

import pytest
from sqlalchemy import func, select

from tests.factories import T0
from tests.integration.test_evidence_web import EXE, evidence_rows, status, upload
from tests.integration.test_storage_s3 import s3_endpoint, s3_leftovers, s3_settings  # noqa: F401
from tests.unit.test_filetypes import pdf_bytes, png_bytes
from tests.unit.test_uploads import GeneratedStream, expected_sha256
from tracker.items.files import blob_storage
from tracker.models import AuditEvent, Blob, Role
from tracker.services import evidence as service
from tracker.storage.s3 import S3BlobStorage

MIB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def s3(app, s3_endpoint, monkeypatch) -> S3BlobStorage:  # noqa: F811
    """The app's own storage, switched to a fresh bucket on the moto server."""
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    for key, value in s3_settings(s3_endpoint, bucket).items():
        monkeypatch.setitem(app.config, key, value)
    storage = blob_storage()
    assert isinstance(storage, S3BlobStorage) and storage.bucket == bucket
    storage.client.create_bucket(Bucket=bucket)
    return storage


def assert_nothing_left(db_session, storage: S3BlobStorage) -> None:
    assert evidence_rows(db_session) == []
    assert db_session.scalar(select(func.count()).select_from(Blob)) == 0
    assert list(storage.iter_hashes()) == []
    assert s3_leftovers(storage)() == []


def test_upload_and_download_through_s3(chief_client, db_session, s3, item):
    data = pdf_bytes()
    response = upload(chief_client, item.id, (data, "整改报告.pdf"), (data, "副本.pdf"))
    assert response.status_code == 303
    rows = evidence_rows(db_session)
    assert [r.blob_sha256 for r in rows] == [sha(data)] * 2
    assert list(s3.iter_hashes()) == [sha(data)] and s3.hash_of(sha(data)) == sha(data)
    listed = s3.client.list_objects_v2(Bucket=s3.bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"tracker/blobs/{sha(data)}"]
    assert s3_leftovers(s3)() == []
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.added"))
    assert event.data["sha256"] == sha(data)

    with chief_client.get(f"/items/evidence/{rows[0].id}/download") as download:
        assert download.status_code == 200 and download.is_streamed
        assert download.get_data() == data
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert "filename*=UTF-8''" in download.headers["Content-Disposition"]
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Length"] == str(len(data))


def test_the_same_file_in_two_requests_is_one_object(chief_client, db_session, s3, item):
    data = png_bytes()
    assert upload(chief_client, item.id, (data, "a.png")).status_code == 303
    assert upload(chief_client, item.id, (data, "b.png")).status_code == 303
    assert len(evidence_rows(db_session)) == 2
    assert db_session.scalar(select(func.count()).select_from(Blob)) == 1
    assert list(s3.iter_hashes()) == [sha(data)]


@pytest.mark.parametrize(
    ("data", "name"), [(EXE, "通知.pdf"), (b"", "空.pdf")], ids=["exe-renamed-pdf", "empty"]
)
def test_refused_files_leave_nothing_in_the_bucket(chief_client, db_session, s3, item, data, name):
    response = upload(chief_client, item.id, (png_bytes(), "good.png"), (data, name))
    assert response.status_code == 400
    assert_nothing_left(db_session, s3)


def test_a_file_over_the_limit_is_413(app, chief_client, db_session, s3, item, monkeypatch):
    monkeypatch.setitem(app.config, "TRACKER_MAX_UPLOAD_MB", 1)
    response = upload(chief_client, item.id, (b"a" * (2 * MIB), "big.txt"))
    assert response.status_code == 413
    assert_nothing_left(db_session, s3)


def test_a_crash_in_a_multipart_upload_leaves_nothing(db_session, bureau, s3, item):
    total = 20 * MIB  # over one 8 MiB part: a multipart upload is under way when it fails
    with pytest.raises(ConnectionResetError):
        service.add_files(
            db_session,
            actor=bureau.user(Role.CHIEF),
            item=item,
            files=[
                (io.BytesIO(pdf_bytes()), "first.pdf"),
                (GeneratedStream(total, fail_at=total // 2), "记录.mp4"),
            ],
            storage=s3,
            max_bytes=total,
            now=T0,
        )
    assert_nothing_left(db_session, s3)


def test_a_multipart_blob_downloads_intact(chief_client, db_session, bureau, s3, item):
    total = 12 * MIB
    (evidence,) = service.add_files(
        db_session,
        actor=bureau.user(Role.CHIEF),
        item=item,
        files=[(GeneratedStream(total), "执法记录.mp4")],
        storage=s3,
        max_bytes=total,
        now=T0,
    )
    db_session.commit()
    assert evidence.blob_sha256 == expected_sha256(total)
    with chief_client.get(f"/items/evidence/{evidence.id}/download") as response:
        assert response.is_streamed
        digest, size = hashlib.sha256(), 0
        for chunk in response.response:
            assert len(chunk) <= 64 * 1024
            digest.update(chunk)
            size += len(chunk)
    assert size == total and digest.hexdigest() == evidence.blob_sha256
    assert status(chief_client, f"/items/evidence/{evidence.id}/preview") == 404  # video
