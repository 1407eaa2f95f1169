"""Submission rounds, inspectors' reviews of them, and discussion comments on items."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.base import Base, UTCDateTime, str_enum, utcnow
from tracker.models.user import User


class Submission(Base):
    """One round of an item sent for review: round 1, then 2 after a return, and so on."""

    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("item_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_item.id"), index=True)
    round: Mapped[int] = mapped_column()
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    # What was claimed in this round (indicator value; occurrences counted for `count` items).
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    evidence_count: Mapped[int] = mapped_column(default=0)

    submitted_by: Mapped[User] = relationship(lazy="joined")


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    RETURN = "return"
    REOPEN = "reopen"  # an approved item sent back after the fact (e.g. by a sample re-audit)


class Review(Base):
    """An inspector's decision on one submission round (or a reopening of an approved item)."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_item.id"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    decision: Mapped[ReviewDecision] = mapped_column(str_enum(ReviewDecision, 8))
    comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    reviewer: Mapped[User] = relationship(lazy="joined")


class EvidenceRemark(Base):
    """An inspector's remark on one piece of evidence within a review."""

    __tablename__ = "evidence_remark"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"), index=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), index=True)
    remark: Mapped[str] = mapped_column(String(1000))


class Comment(Base):
    """Discussion on an item between the unit and the inspectors."""

    __tablename__ = "comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_item.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User] = relationship(lazy="joined")
