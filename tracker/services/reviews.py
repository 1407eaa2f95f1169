"""Inspectors' decisions on submitted items: approve, or return with a reason.

Separation of duties lives here, not in `permissions`: it depends on the item's history (who
submitted, who uploaded evidence), which the pure permission functions cannot see.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from tracker.models import (
    ChecklistItem,
    Evidence,
    InspectorExclusion,
    ItemStatus,
    Review,
    ReviewDecision,
    Submission,
    User,
)
from tracker.permissions import can_review_item
from tracker.services import audit
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.services.submissions import lock_item

__all__ = ["COMMENT_MAX", "DECISIONS", "decide", "duty_conflict", "reopen"]

COMMENT_MAX = 2000
# The decisions `decide` takes; `reopen` (of an approved item) comes with its own operation.
DECISIONS = (ReviewDecision.APPROVE, ReviewDecision.RETURN)
_OUTCOME = {
    ReviewDecision.APPROVE: (ItemStatus.APPROVED, "item.approved"),
    ReviewDecision.RETURN: (ItemStatus.RETURNED, "item.returned"),
}


def duty_conflict(session: Session, *, actor: User, item: ChecklistItem) -> str | None:
    """Why the actor may not judge this item (he worked on it, or is excluded from its unit)."""
    submitted, uploaded, excluded = session.execute(
        select(
            exists().where(Submission.item_id == item.id, Submission.submitted_by_id == actor.id),
            # Withdrawn evidence counts too: whoever worked on the item does not judge it.
            exists().where(Evidence.item_id == item.id, Evidence.uploaded_by_id == actor.id),
            exists().where(
                InspectorExclusion.inspector_id == actor.id,
                InspectorExclusion.unit_id == item.unit_id,
            ),
        )
    ).one()
    if excluded:
        return str(_l("You are excluded from reviewing this unit's items."))
    if submitted:
        return str(_l("You submitted this item, so another inspector must review it."))
    if uploaded:
        return str(_l("You uploaded evidence to this item, so another inspector must review it."))
    return None


def decide(
    session: Session,
    *,
    actor: User,
    item: ChecklistItem,
    decision: ReviewDecision | str,
    comment: str | None = None,
    now: datetime,
) -> Review:
    """Judge the item's latest submission round: approve it, or return it with a reason."""
    if not can_review_item(actor, item):
        raise PermissionDenied(_l("You may not review this item."))
    lock_item(session, item)
    conflict = duty_conflict(session, actor=actor, item=item)
    if conflict is not None:
        raise PermissionDenied(conflict)
    chosen = ReviewDecision(decision) if decision in set(DECISIONS) else None
    if chosen is None:
        raise ValidationFailed(
            _l("Choose whether to approve or return the item."), field="decision"
        )
    if ItemStatus(item.status) != ItemStatus.SUBMITTED:
        raise InvalidTransition(_l("Only a submitted item can be reviewed."))
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > COMMENT_MAX:
        raise ValidationFailed(
            _l("The comment may be at most %(limit)d characters.", limit=COMMENT_MAX),
            field="comment",
        )
    if chosen == ReviewDecision.RETURN and comment is None:
        raise ValidationFailed(
            _l("Give the reason for returning the item: the unit needs to know what to fix."),
            field="comment",
        )
    submission = _latest_submission(session, item)
    status, action = _OUTCOME[chosen]
    review = Review(
        item_id=item.id,
        submission_id=submission.id,
        reviewer_id=actor.id,
        reviewer=actor,
        decision=chosen,
        comment=comment,
        decided_at=now,
    )
    session.add(review)
    item.status = status
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="checklist_item",
        object_id=item.id,
        data={
            "round": submission.round,
            "submission_id": submission.id,
            "review_id": review.id,
            "reason" if chosen == ReviewDecision.RETURN else "comment": comment,
        },
        at=now,
    )
    return review


def _latest_submission(session: Session, item: ChecklistItem) -> Submission:
    return session.scalars(
        select(Submission)
        .where(Submission.item_id == item.id)
        .order_by(Submission.round.desc())
        .limit(1)
    ).one()


def reopen(
    session: Session, *, actor: User, item: ChecklistItem, reason: str, now: datetime
) -> Review:
    """Send an approved item back to its unit (e.g. a sample re-audit found a problem)."""
    if not can_review_item(actor, item):
        raise PermissionDenied(_l("You may not reopen this item."))
    lock_item(session, item)
    if ItemStatus(item.status) != ItemStatus.APPROVED:
        raise InvalidTransition(_l("Only an approved item can be reopened."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            _l("Give the reason for reopening the item: the unit needs to know what to fix."),
            field="reason",
        )
    if len(reason) > COMMENT_MAX:
        raise ValidationFailed(
            _l("The comment may be at most %(limit)d characters.", limit=COMMENT_MAX),
            field="reason",
        )
    submission = _latest_submission(session, item)
    review = Review(
        item_id=item.id,
        submission_id=submission.id,
        reviewer_id=actor.id,
        reviewer=actor,
        decision=ReviewDecision.REOPEN,
        comment=reason,
        decided_at=now,
    )
    session.add(review)
    item.status = ItemStatus.RETURNED
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="item.reopened",
        object_type="checklist_item",
        object_id=item.id,
        data={"round": submission.round, "review_id": review.id, "reason": reason},
        at=now,
    )
    return review
