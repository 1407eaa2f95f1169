"""`tracker verify`: blobs re-hashed against their records, the audit chain walked."""

from __future__ import annotations

import hashlib
import io

import pytest
from sqlalchemy import delete, select, update

from tests.factories import T0
from tracker.models import AuditEvent, Blob
from tracker.services import audit
from tracker.services.uploads import receive_upload
from tracker.storage import storage_from_config


def run(app):
    return app.test_cli_runner().invoke(args=["tracker", "verify"])


@pytest.fixture
def stored(app, db_session, bureau):
    """Two evidence files stored and recorded, as an upload leaves them."""
    storage = storage_from_config(app.config)
    blobs = []
    for text in ("第一份佐证材料\n", "第二份佐证材料\n"):
        data = text.encode() * 100
        upload = receive_upload(
            io.BytesIO(data), filename="note.txt", storage=storage, max_bytes=1 << 20
        )
        assert upload.sha256 == hashlib.sha256(data).hexdigest()
        db_session.add(Blob(sha256=upload.sha256, size=upload.size, content_type="text/plain"))
        blobs.append(upload.sha256)
    db_session.commit()
    return storage, blobs


def test_a_clean_database_passes(app, stored):
    result = run(app)
    assert result.exit_code == 0, result.output + result.stderr
    assert "Blobs: 2 checked, 0 problems" in result.output
    assert "Verification passed." in result.output


def test_one_flipped_byte_names_exactly_that_blob(app, stored):
    storage, (first, second) = stored
    path = storage.path_for(second)
    path.chmod(0o600)
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))
    result = run(app)
    assert result.exit_code == 1
    assert f"blob altered: {second}" in result.stderr
    assert first not in result.stderr
    assert "1 problems" in result.output


def test_a_missing_blob_is_named(app, stored):
    storage, (first, _second) = stored
    storage.delete(first)
    result = run(app)
    assert result.exit_code == 1 and f"blob missing: {first}" in result.stderr


def test_a_deleted_audit_row_is_named(app, db_session, bureau):
    for n in range(3):
        audit.record(
            db_session, actor=None, action="test.event", object_type="test", data={"n": n}, at=T0
        )
    db_session.commit()
    events = db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    victim = events[-2]
    db_session.execute(delete(AuditEvent).where(AuditEvent.id == victim.id))
    db_session.commit()
    result = run(app)
    assert result.exit_code == 1
    assert f"missing: audit event seq={victim.seq + 1}" in result.stderr
    assert f"seq {victim.seq}" in result.stderr
    assert result.stderr.count("missing:") == 1


def test_an_edited_audit_row_is_named(app, db_session, bureau):
    events = db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    target = events[len(events) // 2]
    db_session.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(data={"x": 1}))
    db_session.commit()
    result = run(app)
    assert result.exit_code == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert (
        problems == [problems[0]]
        and f"altered: audit event seq={target.seq} id={target.id}" in problems[0]
    )
