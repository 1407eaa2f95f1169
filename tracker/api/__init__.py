"""The JSON API v1 under /api/v1: personal bearer tokens, JSON errors, an OpenAPI 3.1 document.

Every call acts as the token's user, through the same services and permission functions as the
web pages. Session cookies are never accepted here (so no CSRF token is needed either).
"""

from __future__ import annotations

from flask import Blueprint, Flask

API_PREFIX = "/api/v1"

bp = Blueprint("api", __name__)


def register_api(app: Flask) -> None:
    """Mount the API blueprint, exempt it from CSRF (bearer tokens only) and answer its errors."""
    from tracker.extensions import csrf

    app.register_blueprint(bp, url_prefix=API_PREFIX)
    csrf.exempt(bp)
    errors.init_app(app)


# auth: bearer tokens and the rate limit; the others: routes; openapi: the document and its page.
from tracker.api import (  # noqa: E402,F401
    auth,
    cases,
    dashboard,
    errors,
    evidence,
    items,
    openapi,
)
