"""Structured logs: JSON lines with a request id, one line per request, secrets scrubbed.

Every log record made while a request is handled carries that request's id, method, path and
user, so an operator can follow one request through the log. The id comes from a well-formed
incoming `X-Request-ID` header (a proxy's), else is generated, and is echoed in the response.

Nothing here logs bodies, query strings, headers or cookies; on top of that, every line passes a
scrubber that masks API tokens, bearer credentials, the app's own secrets (SECRET_KEY, the SMTP
and database passwords) and secret-bearing route arguments (the calendar feed's token).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url

HANDLER_NAME = "tracker-json"
REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is accepted if it is short and plain: letters, digits and . _ : -
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Route arguments that hold secrets are masked in the logged path.
_SECRET_ARGUMENTS = re.compile(r"(^|_)(token|secret|key|password)$")
_PATTERNS = (
    (re.compile(r"trk_[A-Za-z0-9_\-]+"), "trk_***"),  # personal API tokens
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 ***"),
    (
        re.compile(r"(?i)(password|passwd|secret|token)(['\"]?\s*[=:]\s*['\"]?)[^\s'\",&]+"),
        r"\1\2***",
    ),
)
MASK = "***"

request_log = logging.getLogger("tracker.request")


def request_id() -> str:
    """This request's id (accepted from X-Request-ID when well-formed, else generated)."""
    rid = g.get("request_id")
    if rid is None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        rid = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_id = rid
    return rid


def logged_path() -> str:
    """The request path without its query string and with secret route arguments masked."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if _SECRET_ARGUMENTS.search(name) and isinstance(value, str) and value:
            path = path.replace(value, MASK)
    return path


def _user_id() -> int | None:
    """The acting user's id, if one was loaded for this request (no extra query is made)."""
    user = g.get("api_user") or g.get("_login_user")
    # The identity map's key, not an attribute: reading an expired attribute would query the
    # database, which fails when the database is what went away (a 503 must still be logged).
    state = sa_inspect(user, raiseerr=False) if user is not None else None
    if state is None or not state.identity:
        return None  # anonymous
    return state.identity[0]


class Scrubber:
    """Masks secrets in a log line: known literal values and token-shaped strings."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        # Short values would mask ordinary words; real secrets are long.
        self.literals = sorted({v for v in literals if v and len(v) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for literal in self.literals:
            text = text.replace(literal, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class RequestContextFilter(logging.Filter):
    """Adds the current request's id, method, path and user to every record made during it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            if not hasattr(record, "request_id"):
                record.request_id = request_id()
            if not hasattr(record, "method"):
                record.method = request.method
            if not hasattr(record, "path"):
                record.path = logged_path()
            if not hasattr(record, "user_id"):
                record.user_id = _user_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; secrets are scrubbed from the finished line."""

    FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id", "remote_addr")

    def __init__(self, scrubber: Scrubber | None = None) -> None:
        super().__init__()
        self.scrubber = scrubber or Scrubber()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        # Scrubbed value by value, before encoding, so JSON escaping cannot hide a secret.
        scrubbed = {
            key: self.scrubber(value) if isinstance(value, str) else value
            for key, value in entry.items()
        }
        return json.dumps(scrubbed, ensure_ascii=False, default=str)


def _secret_values(app: Flask) -> list[str]:
    """The configured secrets that must never appear in a log line."""
    values = [app.config.get("SECRET_KEY") or "", app.config.get("MAIL_PASSWORD") or ""]
    for key in ("SQLALCHEMY_DATABASE_URI", "RATELIMIT_STORAGE_URI"):
        try:
            password = make_url(str(app.config.get(key) or "")).password
        except Exception:  # noqa: BLE001 - not a URL SQLAlchemy can parse: nothing to add
            password = None
        if password:
            values.append(str(password))
    return [str(v) for v in values]


_handler: logging.Handler | None = None
_secrets: set[str] = set()


def log_handler() -> logging.Handler:
    """The process's one JSON handler (several apps in one process share it, as tests do)."""
    global _handler
    if _handler is None:
        _handler = logging.StreamHandler(sys.stderr)
        _handler.set_name(HANDLER_NAME)
        _handler.addFilter(RequestContextFilter())
    return _handler


def _install(level: str) -> None:
    root = logging.getLogger()
    handler = log_handler()
    if handler not in root.handlers:
        root.addHandler(handler)
        root.setLevel(level)


def configure_logging(app: Flask) -> logging.Handler:
    """The JSON handler on the root logger, with this app's secrets added to the scrubbed ones."""
    _secrets.update(_secret_values(app))
    handler = log_handler()
    handler.setFormatter(JsonFormatter(Scrubber(_secrets)))
    _install(str(app.config.get("TRACKER_LOG_LEVEL") or "INFO").upper())
    # The request line below replaces Werkzeug's access log, which would print query strings.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return handler


def init_app(app: Flask) -> None:
    """Configure the JSON log and log one line per request, with its id echoed in the response."""
    configure_logging(app)
    level = str(app.config.get("TRACKER_LOG_LEVEL") or "INFO").upper()

    @app.before_request
    def start_request_timer() -> None:
        g.request_started = time.perf_counter()
        request_id()
        # Alembic's env.py replaces the root handlers when migrations run in this process
        # (the test suite, `bootstrap`): put the JSON handler back.
        _install(level)

    @app.after_request
    def log_request(response: Response) -> Response:
        started = g.get("request_started")
        duration = (time.perf_counter() - started) * 1000 if started is not None else None
        response.headers[REQUEST_ID_HEADER] = request_id()
        status = response.status_code
        request_log.log(
            logging.ERROR if status >= 500 else logging.INFO,
            "%s %s %s",
            request.method,
            logged_path(),
            status,
            extra={
                "status": status,
                "duration_ms": round(duration, 1) if duration is not None else None,
                "remote_addr": request.remote_addr,
            },
        )
        return response
