"""Signing in, lock-out after repeated failures, and password changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import User
from tracker.models.user import new_session_token
from tracker.services import audit
from tracker.services.errors import ValidationFailed
from tracker.services.passwords import (
    MIN_PASSWORD_LENGTH,
    burn_time,
    hash_password,
    verify_password,
)


class SignInOutcome(StrEnum):
    OK = "ok"
    INVALID = "invalid"
    LOCKED = "locked"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class LockoutPolicy:
    """`max_failures` wrong passwords inside `window` are tolerated; the next one locks."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    user: User | None = None
    locked_until: datetime | None = None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.execute(
        select(User).where(User.email == normalise_email(email))
    ).scalar_one_or_none()


def authenticate(
    session: Session, *, email: str, password: str, now: datetime, policy: LockoutPolicy
) -> SignInResult:
    """Check a sign-in attempt, counting failures and locking; every attempt is audited."""
    user = find_user_by_email(session, email)
    if user is None:
        burn_time(password)
        audit.record(
            session,
            actor=None,
            actor_label=normalise_email(email)[:254],
            action="login.failed",
            object_type="user",
            data={"reason": "unknown_email"},
            at=now,
        )
        return SignInResult(SignInOutcome.INVALID)

    if user.locked_until is not None and now < user.locked_until:
        audit.record(
            session,
            actor=user,
            action="login.refused_locked",
            object_type="user",
            object_id=user.id,
            at=now,
        )
        return SignInResult(SignInOutcome.LOCKED, user, user.locked_until)

    if not verify_password(user.password_hash, password):
        return _count_failure(session, user, now=now, policy=policy)

    if not user.active:
        # Told only after a correct password, so the message reveals nothing to a guesser.
        audit.record(
            session,
            actor=user,
            action="login.failed",
            object_type="user",
            object_id=user.id,
            data={"reason": "inactive"},
            at=now,
        )
        return SignInResult(SignInOutcome.INACTIVE, user)

    user.failed_logins = 0
    user.first_failed_at = None
    user.locked_until = None
    user.last_login_at = now
    audit.record(
        session, actor=user, action="login.success", object_type="user", object_id=user.id, at=now
    )
    return SignInResult(SignInOutcome.OK, user)


def _count_failure(
    session: Session, user: User, *, now: datetime, policy: LockoutPolicy
) -> SignInResult:
    if user.first_failed_at is None or now - user.first_failed_at > policy.window:
        user.failed_logins = 0
        user.first_failed_at = now
    user.failed_logins += 1
    audit.record(
        session,
        actor=user,
        action="login.failed",
        object_type="user",
        object_id=user.id,
        data={"reason": "bad_password", "failures": user.failed_logins},
        at=now,
    )
    if user.failed_logins > policy.max_failures:
        user.locked_until = now + policy.lock_for
        user.failed_logins = 0
        user.first_failed_at = None
        audit.record(
            session,
            actor=user,
            action="account.locked",
            object_type="user",
            object_id=user.id,
            data={"until": user.locked_until.isoformat()},
            at=now,
        )
        return SignInResult(SignInOutcome.LOCKED, user, user.locked_until)
    return SignInResult(SignInOutcome.INVALID, user)


def check_new_password(password: str, *, email: str) -> None:
    """Refuse passwords that are too short or equal to the sign-in email."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            _l("The password must be at least %(n)d characters long.", n=MIN_PASSWORD_LENGTH),
            field="new_password",
        )
    if password.strip().lower() == email.lower():
        raise ValidationFailed(
            _l("The password must not be your email address."), field="new_password"
        )


def change_password(
    session: Session, *, user: User, current_password: str, new_password: str, now: datetime
) -> None:
    """Change a user's own password; other sessions of the user are signed out."""
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed(_l("The current password is wrong."), field="current_password")
    check_new_password(new_password, email=user.email)
    user.password_hash = hash_password(new_password)
    user.session_token = new_session_token()
    audit.record(
        session,
        actor=user,
        action="user.password_changed",
        object_type="user",
        object_id=user.id,
        at=now,
    )
    session.flush()
