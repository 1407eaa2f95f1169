"""Faults: the database going away mid-request, and a full disk during an upload.

Both leave nothing of the request behind, answer with a clear status in the user's language
(an HTML page, or the API's JSON), and `tracker verify` passes afterwards.

The database test runs on an app of its own with a throwaway database (SQLite file, or a
PostgreSQL database created for it), because the connection really fails: on PostgreSQL the
server terminates the request's backend between two writes of one request; on SQLite the driver
raises the I/O error a vanished database file gives. The suite's shared test database and its
rolled-back per-test transaction are not touched.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import sqlite3

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import event, func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.conftest import FreshContextClient, signed_in_client
from tests.factories import T0, make_bureau, make_item
from tests.helpers import csrf_token, page, post_form
from tests.ops.support import throwaway_database
from tests.unit.test_filetypes import pdf_bytes
from tracker import create_app
from tracker.config import TestConfig
from tracker.extensions import db
from tracker.models import AuditEvent, Blob, ChecklistItem, Evidence, ItemStatus, Role
from tracker.models.review import Submission
from tracker.services import api_tokens, evidence
from tracker.storage import LocalBlobStorage, StorageFull, storage_from_config

FORM_PAGE = "/account/password"  # any signed-in page carries the CSRF token


def verify_ok(app) -> str:
    """`tracker verify` through the app's own command line; asserts it passed."""
    result = app.test_cli_runner().invoke(args=["tracker", "verify"])
    assert result.exit_code == 0, result.output
    assert "Verification passed." in result.output
    return result.output


# ---------------------------------------------------------------- the database goes away


class DatabaseFault:
    """Breaks the app's database connection at a chosen statement of a request."""

    HOOKS = ("do_execute", "do_executemany", "do_execute_no_params")

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.prefix: str | None = None  # break at the first statement starting with this
        self.everything = False  # or at every statement (the database is down)
        self.fired = 0
        self.postgres = engine.dialect.name == "postgresql"
        event.listen(engine, "before_cursor_execute", self._before)
        for hook in self.HOOKS:
            event.listen(engine.dialect, hook, self._execute)

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        for hook in self.HOOKS:
            event.remove(self.engine.dialect, hook, self._execute)

    def _hit(self, statement: str) -> bool:
        if self.everything:
            self.fired += 1
            return True
        if self.prefix is not None and statement.lstrip().upper().startswith(self.prefix):
            self.prefix = None
            self.fired += 1
            return True
        return False

    def _before(self, conn, _cursor, statement, *_args) -> None:
        if self.postgres and not self.everything and self._hit(statement):
            # The server really drops this connection: the statement then fails on its own.
            pid = conn.connection.dbapi_connection.info.backend_pid
            with sa.create_engine(self.engine.url, poolclass=sa.pool.NullPool).connect() as killer:
                killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    def _execute(self, _cursor, statement, *_args) -> None:
        # Raised where the driver runs the statement, so SQLAlchemy handles it as the driver's
        # own error (wrapped in OperationalError, the connection checked for a disconnect).
        if self.postgres and not self.everything:
            return
        if not self._hit(statement):
            return
        if self.postgres:
            import psycopg

            raise psycopg.OperationalError("connection to server failed: Connection refused")
        raise sqlite3.OperationalError("disk I/O error")


@pytest.fixture
def isolated(tmp_path):
    """An app on a database of its own, with a bureau and one item ready to submit."""
    with throwaway_database(tmp_path, "fault") as url:
        app = create_app(TestConfig(instance_path=tmp_path / "instance", database_url=url))
        app.test_client_class = FreshContextClient
        shared_session = db.session  # the suite's connection-bound session: not ours to use
        db.session = db._make_scoped_session({})
        try:
            with app.app_context():
                upgrade()
                bureau = make_bureau(db.session)
                item = make_item(db.session, unit=bureau.section)
                evidence.add_files(
                    db.session,
                    actor=bureau.user(Role.CHIEF),
                    item=item,
                    files=[(io.BytesIO(pdf_bytes()), "纪要.pdf")],
                    storage=storage_from_config(app.config),
                    max_bytes=1 << 20,
                    now=T0,
                )
                _token, secret = api_tokens.create(
                    db.session, actor=None, user=bureau.user(Role.CHIEF), name="ops", now=T0
                )
                db.session.commit()
                fault = DatabaseFault(db.engine)
                yield app, bureau, item.id, secret, fault
                fault.remove()
        finally:
            db.session.remove()
            db.session = shared_session
            with app.app_context():
                db.engine.dispose()


def committed_state(app, item_id: int) -> dict:
    """What a fresh connection sees as committed (never the request's own session)."""
    with app.app_context(), sa.orm.Session(db.engine) as session:
        return {
            "status": session.scalar(
                select(ChecklistItem.status).where(ChecklistItem.id == item_id)
            ),
            "submissions": session.scalar(select(func.count()).select_from(Submission)),
            "audit": session.scalar(select(func.count()).select_from(AuditEvent)),
            "frozen": session.scalar(
                select(func.count())
                .select_from(Evidence)
                .where(Evidence.submitted_round.is_not(None))
            ),
        }


def test_database_gone_between_two_writes_is_a_clean_503_and_nothing_is_saved(isolated):
    app, bureau, item_id, _secret, fault = isolated
    chief = signed_in_client(app, bureau.user(Role.CHIEF))
    before = committed_state(app, item_id)
    assert before["status"] == ItemStatus.OPEN and before["submissions"] == 0

    # Submitting updates the item, inserts the submission round, freezes the evidence and then
    # appends the audit event: the connection dies just before that last write.
    fault.prefix = "INSERT INTO AUDIT_EVENT"
    response = post_form(chief, f"/items/{item_id}/submit", {}, form_url=FORM_PAGE)
    assert fault.fired == 1
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    doc = page(response)
    assert doc.html["lang"] == "zh-CN"
    assert "服务暂不可用" in doc.h1.get_text()
    assert "Traceback" not in response.get_data(as_text=True)
    assert committed_state(app, item_id) == before  # nothing of the request was committed

    # The next request gets a new connection and works: the submission goes through once.
    response = post_form(chief, f"/items/{item_id}/submit", {}, form_url=FORM_PAGE)
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    after = committed_state(app, item_id)
    assert after["status"] == ItemStatus.SUBMITTED and after["submissions"] == 1
    assert after["audit"] == before["audit"] + 1
    with app.app_context():
        verify_ok(app)


def test_api_gets_json_503_in_the_users_language(isolated):
    app, _bureau, item_id, secret, fault = isolated
    client = app.test_client()
    before = committed_state(app, item_id)
    fault.prefix = "INSERT INTO AUDIT_EVENT"
    response = client.post(
        f"/api/v1/items/{item_id}/submit",
        json={"note": "请审核"},
        headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"},
    )
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Retry-After"] == "30"
    error = response.get_json()["error"]
    assert error["code"] == "service_unavailable"
    assert "Nothing of this request was saved" in error["message"]
    assert committed_state(app, item_id) == before
    with app.app_context():
        verify_ok(app)


def test_database_down_before_the_user_is_even_loaded(isolated):
    app, bureau, item_id, _secret, fault = isolated
    chief = signed_in_client(app, bureau.user(Role.CHIEF))
    fault.everything = True
    response = chief.get("/items/", headers={"Accept-Language": "en"})
    assert response.status_code == 503
    doc = page(response)
    assert doc.html["lang"] == "en" and "Service unavailable" in doc.h1.get_text()
    fault.everything = False
    assert chief.get("/items/").status_code == 200  # back as soon as the database is
    assert committed_state(app, item_id)["status"] == ItemStatus.OPEN
    with app.app_context():
        verify_ok(app)


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def full_disk(monkeypatch):
    """The disk fills up after `room` more bytes: writes past it fail with ENOSPC."""

    class Disk:
        room = 0

    real_fdopen = os.fdopen

    class FillingFile:
        def __init__(self, file) -> None:
            self._file = file

        def write(self, data: bytes) -> int:
            if len(data) > Disk.room:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            Disk.room -= len(data)
            return self._file.write(data)

        def __getattr__(self, name):
            return getattr(self._file, name)

    def fdopen(fd, mode="r", *args, **kwargs):
        opened = real_fdopen(fd, mode, *args, **kwargs)
        return FillingFile(opened) if "w" in mode else opened

    monkeypatch.setattr("tracker.storage.local.os.fdopen", fdopen)
    return Disk


def multipart(token: str, files, fields: dict | None = None) -> dict:
    values = MultiDict({"csrf_token": token, **(fields or {})})
    for data, name in files:
        values.add("files", FileStorage(io.BytesIO(data), filename=name))
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def nothing_left(db_session, storage: LocalBlobStorage, audit_before: int) -> None:
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert db_session.scalar(select(func.count()).select_from(Blob)) == 0
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before
    assert list(storage.iter_hashes()) == []
    assert storage.temp_files() == []
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []


def test_full_disk_during_an_upload_is_507_and_leaves_nothing(
    app, chief_client, db_session, bureau, clock, blobs, full_disk
):
    item = make_item(db_session, unit=bureau.section)
    db_session.commit()
    audit_before = db_session.scalar(select(func.count()).select_from(AuditEvent))
    first, second = pdf_bytes(), pdf_bytes() + b"%" + b"x" * 300_000
    # Room for the first file but not the second: the first blob is stored, then removed.
    full_disk.room = len(first) + 1000
    response = chief_client.post(
        f"/items/{item.id}/evidence",
        **multipart(csrf_token(chief_client, FORM_PAGE), [(first, "一.pdf"), (second, "二.pdf")]),
    )
    assert response.status_code == 507
    doc = page(response)
    assert "507" in doc.h1.get_text()
    assert "Traceback" not in response.get_data(as_text=True)
    nothing_left(db_session, blobs, audit_before)
    verify_ok(app)


def test_full_disk_in_english_and_on_the_api(
    app, client, db_session, bureau, clock, blobs, full_disk
):
    item = make_item(db_session, unit=bureau.section)
    _token, secret = api_tokens.create(
        db_session, actor=None, user=bureau.user(Role.CHIEF), name="t", now=T0
    )
    db_session.commit()
    audit_before = db_session.scalar(select(func.count()).select_from(AuditEvent))
    full_disk.room = 0  # nothing fits: the very first write fails
    response = client.post(
        f"/api/v1/items/{item.id}/evidence",
        data={"file": (io.BytesIO(pdf_bytes()), "a.pdf")},
        headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"},
    )
    assert response.status_code == 507, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "storage_full"
    assert "storage is full" in error["message"]
    nothing_left(db_session, blobs, audit_before)

    web = signed_in_client(app, bureau.user(Role.CHIEF))
    response = web.post(
        f"/items/{item.id}/evidence",
        headers={"Accept-Language": "en"},
        **multipart(csrf_token(web, FORM_PAGE), [(pdf_bytes(), "a.pdf")]),
    )
    assert response.status_code == 507
    text = page(response).get_text(" ", strip=True)
    assert "Storage full" in text and "nothing was recorded" in text
    nothing_left(db_session, blobs, audit_before)
    verify_ok(app)


def test_full_disk_when_the_blob_is_made_durable_leaves_no_file(tmp_path, monkeypatch):
    """ENOSPC can also come late, when the written bytes are flushed to disk at commit."""
    storage = LocalBlobStorage(tmp_path / "blobs")
    storage.begin().abort()  # the temporary folder exists already

    def no_space(_fd) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("tracker.storage.local.os.fsync", no_space)
    data = b"evidence bytes " * 1000
    with pytest.raises(StorageFull), storage.begin() as pending:
        pending.write(data)
        pending.commit(hashlib.sha256(data).hexdigest())
    assert pending.closed
    assert storage.temp_files() == []
    assert list(storage.iter_hashes()) == []


def test_full_disk_while_the_request_body_is_spooled_is_507(
    app, chief_client, client, db_session, bureau, clock, blobs, monkeypatch
):
    """Werkzeug spools a request body to a temporary file (the upload views stream large ones
    into blob storage instead, see test_upload_streaming.py): ENOSPC there is a full disk too."""
    item = make_item(db_session, unit=bureau.section)
    _token, secret = api_tokens.create(
        db_session, actor=None, user=bureau.user(Role.CHIEF), name="t", now=T0
    )
    db_session.commit()
    audit_before = db_session.scalar(select(func.count()).select_from(AuditEvent))
    token = csrf_token(chief_client, FORM_PAGE)

    class FullSpool(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, _data) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("flask.Request._get_file_stream", lambda *args, **kwargs: FullSpool())
    response = chief_client.post(
        f"/items/{item.id}/evidence",
        **multipart(token, [(pdf_bytes(), "a.pdf")]),
    )
    assert response.status_code == 507, response.get_data(as_text=True)[:500]
    assert "507" in page(response).h1.get_text()
    response = client.post(
        f"/api/v1/items/{item.id}/evidence",
        data={"file": (io.BytesIO(pdf_bytes()), "a.pdf")},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 507, response.get_data(as_text=True)[:500]
    assert response.get_json()["error"]["code"] == "storage_full"
    nothing_left(db_session, blobs, audit_before)
    verify_ok(app)
