"""Every error of the API as JSON: `{"error": {"code", "message"[, "fields"]}}`, never HTML.

Werkzeug's HTTP errors, the services' domain errors and unexpected exceptions all end here, so no
error page and no stack trace reaches an API client. Messages follow the token user's language
(else Accept-Language, else Chinese); clients should act on `code`, which is stable English.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

from flask import Flask, Response, current_app, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from tracker.api import API_PREFIX, bp
from tracker.extensions import db
from tracker.services.cases import CaseInvalid
from tracker.services.errors import (
    DomainError,
    DuplicateValue,
    InvalidTransition,
    PermissionDenied,
    ValidationFailed,
)
from tracker.services.filetypes import FileRefused, FileTooLarge, human_size
from tracker.storage.base import StorageFull, is_out_of_space

log = logging.getLogger(__name__)

# The code and default message of each status (the message when nothing more precise is known).
STATUS_ERRORS: dict[int, tuple[str, object]] = {
    400: ("bad_request", _l("The request could not be understood.")),
    401: ("unauthorized", _l("Send a personal API token: Authorization: Bearer <token>.")),
    403: ("forbidden", _l("Your role does not allow this.")),
    404: ("not_found", _l("Not found, or outside the units you can see.")),
    405: ("method_not_allowed", _l("This address does not accept that method.")),
    409: ("conflict", _l("The object is not in a state that allows this.")),
    413: ("request_too_large", _l("The request is larger than the allowed maximum.")),
    415: ("unsupported_media_type", _l("The request body is not of a type this address accepts.")),
    422: ("validation_failed", _l("Some values are missing or invalid; see fields.")),
    429: ("rate_limited", _l("Too many requests with this token: wait a moment and retry.")),
    500: ("server_error", _l("Something went wrong on our side. Nothing was saved.")),
}

# Service field names as the API spells them (the web form's multi-file field is `files`).
_FIELD_ALIASES = {"files": "file", "unit_id": "unit"}


class ApiError(Exception):
    """An error the API answers with as it is (status, code, message, optional field errors)."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: object = None,
        *,
        fields: Mapping[str, Iterable[object]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        default_code, default_message = STATUS_ERRORS.get(status, STATUS_ERRORS[500])
        super().__init__(str(message or default_message))
        self.status = status
        self.code = code or default_code
        self.message = message if message is not None else default_message
        self.fields = {name: list(messages) for name, messages in (fields or {}).items()}
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str | None = None,
    message: object = None,
    *,
    fields: Mapping[str, Iterable[object]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The JSON error body with its status; a failed request leaves no half transaction behind."""
    error = ApiError(status, code, message, fields=fields, headers=headers)
    body: dict[str, object] = {"code": error.code, "message": str(error.message)}
    if status == 422:
        body["fields"] = {name: [str(m) for m in msgs] for name, msgs in error.fields.items()}
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in error.headers.items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def _api_field(name: str | None) -> str:
    name = name or "body"
    return _FIELD_ALIASES.get(name, name)


def domain_error_response(error: DomainError) -> Response:
    """A service's refusal as the API's status: 403, 409, 413, 415 or 422 with its field."""
    if isinstance(error, PermissionDenied):
        return error_response(403, "forbidden", error.message)
    if isinstance(error, InvalidTransition):
        return error_response(409, "invalid_transition", error.message)
    if isinstance(error, DuplicateValue):
        return error_response(409, "duplicate", error.message)
    if isinstance(error, FileTooLarge):
        return error_response(413, error.code, error.message)
    if isinstance(error, FileRefused) and error.http_status != 422:
        return error_response(error.http_status, error.code, error.message)
    if isinstance(error, CaseInvalid):
        fields: dict[str, list[object]] = {}
        for name, message in error.errors:
            fields.setdefault(_api_field(name), []).append(message)
        return error_response(422, "validation_failed", error.message, fields=fields)
    if isinstance(error, ValidationFailed):
        code = error.code if isinstance(error, FileRefused) else "validation_failed"
        return error_response(
            422, code, error.message, fields={_api_field(error.field): [error.message]}
        )
    return error_response(400, "bad_request", error.message)


def _http_error_response(error: HTTPException) -> Response:
    status = error.code or 500
    if status not in STATUS_ERRORS:
        status = 500 if status >= 500 else 400
    headers: dict[str, str] = {}
    if status == 405:
        headers.update((k, v) for k, v in error.get_headers() if k.lower() == "allow")
    if status == 413:
        limit = int(current_app.config.get("MAX_CONTENT_LENGTH") or 0)
        message = _l(
            "The request is larger than the %(limit)s allowed in one request.",
            limit=human_size(limit),
        )
        return error_response(413, "request_too_large", message)
    if status == 429:
        headers.update(_retry_after())
    return error_response(status, headers=headers)


def _retry_after() -> dict[str, str]:
    from tracker.extensions import limiter  # the extension, bound by create_app

    current = getattr(limiter, "current_limit", None)
    if current is None:
        return {}
    return {"Retry-After": str(max(1, int(current.reset_at - time.time())))}


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    db.session.rollback()
    return error_response(
        error.status, error.code, error.message, fields=error.fields, headers=error.headers
    )


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Response:
    db.session.rollback()
    return domain_error_response(error)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    db.session.rollback()
    return _http_error_response(error)


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _database_unavailable(error: Exception) -> Response:
    # The database went away: 503 service_unavailable with Retry-After (tracker/errors.py).
    from tracker.errors import database_unavailable

    return database_unavailable(error)


@bp.errorhandler(OSError)
def _storage_full(error: OSError) -> Response:
    # A full disk during an upload (the evidence storage, or the spool of the request body):
    # 507 storage_full, nothing kept (tracker/errors.py). Any other OSError is unexpected.
    from tracker.errors import storage_full

    if isinstance(error, StorageFull) or is_out_of_space(error):
        return storage_full(error)
    return _unexpected(error)


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    # Logged with its traceback for the operators; the client gets the code and a plain message.
    log.exception("unexpected error in %s %s", request.method, request.path)
    db.session.rollback()
    return error_response(500)


def _unrouted(app: Flask) -> None:
    """Unknown API addresses and methods are answered in JSON too.

    Flask raises routing errors outside any blueprint, so the blueprint's handlers never see
    them; this app-level hook answers them for paths under the API prefix before the HTML
    error page would.
    """

    @app.before_request
    def api_routing_error() -> Response | None:
        error = request.routing_exception
        if (
            isinstance(error, HTTPException)
            and (error.code or 0) >= 400
            and (request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"))
        ):
            return _http_error_response(error)
        return None


def init_app(app: Flask) -> None:
    _unrouted(app)
