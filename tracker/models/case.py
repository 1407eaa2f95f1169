"""Enforcement cases: the triggers of event-driven checklist items."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.base import Base, UTCDateTime, utcnow
from tracker.models.unit import Unit

# Case dates an event requirement may count from (Requirement.trigger values).
CASE_DATE_FIELDS = ("decided_on", "served_on", "closed_on", "registered_on")


class Case(Base):
    """One enforcement case (案件) of a unit."""

    # "case" is an SQL keyword.
    __tablename__ = "enforcement_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = mapped_column(String(64), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    decided_on: Mapped[date] = mapped_column(Date, index=True)  # 处罚决定日期
    served_on: Mapped[date | None] = mapped_column(Date)  # 送达日期
    closed_on: Mapped[date | None] = mapped_column(Date)  # 结案日期
    registered_on: Mapped[date | None] = mapped_column(Date)  # 立案日期 (case filing)
    major: Mapped[bool] = mapped_column(default=False)  # 重大执法决定
    party: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")

    def trigger_date(self, trigger: str) -> date | None:
        """The case date an event requirement counts from (None while unknown)."""
        if trigger not in CASE_DATE_FIELDS:
            raise ValueError(f"unknown case trigger {trigger!r}")
        return getattr(self, trigger)

    def __repr__(self) -> str:
        return f"<Case {self.case_no}>"
