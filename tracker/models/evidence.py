"""Evidence on checklist items: uploaded files (bytes kept as content-addressed blobs) and links."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.base import Base, UTCDateTime, str_enum, utcnow
from tracker.models.user import User


class Blob(Base):
    """Stored bytes, addressed by their sha256: the same file uploaded twice is stored once."""

    __tablename__ = "blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(127))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EvidenceKind(StrEnum):
    FILE = "file"
    LINK = "link"


class Evidence(Base):
    """One file or link on an item; never overwritten, withdrawn only before submission."""

    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_item_withdrawn", "item_id", "withdrawn_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_item.id"))
    kind: Mapped[EvidenceKind] = mapped_column(str_enum(EvidenceKind, 8))
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blob.sha256"), index=True)
    original_filename: Mapped[str | None] = mapped_column(String(255))
    safe_filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(127))
    size: Mapped[int | None] = mapped_column(BigInteger)
    url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    # For `count` requirements: the date of the occurrence this evidence proves.
    occurred_on: Mapped[date | None] = mapped_column(Date)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the evidence went to review: from then on it is frozen.
    submitted_round: Mapped[int | None] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    uploaded_by: Mapped[User] = relationship(foreign_keys=[uploaded_by_id], lazy="joined")

    @property
    def display_name(self) -> str:
        return (
            (self.title or self.url or "")
            if self.kind == EvidenceKind.LINK
            else (self.original_filename or self.safe_filename or "")
        )
