"""Error pages (403/404/500 and friends) in the visitor's language."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from tracker.extensions import db

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
}


def render_error(code: int):
    title, message = ERROR_TEXT.get(code, ERROR_TEXT[500])
    return render_template("errors/error.html", code=code, title=title, message=message), code


def register_error_handlers(app: Flask) -> None:
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
