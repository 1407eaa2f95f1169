"""Browser sign-ins: what the session and remember cookies name, so that signing out ends them.

A cookie carries the user's session token (rotated on a password change or deactivation: every
browser of the user is signed out) and the key of one `SignIn` row (deleted when that browser
signs out or idles out: copies of its cookies are refused, the user's other browsers are not).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tracker.models import SignIn, User
from tracker.models.user import SIGN_IN_SEPARATOR, new_sign_in_key


def sign_in_lifetime(config: Mapping[str, Any]) -> timedelta:
    """How long a sign-in lasts at most, however active: as long as a remember cookie."""
    return config["REMEMBER_COOKIE_DURATION"]


def open_sign_in(session: Session, *, user: User, now: datetime) -> None:
    """Record a new sign-in of the user; `user.get_id()` names it from now on."""
    user.sign_in_key = new_sign_in_key()
    session.add(SignIn(key=user.sign_in_key, user_id=user.id, started_at=now))
    session.flush()


def close_sign_in(session: Session, *, user: User) -> None:
    """End the sign-in the user was loaded for (nothing when there is none)."""
    if user.sign_in_key:
        session.execute(delete(SignIn).where(SignIn.key == user.sign_in_key))


def signed_in_user(
    session: Session, cookie_id: str, *, now: datetime, lifetime: timedelta
) -> User | None:
    """The active user a session or remember cookie names, if its sign-in is still open.

    One statement: the user (with his unit) joined with the sign-in, which must be younger
    than `lifetime` however active it is.
    """
    token, _separator, key = cookie_id.partition(SIGN_IN_SEPARATOR)
    if not key:
        return None  # a cookie from before sign-ins were recorded, or forged
    user = session.execute(
        select(User)
        .join(SignIn, SignIn.user_id == User.id)
        .where(
            User.session_token == token,
            User.active,
            SignIn.key == key,
            SignIn.started_at > now - lifetime,
        )
    ).scalar_one_or_none()
    if user is not None:
        user.sign_in_key = key
    return user


def prune_sign_ins(session: Session, *, now: datetime, lifetime: timedelta) -> int:
    """Delete the sign-ins past their lifetime (browsers closed without signing out)."""
    result = session.execute(delete(SignIn).where(SignIn.started_at <= now - lifetime))
    return result.rowcount or 0
