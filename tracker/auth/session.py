"""Web sessions: a fresh session at every sign-in, and sign-out after a period without activity.

The session is Flask's signed cookie. Signing in throws the visitor's session away (whatever a
planted or copied cookie carried, its CSRF token included) and starts a new one with its own id;
only the language chosen on the sign-in page is carried over. Each request of a signed-in user
refreshes the time of last activity kept in the session; once `TRACKER_IDLE_MINUTES` have passed
without a request, the next one signs the user out and sends him to the sign-in page. "Remember
me" is the user's explicit wish to stay signed in on that computer: such sessions are not timed
out (the remember cookie still ends after `TRACKER_REMEMBER_DAYS`). Each sign-in is a row of its
own (`services/sign_ins.py`), deleted at sign-out: copies of its cookies stop working then.
"""

from __future__ import annotations

import secrets

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user, user_loaded_from_cookie

from tracker.clock import now
from tracker.extensions import db
from tracker.i18n import SESSION_KEY as LOCALE_KEY
from tracker.models import User
from tracker.services.sign_ins import close_sign_in, open_sign_in

SESSION_ID_KEY = "_sid"
LAST_SEEN_KEY = "_last_seen"
REMEMBERED_KEY = "_remembered"
USER_ID_KEY = "_user_id"  # Flask-Login's keys
REMEMBER_KEY = "_remember"
# The last-activity time is rewritten at most this often (every write re-sends the cookie).
TOUCH_SECONDS = 60


def _epoch() -> int:
    return int(now().timestamp())


def _fresh_session() -> None:
    """Drop everything in the session but the visitor's language (and a pending sign-out)."""
    kept = {key: session[key] for key in (LOCALE_KEY,) if session.get(key)}
    if session.get(REMEMBER_KEY) == "clear":
        # Flask-Login's note to delete the remember cookie at the end of this request: without
        # it the remember cookie would sign the user straight back in.
        kept[REMEMBER_KEY] = "clear"
    session.clear()
    session.update(kept)


def start_session(user: User, *, remember: bool) -> None:
    """Sign the user in on a brand-new session (no fixation: nothing of the old one survives),
    recorded as a sign-in of its own (committed by the view)."""
    _fresh_session()
    open_sign_in(db.session, user=user, now=now())
    login_user(user, remember=remember)
    session[SESSION_ID_KEY] = secrets.token_urlsafe(16)
    session[LAST_SEEN_KEY] = _epoch()
    if remember:
        session[REMEMBERED_KEY] = True


def end_session() -> None:
    """Sign out, end the sign-in (committed by the caller) and forget the session (the
    language stays)."""
    if current_user.is_authenticated:
        close_sign_in(db.session, user=current_user._get_current_object())
    logout_user()
    _fresh_session()


def idle_limit_seconds() -> int:
    minutes = int(current_app.config.get("TRACKER_IDLE_MINUTES") or 0)
    return minutes * 60


def _check_idle():
    """Before each web request: sign out a session idle for too long, else note the activity."""
    if request.blueprint == "api" or request.endpoint in (None, "static", "bootstrap.static"):
        return None  # the API uses tokens, not the session; files are not activity
    if USER_ID_KEY not in session:
        return None
    current = _epoch()
    last_seen = session.get(LAST_SEEN_KEY)
    limit = idle_limit_seconds()
    if (
        limit > 0
        and not session.get(REMEMBERED_KEY)
        and isinstance(last_seen, int)
        and current - last_seen > limit
    ):
        # In the user's own language, worked out while he is still the current user.
        message = _(
            "You were signed out after %(minutes)d minutes without activity. Please sign in again.",
            minutes=limit // 60,
        )
        locale = getattr(current_user, "locale", None) if current_user else None
        end_session()
        db.session.commit()
        if locale:
            session[LOCALE_KEY] = locale  # the sign-in page speaks his language too
        flash(message, "warning")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target))
    if not isinstance(last_seen, int) or abs(current - last_seen) >= TOUCH_SECONDS:
        session[LAST_SEEN_KEY] = current
    return None


def _restored_from_cookie(_app: Flask, user: User) -> None:
    """A session rebuilt from the remember cookie is a remembered one, with its own id."""
    session[SESSION_ID_KEY] = secrets.token_urlsafe(16)
    session[REMEMBERED_KEY] = True
    session[LAST_SEEN_KEY] = _epoch()


def init_app(app: Flask) -> None:
    """Register the idle check (after CSRF, so a stale form is refused as such first)."""
    app.before_request(_check_idle)
    user_loaded_from_cookie.connect(_restored_from_cookie, app)
