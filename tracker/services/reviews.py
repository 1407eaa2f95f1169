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
    EvidenceRemark,
    InspectorExclusion,
    ItemStatus,
    ReturnReasonTemplate,
    Review,
    ReviewDecision,
    Submission,
    User,
)
from tracker.permissions import can_review_item
from tracker.services import audit
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.services.submissions import lock_item

__all__ = ["COMMENT_MAX", "DECISIONS", "REMARK_MAX", "decide", "duty_conflict", "reopen"]

COMMENT_MAX = 2000
REMARK_MAX = 1000  # EvidenceRemark.remark is String(1000)
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
    remarks: dict[int, str] | None = None,
    reason_template_id: int | None = None,
    now: datetime,
) -> Review:
    """Judge the item's latest submission round: approve it, or return it with a reason.

    `remarks` maps evidence ids of the round being judged to the reviewer's remark on each.
    `reason_template_id` stands in for an empty comment: the active template's text in the
    reviewer's language becomes the comment (the review form's script fills the textarea with
    it; without the script the server does the same). A comment that was typed always wins.
    """
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
    template_used = None
    if comment is None and reason_template_id is not None:
        template_used = _active_template(session, reason_template_id)
        comment = template_used.text(actor.locale or "zh_CN")
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
    checked_remarks = _checked_remarks(session, item, submission, remarks or {})
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
    session.add_all(
        EvidenceRemark(review_id=review.id, evidence_id=evidence_id, remark=remark)
        for evidence_id, remark in checked_remarks
    )
    data = {
        "round": submission.round,
        "submission_id": submission.id,
        "review_id": review.id,
        "reason" if chosen == ReviewDecision.RETURN else "comment": comment,
    }
    if template_used is not None:
        data["reason_template_id"] = template_used.id
    if checked_remarks:
        # A list, not a mapping: JSON keys would turn the evidence ids into strings.
        data["remarks"] = [{"evidence_id": e, "remark": r} for e, r in checked_remarks]
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="checklist_item",
        object_id=item.id,
        data=data,
        at=now,
    )
    return review


def _active_template(session: Session, template_id: int) -> ReturnReasonTemplate:
    template = session.get(ReturnReasonTemplate, template_id)
    if template is None or not template.active:
        raise ValidationFailed(
            _l("That reason template is no longer offered. Choose another or write the reason."),
            field="reason_template",
        )
    return template


def _checked_remarks(
    session: Session, item: ChecklistItem, submission: Submission, remarks: dict[int, str]
) -> list[tuple[int, str]]:
    """The remarks as (evidence id, text) in id order, once each is known to be admissible.

    Only evidence the judged round carried may carry a remark: what was frozen with it or with
    an earlier round (a resubmission carries the earlier evidence forward, keeping its first
    round number), not evidence added since, which has not been submitted yet.
    """
    if not remarks:
        return []
    cleaned: list[tuple[int, str]] = []
    for evidence_id, remark in sorted(remarks.items()):
        text = (remark or "").strip()
        if not text:
            raise ValidationFailed(_l("A remark on evidence cannot be empty."), field="remarks")
        if len(text) > REMARK_MAX:
            raise ValidationFailed(
                _l("A remark on evidence may be at most %(limit)d characters.", limit=REMARK_MAX),
                field="remarks",
            )
        cleaned.append((int(evidence_id), text))
    in_round = set(
        session.scalars(
            select(Evidence.id).where(
                Evidence.id.in_([e for e, _text in cleaned]),
                Evidence.item_id == item.id,
                Evidence.submitted_round <= submission.round,
                Evidence.withdrawn_at.is_(None),
            )
        )
    )
    if any(e not in in_round for e, _text in cleaned):
        raise ValidationFailed(
            _l("Remarks can only be made on the evidence of the round under review."),
            field="remarks",
        )
    return cleaned


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
