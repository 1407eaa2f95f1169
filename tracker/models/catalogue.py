"""The requirement catalogue: one row per duty, with the history of its versions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, UTCDateTime, str_enum, utcnow


class Family(StrEnum):
    PUBLICITY = "publicity"
    RECORDING = "recording"
    LEGAL_REVIEW = "legal_review"
    NORMATIVE_DOCS = "normative_docs"
    ASSESSMENT = "assessment"
    LAW_STUDY = "law_study"
    OTHER = "other"


FAMILY_LABELS = {
    Family.PUBLICITY: _l("Enforcement publicity"),
    Family.RECORDING: _l("Full-process recording"),
    Family.LEGAL_REVIEW: _l("Legal review of major decisions"),
    Family.NORMATIVE_DOCS: _l("Normative documents"),
    Family.ASSESSMENT: _l("Supervision and assessment"),
    Family.LAW_STUDY: _l("Law study"),
    Family.OTHER: _l("Other duties"),
}


class RequirementKind(StrEnum):
    TASK = "task"  # evidence, submitted once per item
    COUNT = "count"  # target_count occurrences per period, each with evidence
    INDICATOR = "indicator"  # a number compared with target_value


class Cadence(StrEnum):
    ANNUAL = "annual"
    SEMIANNUAL = "semiannual"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"
    ONCE = "once"
    EVENT = "event"


CADENCE_LABELS = {
    Cadence.ANNUAL: _l("Annual"),
    Cadence.SEMIANNUAL: _l("Half-yearly"),
    Cadence.QUARTERLY: _l("Quarterly"),
    Cadence.MONTHLY: _l("Monthly"),
    Cadence.ONCE: _l("Once"),
    Cadence.EVENT: _l("Per case"),
}

KIND_LABELS = {
    RequirementKind.TASK: _l("Task"),
    RequirementKind.COUNT: _l("Count"),
    RequirementKind.INDICATOR: _l("Indicator"),
}


class Trigger(StrEnum):
    """The date of a case an event requirement counts from."""

    DECIDED_ON = "decided_on"
    SERVED_ON = "served_on"
    CLOSED_ON = "closed_on"
    REGISTERED_ON = "registered_on"


class AppliesTo(StrEnum):
    ALL = "all"
    MAJOR = "major"  # only cases flagged as a major enforcement decision


class Requirement(Base):
    """One catalogue entry, identified by its code across catalogue versions."""

    __tablename__ = "requirement"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    family: Mapped[Family] = mapped_column(str_enum(Family), index=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(300))
    description_zh: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    kind: Mapped[RequirementKind] = mapped_column(str_enum(RequirementKind))
    cadence: Mapped[Cadence] = mapped_column(str_enum(Cadence))
    trigger: Mapped[Trigger | None] = mapped_column(str_enum(Trigger))
    applies_to: Mapped[AppliesTo | None] = mapped_column(str_enum(AppliesTo))
    deadline_rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence_hint_zh: Mapped[str] = mapped_column(Text)
    evidence_hint_en: Mapped[str] = mapped_column(Text)
    # Unit codes and selectors ("kind:station", "case_unit"), resolved when items are made.
    owners: Mapped[list[str]] = mapped_column(JSON)
    target_count: Mapped[int | None] = mapped_column()
    target_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    target_unit: Mapped[str | None] = mapped_column(String(16))
    target_op: Mapped[str | None] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_event(self) -> bool:
        return self.cadence == Cadence.EVENT

    @property
    def family_label(self) -> object:
        return FAMILY_LABELS[Family(self.family)]

    @property
    def cadence_label(self) -> object:
        return CADENCE_LABELS[Cadence(self.cadence)]

    @property
    def kind_label(self) -> object:
        return KIND_LABELS[RequirementKind(self.kind)]

    def title(self, locale: str) -> str:
        """The title in the UI locale."""
        return self.title_en if locale.startswith("en") else self.title_zh

    def description(self, locale: str) -> str:
        return self.description_en if locale.startswith("en") else self.description_zh

    def evidence_hint(self, locale: str) -> str:
        return self.evidence_hint_en if locale.startswith("en") else self.evidence_hint_zh

    def __repr__(self) -> str:
        return f"<Requirement {self.code} v{self.version}>"


class RequirementVersion(Base):
    """A requirement as it stood at one version: items made with it keep its rule."""

    __tablename__ = "requirement_version"
    __table_args__ = (UniqueConstraint("requirement_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("requirement.id"))
    version: Mapped[int] = mapped_column()
    # The whole entry in catalogue-file form (format 1), so it can be re-exported as it was.
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
