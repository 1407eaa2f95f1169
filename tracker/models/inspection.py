"""Inspectors' tools: return-reason templates, unit exclusions and random-sample re-audits."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.base import Base, UTCDateTime, str_enum, utcnow
from tracker.models.checklist import ChecklistItem
from tracker.models.unit import Unit
from tracker.models.user import User


class ReturnReasonTemplate(Base):
    """A reason an inspector often gives when returning an item; admins maintain the list."""

    __tablename__ = "return_reason_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    text_zh: Mapped[str] = mapped_column(String(500))
    text_en: Mapped[str] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def text(self, locale: str) -> str:
        return self.text_en if locale.startswith("en") else self.text_zh


class InspectorExclusion(Base):
    """An inspector kept from reviewing one unit's items (e.g. the unit he comes from)."""

    __tablename__ = "inspector_exclusion"
    __table_args__ = (UniqueConstraint("inspector_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    unit: Mapped[Unit] = relationship(lazy="joined")


class SampleResult(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    PROBLEM = "problem"  # the re-audit found a problem: the item was reopened


class AuditSample(Base):
    """One random draw (双随机) of approved items, recorded so that it can be reproduced."""

    __tablename__ = "audit_sample"

    id: Mapped[int] = mapped_column(primary_key=True)
    seed: Mapped[str] = mapped_column(String(64))
    # What was asked: {"size": 10} or {"percent": 5}, and the filters (period, family, unit_id).
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    population: Mapped[int] = mapped_column()
    # sha256 of the sorted population ids: shows later that a redraw used the same population.
    population_hash: Mapped[str] = mapped_column(String(64))
    drawn_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    drawn_by: Mapped[User] = relationship(lazy="joined")


class AuditSampleItem(Base):
    """One sampled item and the result of its re-audit."""

    __tablename__ = "audit_sample_item"
    __table_args__ = (UniqueConstraint("sample_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("audit_sample.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_item.id"), index=True)
    position: Mapped[int] = mapped_column()  # order of the draw
    result: Mapped[SampleResult] = mapped_column(
        str_enum(SampleResult, 12), default=SampleResult.PENDING
    )
    note: Mapped[str | None] = mapped_column(Text)
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    item: Mapped[ChecklistItem] = relationship()
    checked_by: Mapped[User | None] = relationship()
