"""Bearer-token authentication and the per-token rate limit of the API.

`Authorization: Bearer trk_...` identifies the user; the session cookie is ignored (a browser
tab signed in to the web pages cannot be made to call the API on its user's behalf). The user
acts with his role and units, exactly as on the web pages.
"""

from __future__ import annotations

from typing import cast

from flask import current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address

from tracker.api import bp
from tracker.api.errors import ApiError
from tracker.clock import now
from tracker.extensions import db, limiter, login_manager
from tracker.models import ApiToken, User
from tracker.services import api_tokens

DEFAULT_RATE_LIMIT = "120 per minute"
# Open without a token: the OpenAPI document and the page that shows it (no ledger data).
PUBLIC_ENDPOINTS = frozenset({"api.openapi_document", "api.docs", "api.docs_asset"})
_REALM = 'Bearer realm="tracker-api"'


def bearer_secret() -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header, if there is one."""
    scheme, _sep, secret = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None


def rate_limit_key() -> str:
    """One budget per presented token (its hash: the secret is not kept even in the limiter)."""
    secret = bearer_secret()
    if secret:
        return "api-token:" + api_tokens.hash_secret(secret)
    return "api-ip:" + get_remote_address()


def _is_public() -> bool:
    return request.endpoint in PUBLIC_ENDPOINTS


# Checked by Flask-Limiter before the token is looked up: a flood costs no database work.
limiter.limit(
    lambda: current_app.config.get("TRACKER_API_RATE_LIMIT") or DEFAULT_RATE_LIMIT,
    key_func=rate_limit_key,
    exempt_when=_is_public,
)(bp)


@bp.before_request
def authenticate() -> None:
    """Identify the token's user, or answer 401 with a WWW-Authenticate challenge."""
    if _is_public():
        return
    # Never the session cookie: until the token is checked the request is anonymous.
    g._login_user = login_manager.anonymous_user()
    secret = bearer_secret()
    if secret is None:
        raise ApiError(401, "unauthorized", headers={"WWW-Authenticate": _REALM})
    token = api_tokens.authenticate(db.session, secret, now=now())
    if token is None:
        raise ApiError(
            401,
            "invalid_token",
            _l("The token is unknown, revoked or expired, or its account is deactivated."),
            headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
        )
    if token in db.session.dirty:
        db.session.commit()  # the last-used time, whatever the request then does
    g.api_token = token
    g.api_user = token.user
    # current_user is the token's user too, so the language and anything else keyed on the
    # signed-in user follow the token, not a cookie sent along.
    g._login_user = token.user


def api_user() -> User:
    """The user the current API request acts for (set by `authenticate`)."""
    return cast(User, g.api_user)


def api_token() -> ApiToken:
    return cast(ApiToken, g.api_token)
