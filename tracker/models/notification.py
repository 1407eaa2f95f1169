"""The outbox: reminder digests waiting to be sent, being sent, sent or given up on.

The reminder pass writes rows; dispatchers claim, send and mark them. The unique key
(channel, recipient, date, kind) makes a second pass for the same day write nothing new, and the
atomic claim makes two dispatchers never send one row twice.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.base import Base, UTCDateTime, str_enum, utcnow
from tracker.models.unit import Unit
from tracker.models.user import User


class NotificationChannel(StrEnum):
    EMAIL = "email"
    DINGTALK = "dingtalk"  # a unit's group robot


class NotificationKind(StrEnum):
    DIGEST = "digest"  # the recipient's own items: overdue first, then due soon
    ESCALATION_CHIEF = "escalation_chief"  # unit items overdue > N working days, to the chief
    ESCALATION_LEADERS = "escalation_leaders"  # overdue > M working days, to admins and leaders
    REVIEW_WAITING = "review_waiting"  # submissions waiting too long, to inspectors
    UNIT_DIGEST = "unit_digest"  # a unit's items, posted to its DingTalk group


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENDING = "sending"  # claimed by a dispatcher
    SENT = "sent"
    FAILED = "failed"  # gave up after the last retry; an admin may retry it


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("channel", "recipient_key", "digest_date", "kind"),
        Index("ix_notification_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[NotificationChannel] = mapped_column(str_enum(NotificationChannel, 16))
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind, 32))
    # "user:12" or "unit:3": one NOT NULL column keeps the unique key portable across databases.
    recipient_key: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    address: Mapped[str | None] = mapped_column(String(320))  # the email address when written
    digest_date: Mapped[date] = mapped_column(Date)  # the bureau's local date of the pass
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)  # plain text; markdown for DingTalk
    body_html: Mapped[str | None] = mapped_column(Text)
    item_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[NotificationStatus] = mapped_column(
        str_enum(NotificationStatus, 16), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    recipient: Mapped[User | None] = relationship()
    unit: Mapped[Unit | None] = relationship()
