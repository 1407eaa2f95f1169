"""The inspectors' review queue: submitted items, oldest submission first.

One query shape serves the queue page, the waiting count in the navigation and the "next item"
after a decision, so all three agree on what an inspector has to review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g
from flask_login import current_user
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from tracker.extensions import db
from tracker.models import (
    ChecklistItem,
    InspectorExclusion,
    ItemStatus,
    Requirement,
    User,
)
from tracker.permissions import Permission, has_permission
from tracker.services.ledger import last_submitted_at


@dataclass(frozen=True)
class QueueFilters:
    unit_id: int | None = None
    family: str | None = None
    period: str | None = None
    submitted_before: datetime | None = None


def queue_statement(user: User, filters: QueueFilters = QueueFilters()) -> Select[Any]:
    """SELECT of the waiting items in queue order (unit, requirement and case loaded with them)."""
    # The latest round's time is kept on the item (indexed with the status): the order costs no
    # lookup of the submissions, whatever their number.
    submitted_at = last_submitted_at()
    stmt = (
        select(ChecklistItem)
        .join(ChecklistItem.requirement)
        .options(
            contains_eager(ChecklistItem.requirement),
            joinedload(ChecklistItem.unit),
            joinedload(ChecklistItem.case),
        )
        .where(ChecklistItem.status == ItemStatus.SUBMITTED)
        # Units the inspector is excluded from are someone else's to review.
        .where(
            ChecklistItem.unit_id.not_in(
                select(InspectorExclusion.unit_id).where(InspectorExclusion.inspector_id == user.id)
            )
        )
    )
    if filters.unit_id:
        stmt = stmt.where(ChecklistItem.unit_id == filters.unit_id)
    if filters.family:
        stmt = stmt.where(Requirement.family == filters.family)
    if filters.period:
        stmt = stmt.where(ChecklistItem.period.startswith(filters.period, autoescape=True))
    if filters.submitted_before is not None:
        stmt = stmt.where(submitted_at < filters.submitted_before)
    return stmt.order_by(submitted_at, ChecklistItem.id)


def waiting_count(session: Session, user: User) -> int | None:
    """Items waiting for this reviewer (None for users who do not review)."""
    if not has_permission(user, Permission.REVIEW_ITEMS):
        return None
    counted = queue_statement(user).order_by(None).options().with_only_columns(func.count())
    return session.scalar(counted) or 0


def next_in_queue(session: Session, user: User, *, after: ChecklistItem) -> ChecklistItem | None:
    """The oldest waiting item other than the one just decided."""
    stmt = queue_statement(user).where(ChecklistItem.id != after.id)
    return session.scalars(stmt.limit(1)).first()


def waiting_in_this_request() -> int | None:
    """`waiting_count` for the signed-in user, counted once per request: the menu shows it and
    the unfiltered review queue uses it as its total."""
    if not getattr(current_user, "is_authenticated", False):
        return None
    if "review_waiting" not in g:
        g.review_waiting = waiting_count(db.session, current_user)
    return g.review_waiting
