"""Error pages (403/404/500 and friends) in the visitor's language."""

from __future__ import annotations

import logging
from contextlib import suppress

from flask import Flask, Response, current_app, g, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from tracker.extensions import db
from tracker.storage.base import StorageFull, is_out_of_space

log = logging.getLogger(__name__)

# Seconds a client is asked to wait when the database cannot be reached.
RETRY_AFTER_SECONDS = 30
DATABASE_ERRORS = (OperationalError, InterfaceError)

# Self-contained: the layout's navigation and user menu would query the unreachable database.
UNAVAILABLE_PAGE = """<!doctype html>
<html lang="{{ lang }}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ code }} · {{ title }}</title>
  {{ bootstrap.load_css() }}
  <link rel="stylesheet" href="{{ url_for('static', filename='css/tracker.css') }}">
</head>
<body>
<main id="main" class="container py-5 text-center">
  <h1 class="display-6">{{ code }} · {{ title }}</h1>
  <p class="lead">{{ message }}</p>
  <a class="btn btn-primary"
     href="{{ request.path if request.method == 'GET' else url_for('main.index') }}">{{ retry }}</a>
</main>
</body>
</html>
"""

ERROR_TEXT = {
    400: (_l("Bad request"), _l("The request could not be understood. Please check and retry.")),
    403: (_l("Access denied"), _l("You do not have permission to open this page.")),
    404: (_l("Page not found"), _l("The page does not exist or you cannot see it.")),
    405: (_l("Method not allowed"), _l("This address does not accept that kind of request.")),
    413: (_l("Too large"), _l("The upload is larger than the allowed maximum.")),
    429: (_l("Too many requests"), _l("Please wait a moment before trying again.")),
    500: (
        _l("Server error"),
        _l(
            "Something went wrong on our side. Nothing was saved; "
            "please try again, and tell the Legal Affairs Section if it "
            "happens again."
        ),
    ),
    503: (_l("Service unavailable"), _l("The service is temporarily unavailable. Please retry.")),
    507: (
        _l("Storage full"),
        _l(
            "The evidence storage is full, so the file was not saved and nothing was recorded. "
            "Please tell the Legal Affairs Section (the administrators), then upload it again."
        ),
    ),
}


def render_error(code: int):
    title, message = ERROR_TEXT.get(code, ERROR_TEXT[500])
    return render_template("errors/error.html", code=code, title=title, message=message), code


def _locale_without_database() -> str:
    """The visitor's language, decided without a query (the database may be unreachable)."""
    languages = current_app.config["LANGUAGES"]
    user = g.get("_login_user")
    state = inspect(user, raiseerr=False) if user is not None else None
    if state is not None:
        # Only an attribute already loaded: reading an expired one would query the database.
        locale = state.dict.get("locale")
        if locale in languages:
            return locale
    with suppress(Exception):
        from flask import session

        if session.get("locale") in languages:
            return session["locale"]
    best = request.accept_languages.best_match(["zh_CN", "zh", "en"])
    if best and best.startswith("en"):
        return "en"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def database_unavailable(error: Exception) -> Response:
    """503 while the database cannot be reached: the request's transaction is dropped whole.

    Nothing of the request is committed: the view commits once, at its end, and this handler
    rolls back what was flushed before the connection failed. The page is self-contained (it
    does not extend the layout, whose navigation would query the database again); API clients
    get the API's JSON error.
    """
    locale = _locale_without_database()
    with suppress(Exception):
        db.session.rollback()
    log.warning(
        "database unavailable during %s %s: %s",
        request.method,
        request.path,
        type(getattr(error, "orig", None) or error).__name__,
    )
    with force_locale(locale):
        message = _(
            "The database cannot be reached at the moment. Nothing of this request was saved; "
            "please try again in a minute."
        )
        if request.path == "/api/v1" or request.path.startswith("/api/v1/"):
            from tracker.api.errors import error_response

            return error_response(
                503,
                "service_unavailable",
                message,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        # Rendered without the context processors: they read the signed-in user (a query).
        html = current_app.jinja_env.from_string(UNAVAILABLE_PAGE).render(
            request=request,
            code=503,
            lang="en" if locale == "en" else "zh-CN",
            title=_("Service unavailable"),
            message=message,
            retry=_("Try again"),
        )
    response = Response(html, status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def out_of_space(error: OSError) -> Response:
    """ENOSPC outside the storage (the request body spooled to a temporary file): as a full
    storage. Every other OSError stays an unexpected error (500)."""
    if not is_out_of_space(error):
        raise error
    return storage_full(error)


def storage_full(error: OSError) -> Response:
    """507 when an upload meets a full disk: the storage removed the partial file, and the
    request's transaction (no evidence row, no audit event) is rolled back."""
    log.error("evidence storage full during %s %s: %s", request.method, request.path, error)
    db.session.rollback()
    if request.path == "/api/v1" or request.path.startswith("/api/v1/"):
        from tracker.api.errors import error_response

        return error_response(507, "storage_full", ERROR_TEXT[507][1])
    return render_error(507)


def register_error_handlers(app: Flask) -> None:
    for error_class in DATABASE_ERRORS:
        app.register_error_handler(error_class, database_unavailable)
    app.register_error_handler(StorageFull, storage_full)
    app.register_error_handler(OSError, out_of_space)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code in ERROR_TEXT:
            return render_error(error.code)
        return error

    @app.errorhandler(500)
    def server_error(_error: Exception):
        # A failed request must not leave half a transaction behind for the next one.
        db.session.rollback()
        return render_error(500)
