"""Units of the bureau: sections, stations, brigades, as a tree."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.base import Base, UTCDateTime, str_enum, utcnow


class UnitKind(StrEnum):
    BUREAU = "bureau"
    OFFICE = "office"
    SECTION = "section"
    STATION = "station"
    BRIGADE = "brigade"


class Unit(Base):
    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[UnitKind] = mapped_column(str_enum(UnitKind))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    # Materialised path of ids ("/1/4/"): sub-unit queries become one indexed prefix match.
    path: Mapped[str] = mapped_column(String(255), index=True, default="/")
    active: Mapped[bool] = mapped_column(default=True)
    # The unit's DingTalk group robot (optional second reminder channel). The secret signs each
    # request; it lives in the database, set by an admin, never in the repository.
    dingtalk_webhook: Mapped[str | None] = mapped_column(String(500))
    dingtalk_secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)

    def display_name(self, locale: str) -> str:
        """The unit's name in the given UI locale (English name when set)."""
        if locale.startswith("en") and self.name_en:
            return self.name_en
        return self.name

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"
