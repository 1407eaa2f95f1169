"""People who sign in: their role, unit, language and sign-in protection."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.base import Base, UTCDateTime, str_enum, utcnow
from tracker.models.unit import Unit


class Role(StrEnum):
    ADMIN = "admin"
    LEADER = "leader"
    INSPECTOR = "inspector"
    CHIEF = "chief"
    STAFF = "staff"


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


SIGN_IN_SEPARATOR = "."  # never in a URL-safe token


class SignIn(Base):
    """One browser signed in: its session and remember cookies carry the key.

    Signing out (or idling out) deletes the row, so a copy of those cookies made before is
    refused from then on; the user's other browsers keep theirs. A sign-in ends at the latest
    after `TRACKER_REMEMBER_DAYS`, however active.
    """

    __tablename__ = "sign_in"

    key: Mapped[str] = mapped_column(String(43), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def new_sign_in_key() -> str:
    return secrets.token_urlsafe(32)  # 43 characters


class User(UserMixin, Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Sessions name the user by this token (and a sign-in's key), not the id: rotating it on a
    # password change or deactivation signs the user out everywhere.
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    failed_logins: Mapped[int] = mapped_column(default=0)
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")

    # The browser sign-in this object was loaded for (not a column): set when signing in and
    # by the session loader, so that Flask-Login stores and checks both keys.
    sign_in_key = None  # str | None; not annotated, which would make it a column

    def get_id(self) -> str:
        """What the session and remember cookies carry: the token and the sign-in's key."""
        return f"{self.session_token}{SIGN_IN_SEPARATOR}{self.sign_in_key or ''}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"
