"""The holiday calendar kept in the database: special days and the years officially covered."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, UTCDateTime, str_enum
from tracker.services.calendar import DayKind


class Holiday(Base):
    """One day of an official arrangement: a rest day or a make-up working day."""

    __tablename__ = "holiday"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    kind: Mapped[DayKind] = mapped_column(str_enum(DayKind, 8))
    name: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(100))


class HolidayYear(Base):
    """A year whose official arrangement is loaded; years without a row count weekends only."""

    __tablename__ = "holiday_year"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(100))
    # Recorded (with the other years' labels) on every deadline computed from this table.
    version: Mapped[str] = mapped_column(String(100))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    loaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # A fresh random token whenever the year's special days change, set by database triggers on
    # `holiday` (migration 0015) whoever writes them: with the version it identifies the
    # calendar a process built and kept (`holidays.load_calendar`). Random, not a counter, so
    # that two databases (or a rolled-back edit) never show the same token for other days.
    revision: Mapped[str] = mapped_column(String(32), default=lambda: uuid.uuid4().hex)
