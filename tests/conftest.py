"""Shared fixtures: the app on a migrated database, a rolled-back session per test, role clients.

The database is SQLite in a temporary folder, or PostgreSQL when TRACKER_TEST_DATABASE_URL is set.
CI sets it (and CI=true); an unreachable database then fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session as FlaskSQLAlchemySession

from tests.factories import Bureau, make_bureau, make_item
from tests.write_audit_guard import WriteAuditGuard
from tracker import create_app
from tracker.config import TestConfig
from tracker.extensions import db
from tracker.models import Role, User
from tracker.page_cache import EXTENSION as PAGE_CACHE
from tracker.storage.local import LocalBlobStorage

PG_ENV = "TRACKER_TEST_DATABASE_URL"
WRITE_AUDIT_GUARD = WriteAuditGuard()


class ConnectionBoundSession(FlaskSQLAlchemySession):
    """Flask-SQLAlchemy's session picks the engine itself; this one keeps the test connection."""

    def get_bind(self, *args, **kwargs):
        return self.bind


class FreshContextClient(FlaskClient):
    """A test client whose every request gets its own app context, as in production.

    Tests hold an app context open; Flask would reuse it for requests, sharing `g` (and with it
    the signed-in user) between requests.
    """

    def open(self, *args, **kwargs):
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI") and os.environ.get("TRACKER_REQUIRE_POSTGRES", "1") == "1":
        pytest.exit(f"CI run without {PG_ENV}: the PostgreSQL suite cannot be skipped.", 3)
    return f"sqlite:///{tmp_root / 'test.sqlite3'}"


def reset_database(url: str) -> None:
    """Drop everything so migrations build the schema from nothing."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            else:
                sa.MetaData().drop_all(conn)
    except sa.exc.OperationalError as error:
        pytest.exit(f"Test database {url} is unreachable: {error}", 3)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root = tmp_path_factory.mktemp("tracker")
    url = _database_url(root)
    reset_database(url)
    application = create_app(TestConfig(instance_path=root / "instance", database_url=url))
    application.test_client_class = FreshContextClient
    with application.app_context():
        upgrade()  # the schema comes from the migrations, as in production
        WRITE_AUDIT_GUARD.install(db.engine)
    yield application
    with application.app_context():
        db.engine.dispose()  # close pooled connections before the interpreter does


@pytest.fixture(autouse=True)
def db_session(app: Flask) -> Iterator[sa.orm.scoped_session]:
    """Every test runs inside one outer transaction that is rolled back at the end.

    Commits made by views and services only release savepoints inside it.
    """
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
                "class_": ConnectionBoundSession,
            }
        )
        clock = app.extensions["tracker_clock"]
        try:
            yield db.session
        finally:
            clock.freeze(None)
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()
            # The rollback takes the audit chain back: pages kept meanwhile must go with it.
            if PAGE_CACHE in app.extensions:
                app.extensions[PAGE_CACHE].clear()
        unaudited = WRITE_AUDIT_GUARD.take()
        assert not unaudited, unaudited


@pytest.fixture
def clock(app: Flask):
    """The app clock, frozen at a known instant (tests move it with `clock.freeze`)."""
    clock = app.extensions["tracker_clock"]
    clock.freeze(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    return clock


@pytest.fixture
def bureau(db_session) -> Bureau:
    """A small bureau: root, three units, and one user of every role."""
    return make_bureau(db_session)


def signed_in_client(app: Flask, user: User) -> FlaskClient:
    """A client signed in as the user without the sign-in form: a sign-in of its own."""
    from tracker.clock import now
    from tracker.extensions import db
    from tracker.services.sign_ins import open_sign_in

    open_sign_in(db.session, user=user, now=now())
    db.session.commit()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


@pytest.fixture
def blobs(app: Flask, tmp_path: Path, monkeypatch) -> LocalBlobStorage:
    """The app's storage, in a folder of this test only (the app itself lives for the session)."""
    root = tmp_path / "blobs"
    monkeypatch.setitem(app.config, "TRACKER_STORAGE", "local")
    monkeypatch.setitem(app.config, "TRACKER_STORAGE_PATH", str(root))
    return LocalBlobStorage(root)


@pytest.fixture
def item(db_session: FlaskSQLAlchemySession, bureau: Bureau, clock):
    """An open item of the food-safety section, committed (the evidence and upload tests'
    item; a test file that needs another kind defines its own `item`)."""
    made = make_item(db_session, unit=bureau.section)
    db_session.commit()
    return made


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _role_client(role: Role):
    @pytest.fixture
    def fixture(app: Flask, bureau: Bureau) -> FlaskClient:
        return signed_in_client(app, bureau.user(role))

    return fixture


admin_client = _role_client(Role.ADMIN)
leader_client = _role_client(Role.LEADER)
inspector_client = _role_client(Role.INSPECTOR)
chief_client = _role_client(Role.CHIEF)
staff_client = _role_client(Role.STAFF)
