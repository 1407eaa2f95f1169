"""Checklist items: one requirement for one unit and one period, or one case."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    and_,
    event,
    select,
)
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.base import Base, UTCDateTime, str_enum, utcnow
from tracker.models.case import Case
from tracker.models.catalogue import Family, Requirement, RequirementVersion
from tracker.models.unit import Unit

if TYPE_CHECKING:
    from tracker.models.user import User


class ItemStatus(StrEnum):
    """Stored states; "overdue" is derived from the due date, never stored."""

    OPEN = "open"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    APPROVED = "approved"


# States in which the unit still owes the work: they can be overdue and their deadline moves.
OWED_STATUSES = (ItemStatus.OPEN, ItemStatus.RETURNED)

STATUS_LABELS = {
    ItemStatus.OPEN: _l("Open"),
    ItemStatus.SUBMITTED: _l("Submitted"),
    ItemStatus.RETURNED: _l("Returned"),
    ItemStatus.APPROVED: _l("Approved"),
}


def case_scope_key(case_id: int) -> str:
    """The scope key of a case's items."""
    return f"case:{case_id}"


# The columns of an item the reminder pass reads beside its key (`reminders.planning`).
REMINDER_READS = ("unit_id", "assignee_id", "requirement_id", "case_id", "period")


class ChecklistItem(Base):
    __tablename__ = "checklist_item"
    __table_args__ = (
        # One item per requirement, unit and scope (a period code or "case:<id>"); a plain
        # NOT NULL key works the same on every database, unlike a constraint over nullable
        # period and case columns.
        UniqueConstraint("requirement_id", "unit_id", "scope_key"),
        # Items keep the rule of the version they were made with: that version must exist.
        ForeignKeyConstraint(
            ["requirement_id", "requirement_version"],
            ["requirement_version.requirement_id", "requirement_version.version"],
            name="fk_checklist_item_requirement_version",
        ),
        Index("ix_checklist_item_unit_status_due", "unit_id", "status", "due_date"),
        # Owed items by due date and waiting ones by submission time, with what the reminder
        # pass reads of them: a city's pass reads them from the index alone (migration 0018).
        Index("ix_checklist_item_status_due", "status", "due_date", "id", *REMINDER_READS),
        Index(
            "ix_checklist_item_status_submitted",
            "status",
            "last_submitted_at",
            "id",
            "due_date",
            *REMINDER_READS,
        ),
        Index("ix_checklist_item_provisional_status", "due_provisional", "status"),
        # A year's page in due order; a unit subtree's year; owed or late items of a year
        # (migration 0012).
        Index("ix_checklist_item_year_due", "year", "due_date"),
        Index("ix_checklist_item_unit_year", "unit_id", "year", "status", "due_date"),
        Index(
            "ix_checklist_item_status_year",
            "status",
            "year",
            "due_date",
            "unit_id",
            "requirement_id",
        ),
        Index("ix_checklist_item_due_date", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("requirement.id"))
    requirement_version: Mapped[int] = mapped_column()
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    period: Mapped[str | None] = mapped_column(String(8), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("enforcement_case.id"), index=True)
    scope_key: Mapped[str] = mapped_column(String(32))
    due_date: Mapped[date] = mapped_column(Date)
    # Computed without an official holiday table for some year of the count: recomputed later.
    due_provisional: Mapped[bool] = mapped_column(default=False)
    due_basis_zh: Mapped[str] = mapped_column(String(500))
    due_basis_en: Mapped[str] = mapped_column(String(500))
    calendar_version: Mapped[str] = mapped_column(String(255))
    status: Mapped[ItemStatus] = mapped_column(str_enum(ItemStatus), default=ItemStatus.OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    # Made for a case recorded after the item's deadline had passed (e.g. a legal review that
    # should have preceded a decision already taken): flagged for the inspectors.
    created_overdue: Mapped[bool] = mapped_column(default=False)
    # When the latest round was sent for review (None before the first): the review queue's
    # order and "on time" (an approved item's latest round is the approved one) read it
    # instead of looking up the submissions of every item (migration 0011).
    last_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Its bureau-local date, kept with it (see below): "approved on time" compares it with the
    # due date inside the row, which the item tally's triggers can do (migration 0012).
    last_submitted_on: Mapped[date | None] = mapped_column(Date)
    # The year the item counts in: its period's year, or its case's decision year (kept by
    # the case service when the decision date moves). Filters and the tally use it.
    year: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    requirement: Mapped[Requirement] = relationship()
    unit: Mapped[Unit] = relationship()
    case: Mapped[Case | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    # The catalogue entry as it stood when the item was made (read-only: the two ids above own it).
    rule_version: Mapped[RequirementVersion] = relationship(viewonly=True)

    @hybrid_method
    def is_overdue(self, today: date) -> bool:
        """Due date passed while the unit still owes the work."""
        return self.status in OWED_STATUSES and self.due_date < today

    @is_overdue.expression
    @classmethod
    def _is_overdue_expression(cls, today: date) -> Any:
        return and_(cls.status.in_([s.value for s in OWED_STATUSES]), cls.due_date < today)

    @hybrid_property
    def approved_on_time(self) -> bool:
        """Approved, and its approved (latest) round was sent by the end of the due date."""
        return (
            self.status == ItemStatus.APPROVED
            and self.last_submitted_on is not None
            and self.last_submitted_on <= self.due_date
        )

    @approved_on_time.inplace.expression
    @classmethod
    def _approved_on_time_expression(cls) -> Any:
        return and_(cls.status == ItemStatus.APPROVED, cls.last_submitted_on <= cls.due_date)

    def due_basis(self, locale: str) -> str:
        """How the due date was computed, in the UI locale."""
        return self.due_basis_en if locale.startswith("en") else self.due_basis_zh

    @property
    def scope_label(self) -> str:
        """The period code, or the case number for case items."""
        if self.case is not None:
            return self.case.case_no
        return self.period or ""

    def __repr__(self) -> str:
        return f"<ChecklistItem {self.id} req={self.requirement_id} {self.scope_key}>"


def item_year(period: str | None, decided_on: date | None) -> int | None:
    """The year an item counts in: its period's, else its case's decision year."""
    if period:
        return int(period[:4])
    return decided_on.year if decided_on is not None else None


@event.listens_for(ChecklistItem.last_submitted_at, "set")
def _keep_local_submission_date(
    target: ChecklistItem, value: datetime | None, _old: Any, _initiator: Any
) -> None:
    from tracker.clock import get_clock  # the clock needs the app; models load before it

    target.last_submitted_on = None if value is None else get_clock().local(value).date()


@event.listens_for(ChecklistItem, "before_insert")
def _fill_year(_mapper: Any, connection: Any, target: ChecklistItem) -> None:
    """Items made one at a time (bulk inserts set the year themselves, see checklist.item_row)."""
    if target.year is not None:
        return
    decided_on = None
    if target.period is None and target.case_id is not None:
        decided_on = connection.scalar(select(Case.decided_on).where(Case.id == target.case_id))
    target.year = item_year(target.period, decided_on)


class ItemTally(Base):
    """How many items there are per (year, unit, requirement, status), and how many of them
    were approved on time.

    Written only by the database's triggers on checklist_item (migration 0012), never by the
    application: the counts of the checklist and the API read it instead of counting a year's
    items (the dashboard reads its sums per unit and family, `UnitFamilyTally`). `tracker
    verify` recounts it.
    """

    __tablename__ = "item_tally"
    __table_args__ = (
        # A unit subtree's rows (the key leads with the year), covering the sums.
        Index(
            "ix_item_tally_unit", "unit_id", "year", "status", "requirement_id", "items", "on_time"
        ),
        # A year's rows, covering the sums: the counts of a viewer who sees every unit (on
        # PostgreSQL, 14 ms for a city's year against 22 through the units' index).
        Index("ix_item_tally_year_family_status", "year", "family", "status", "items", "on_time"),
    )

    year: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("requirement.id"), primary_key=True)
    status: Mapped[ItemStatus] = mapped_column(str_enum(ItemStatus), primary_key=True)
    family: Mapped[Family] = mapped_column(str_enum(Family))  # the requirement's, kept with it
    items: Mapped[int] = mapped_column()
    on_time: Mapped[int] = mapped_column()


class UnitFamilyTally(Base):
    """The item tally summed per (year, unit, family, status): what the dashboard draws.

    Kept by the database's triggers on item_tally (migration 0014), never by the application.
    A city's year has ~27,000 tally rows (a unit's requirements x statuses) but ~6,000 of
    these, so the dashboard's family totals and unit rows read a quarter of the rows. Rows
    fall to zero rather than disappear. `tracker verify` recounts it.
    """

    __tablename__ = "unit_family_tally"
    __table_args__ = (
        # A year's rows per family and status (the bureau's family totals). Not covering the
        # counts: an update that changes no indexed column stays on its page (HOT), and an
        # import of thousands of items in one transaction updates the same rows again and
        # again (with the counts indexed, importing 1,000 cases took 4.8 s instead of 2.9).
        Index("ix_unit_family_tally_family", "year", "family", "status"),
    )

    # The key leads with (year, unit): a page of units' rows, and whether a unit has any.
    year: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    family: Mapped[Family] = mapped_column(str_enum(Family), primary_key=True)
    status: Mapped[ItemStatus] = mapped_column(str_enum(ItemStatus), primary_key=True)
    items: Mapped[int] = mapped_column()
    on_time: Mapped[int] = mapped_column()
