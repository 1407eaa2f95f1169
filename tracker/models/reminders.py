"""Reminder rules (one bureau-wide row, edited by admins) and each user's reminder choices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, UTCDateTime, utcnow

# The rules of issue 6, used while no admin has saved the policy (no row yet).
DEFAULT_BEFORE_DUE: tuple[int, ...] = (7, 3, 1, 0)
DEFAULT_OVERDUE_EVERY = 2
DEFAULT_ESCALATE_CHIEF_AFTER = 3
DEFAULT_ESCALATE_LEADERS_AFTER = 10
DEFAULT_REVIEW_WAITING_AFTER = 3

POLICY_ID = 1  # the single row


class ReminderPolicy(Base):
    """When reminders go out, in working days of the statutory calendar."""

    __tablename__ = "reminder_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Working days before the due date on which the assignee is reminded (0 = on the due date).
    before_due_working_days: Mapped[list[Any]] = mapped_column(
        JSON, default=lambda: list(DEFAULT_BEFORE_DUE)
    )
    overdue_every_working_days: Mapped[int] = mapped_column(default=DEFAULT_OVERDUE_EVERY)
    escalate_chief_after: Mapped[int] = mapped_column(default=DEFAULT_ESCALATE_CHIEF_AFTER)
    escalate_leaders_after: Mapped[int] = mapped_column(default=DEFAULT_ESCALATE_LEADERS_AFTER)
    review_waiting_after: Mapped[int] = mapped_column(default=DEFAULT_REVIEW_WAITING_AFTER)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    @classmethod
    def defaults(cls) -> ReminderPolicy:
        """An unsaved policy holding the default rules."""
        return cls(
            id=POLICY_ID,
            before_due_working_days=list(DEFAULT_BEFORE_DUE),
            overdue_every_working_days=DEFAULT_OVERDUE_EVERY,
            escalate_chief_after=DEFAULT_ESCALATE_CHIEF_AFTER,
            escalate_leaders_after=DEFAULT_ESCALATE_LEADERS_AFTER,
            review_waiting_after=DEFAULT_REVIEW_WAITING_AFTER,
        )


class NotificationPreference(Base):
    """Which optional reminders a user receives; no row means all of them.

    Escalations are not listed: they are meant for the chief and the leaders, not for the person
    who let the item slip, so nobody can turn them off.
    """

    __tablename__ = "notification_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    before_due: Mapped[bool] = mapped_column(default=True)
    overdue: Mapped[bool] = mapped_column(default=True)
    review_waiting: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
