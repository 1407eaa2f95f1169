"""合规台账 — compliance checklist and audit tracker. `create_app` builds the application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tracker import downloads, page_cache
from tracker.clock import Clock
from tracker.config import PROJECT_ROOT, Config


def create_app(config: object | None = None) -> Flask:
    """Application factory: no work is done at import time, and no scheduler is started here."""
    config = config or Config()
    app = Flask(
        __name__,
        instance_path=str(Path(config.INSTANCE_PATH).resolve()),
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    app.config.from_object(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.extensions["tracker_clock"] = Clock(app.config["TRACKER_TIMEZONE"])

    _register_request_log(app)
    _register_extensions(app)
    _register_security(app)
    _register_blueprints(app)
    from tracker.items.evidence_forms import EvidenceRequest  # uploads streamed into storage

    app.request_class = EvidenceRequest
    _register_errors(app)
    _register_template_helpers(app)
    downloads.init_app(app)
    page_cache.init_app(app)
    _register_cli(app)
    return app


def _register_request_log(app: Flask) -> None:
    """JSON log lines with a request id; first, so that every request is timed and logged."""
    from tracker import request_log

    request_log.init_app(app)


def _register_security(app: Flask) -> None:
    """Security headers and the trusted proxy; the idle sign-out (after the CSRF check)."""
    from tracker import security_headers
    from tracker.auth import session as web_session

    security_headers.init_app(app)
    web_session.init_app(app)


def _register_extensions(app: Flask) -> None:
    from tracker import models  # noqa: F401  (registers the tables on the metadata)
    from tracker.extensions import babel, bootstrap, csrf, db, limiter, login_manager, mail, migrate
    from tracker.i18n import select_locale

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    bootstrap.init_app(app)
    limiter.init_app(app)
    mail.init_app(app)
    _configure_login(app, login_manager)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            _configure_sqlite(db.engine)


def _configure_login(app: Flask, login_manager: Any) -> None:
    from flask import current_app
    from flask_babel import lazy_gettext as _l

    from tracker.clock import now
    from tracker.extensions import db
    from tracker.models import User
    from tracker.services.sign_ins import sign_in_lifetime, signed_in_user

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to continue.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(cookie_id: str) -> User | None:
        # current_app, not `app`: the login manager is shared, and its loader is the one
        # registered last, whichever app is serving.
        lifetime = sign_in_lifetime(current_app.config)
        return signed_in_user(db.session, cookie_id, now=now(), lifetime=lifetime)


def _configure_sqlite(engine: Engine) -> None:
    """Make SQLite behave: foreign keys on, real transactions (so SAVEPOINT works), waits."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy emits BEGIN below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def _register_blueprints(app: Flask) -> None:
    from tracker.admin import bp as admin_bp
    from tracker.auditlog import bp as auditlog_bp
    from tracker.auth import bp as auth_bp
    from tracker.cases import bp as cases_bp
    from tracker.dashboard import bp as dashboard_bp
    from tracker.items import bp as items_bp
    from tracker.main import bp as main_bp
    from tracker.reports import bp as reports_bp
    from tracker.review import bp as review_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(cases_bp, url_prefix="/cases")
    app.register_blueprint(dashboard_bp, url_prefix="/dashboard")
    app.register_blueprint(items_bp, url_prefix="/items")
    app.register_blueprint(auditlog_bp, url_prefix="/audit")
    app.register_blueprint(review_bp, url_prefix="/review")

    # The JSON API: bearer tokens only, so it is exempt from CSRF (see tracker/api/__init__.py).
    from tracker.api import register_api

    register_api(app)
    app.register_blueprint(reports_bp, url_prefix="/reports")


def _register_errors(app: Flask) -> None:
    from tracker.errors import register_error_handlers

    register_error_handlers(app)


def _register_template_helpers(app: Flask) -> None:
    from tracker.templating import register_template_helpers

    register_template_helpers(app)


def _register_cli(app: Flask) -> None:
    from tracker.cli import tracker_cli

    app.cli.add_command(tracker_cli)
