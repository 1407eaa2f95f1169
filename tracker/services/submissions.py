"""Sending an item for review: the first submission and every resubmission after a return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tracker.models import (
    ChecklistItem,
    Evidence,
    ItemStatus,
    RequirementKind,
    Submission,
    User,
)
from tracker.models.checklist import OWED_STATUSES
from tracker.permissions import can_work_item
from tracker.services import audit
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed

__all__ = ["NOTE_MAX", "lock_item", "submit"]

NOTE_MAX = 2000


def lock_item(session: Session, item: ChecklistItem) -> ChecklistItem:
    """Re-read the item under a row lock, so two decisions on it cannot both pass their checks.

    PostgreSQL queues a second submitter (or reviewer) here until the first commits, then it sees
    the new status; SQLite serialises writers by itself.
    """
    session.execute(
        select(ChecklistItem)
        .where(ChecklistItem.id == item.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return item


@dataclass(frozen=True)
class _Live:
    """The item's evidence that is not withdrawn (what a round sends for review)."""

    ids: list[int]
    sha256: list[str]
    occurrences: int  # distinct occurrence dates (count requirements)


def _live_evidence(session: Session, item: ChecklistItem) -> _Live:
    rows = session.execute(
        select(Evidence.id, Evidence.blob_sha256, Evidence.occurred_on)
        .where(Evidence.item_id == item.id, Evidence.withdrawn_at.is_(None))
        .order_by(Evidence.id)
    ).all()
    return _Live(
        ids=[r.id for r in rows],
        sha256=[r.blob_sha256 for r in rows if r.blob_sha256],
        occurrences=len({r.occurred_on for r in rows if r.occurred_on is not None}),
    )


def _claimed_value(item: ChecklistItem, live: _Live) -> Decimal | None:
    """What the round claims, or ValidationFailed naming what is missing."""
    requirement = item.requirement
    kind = RequirementKind(requirement.kind)
    if kind == RequirementKind.INDICATOR:
        if item.value is None:
            raise ValidationFailed(
                _l("Enter the measured value of this indicator before submitting it."),
                field="value",
            )
        return Decimal(item.value)
    if kind == RequirementKind.COUNT:
        target = requirement.target_count or 1
        if live.occurrences < target:
            raise ValidationFailed(
                _l(
                    "Evidence of %(target)d occurrences on different dates is required; "
                    "%(done)d so far.",
                    target=target,
                    done=live.occurrences,
                ),
                field="evidence",
            )
        return Decimal(live.occurrences)
    if not live.ids:
        raise ValidationFailed(
            _l("Add at least one piece of evidence before submitting this item."),
            field="evidence",
        )
    return None


def submit(
    session: Session,
    *,
    actor: User,
    item: ChecklistItem,
    note: str | None = None,
    now: datetime,
) -> Submission:
    """Send the item for review as a new round; its current evidence is frozen with it."""
    if not can_work_item(actor, item):
        raise PermissionDenied(_l("You may not submit this item."))
    lock_item(session, item)
    status = ItemStatus(item.status)
    if status == ItemStatus.SUBMITTED:
        raise InvalidTransition(_l("This item has already been submitted and awaits review."))
    if status not in OWED_STATUSES:
        raise InvalidTransition(_l("This item has been approved: it cannot be submitted again."))
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise ValidationFailed(
            _l("The note may be at most %(limit)d characters.", limit=NOTE_MAX), field="note"
        )
    live = _live_evidence(session, item)
    value = _claimed_value(item, live)

    previous = session.scalar(
        select(func.max(Submission.round)).where(Submission.item_id == item.id)
    )
    submission = Submission(
        item_id=item.id,
        round=(previous or 0) + 1,
        submitted_by_id=actor.id,
        submitted_by=actor,
        submitted_at=now,
        note=note,
        value=value,
        evidence_count=len(live.ids),
    )
    session.add(submission)
    # Freeze what goes to review: from now on this evidence cannot be withdrawn. Evidence of an
    # earlier round keeps the round it was first judged in.
    session.execute(
        update(Evidence)
        .where(
            Evidence.item_id == item.id,
            Evidence.withdrawn_at.is_(None),
            Evidence.submitted_round.is_(None),
        )
        .values(submitted_round=submission.round)
        .execution_options(synchronize_session="fetch")
    )
    item.status = ItemStatus.SUBMITTED
    item.last_submitted_at = submission.submitted_at
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="item.submitted",
        object_type="checklist_item",
        object_id=item.id,
        data={
            "round": submission.round,
            "submission_id": submission.id,
            "evidence_ids": live.ids,
            "sha256": live.sha256,
            "value": None if value is None else f"{value.normalize():f}",
            "note": note,
        },
        at=now,
    )
    return submission
