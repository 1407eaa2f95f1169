"""Submitting an item for review, resubmitting after a return, comments, reviews, reopening
and history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response

from tracker.clock import now
from tracker.extensions import db
from tracker.guards import authorize, requires
from tracker.items import bp
from tracker.items.page import item_panel
from tracker.items.workflow_forms import (
    REMARK_PREFIX,
    CommentForm,
    ReopenForm,
    ReviewForm,
    SubmitItemForm,
)
from tracker.models import (
    ChecklistItem,
    Comment,
    Evidence,
    EvidenceRemark,
    ItemStatus,
    RequirementKind,
    ReturnReasonTemplate,
    Review,
    ReviewDecision,
    Submission,
    User,
)
from tracker.models.checklist import OWED_STATUSES
from tracker.permissions import Permission, can_review_item, can_see_unit, can_work_item
from tracker.review.queue import next_in_queue
from tracker.services import comments as comment_service
from tracker.services import reviews as review_service
from tracker.services import submissions as submission_service
from tracker.services.errors import DomainError, PermissionDenied
from tracker.services.history import item_history
from tracker.services.reviews import REMARK_MAX

T = TypeVar("T")

COMMENTS_SHOWN = 100
HISTORY_SHOWN = 100
TEMPLATES_OFFERED = 200  # the admins' list of return reasons is short; this keeps it bounded

DECISION_LABELS = {
    ReviewDecision.APPROVE: _l("Approved"),
    ReviewDecision.RETURN: _l("Returned"),
    ReviewDecision.REOPEN: _l("Reopened"),
}

# Audit actions shown in an item's history; an unknown code is shown as it is.
ACTION_LABELS = {
    "item.created": _l("Item created"),
    "item.assigned": _l("Assigned"),
    "evidence.added": _l("Evidence added"),
    "evidence.withdrawn": _l("Evidence withdrawn"),
    "item.submitted": _l("Submitted for review"),
    "item.approved": _l("Approved"),
    "item.returned": _l("Returned for rework"),
    "item.reopened": _l("Reopened"),
    "item.commented": _l("Commented"),
    "item.deadline_recomputed": _l("Deadline recomputed"),
    "item.value_set": _l("Value recorded"),
}


# ---------------------------------------------------------------- the panel


@dataclass
class Round:
    """One submission round and the decisions taken on it (usually one; none while pending)."""

    submission: Submission
    reviews: list[Review] = field(default_factory=list)


@dataclass(frozen=True)
class RemarkRow:
    """A reviewer's remark on one piece of evidence, shown under the review in #rounds."""

    evidence_id: int
    evidence_name: str
    remark: str


@dataclass
class HistoryEntry:
    occurred_at: datetime
    actor: str
    action: str
    label: str
    detail: str


@dataclass
class WorkflowPanel:
    rounds: list[Round]
    comments: list[Comment]
    older_comments: bool  # more comments exist than are shown
    history: list[HistoryEntry]
    return_reason: Review | None  # the latest return, shown at the top while the item is returned
    can_submit: bool
    can_review: bool
    can_comment: bool
    can_reopen: bool
    review_conflict: str | None  # why this reviewer may not judge the item
    submit_form: SubmitItemForm
    review_form: ReviewForm
    reopen_form: ReopenForm
    comment_form: CommentForm
    value_unit: str  # shown after indicator values
    remarks: dict[int, list[RemarkRow]]  # review id -> its remarks on evidence
    # For the review form: the active reason templates and the evidence of the round under review.
    reason_templates: list[ReturnReasonTemplate] = field(default_factory=list)
    round_evidence: list[Evidence] = field(default_factory=list)
    remark_max: int = REMARK_MAX


def format_value(value: Decimal | None) -> str:
    """12.5000 → 12.5; the trailing zeros of Numeric(14, 4) mean nothing to a reader."""
    if value is None:
        return ""
    return f"{Decimal(value).normalize():f}"


def _history_detail(action: str, data: dict[str, Any]) -> str:
    parts: list[str] = []
    if isinstance(data.get("round"), int):
        parts.append(_("Round %(round)d", round=data["round"]))
    for key in ("reason", "comment", "body"):
        if data.get(key):
            parts.append(str(data[key]))
    if action == "item.value_set" and data.get("new") is not None:
        parts.append(str(data["new"]))
    if action == "item.deadline_recomputed":
        old, new = data.get("old") or {}, data.get("new") or {}
        if old.get("due") and new.get("due"):
            parts.append(f"{old['due']} → {new['due']}")
    return " · ".join(parts)


def _history(item: ChecklistItem) -> list[HistoryEntry]:
    rows = item_history(db.session, item, limit=HISTORY_SHOWN)
    return [
        HistoryEntry(
            occurred_at=event.occurred_at,
            actor=name or event.actor_label,
            action=event.action,
            label=str(ACTION_LABELS.get(event.action, event.action)),
            detail=_history_detail(event.action, event.data or {}),
        )
        for event, name in rows
    ]


def _remarks(item: ChecklistItem) -> dict[int, list[RemarkRow]]:
    """Every remark of every review of the item, in one query."""
    rows = db.session.execute(
        select(EvidenceRemark, Evidence)
        .join(Review, Review.id == EvidenceRemark.review_id)
        .join(Evidence, Evidence.id == EvidenceRemark.evidence_id)
        .where(Review.item_id == item.id)
        .order_by(EvidenceRemark.review_id, Evidence.uploaded_at, Evidence.id)
    ).all()
    remarks: dict[int, list[RemarkRow]] = {}
    for remark, evidence in rows:
        remarks.setdefault(remark.review_id, []).append(
            RemarkRow(evidence.id, evidence.display_name, remark.remark)
        )
    return remarks


def _review_form_context(
    item: ChecklistItem, latest: Submission | None
) -> tuple[list[ReturnReasonTemplate], list[Evidence]]:
    """What only a reviewer's form needs: the reason templates and the round's evidence."""
    templates = list(
        db.session.scalars(
            select(ReturnReasonTemplate)
            .where(ReturnReasonTemplate.active)
            .order_by(ReturnReasonTemplate.position, ReturnReasonTemplate.id)
            .limit(TEMPLATES_OFFERED)
        )
    )
    if latest is None:
        return templates, []
    evidence = db.session.scalars(
        select(Evidence)
        .where(
            Evidence.item_id == item.id,
            Evidence.submitted_round <= latest.round,  # what the round carried (see reviews)
            Evidence.withdrawn_at.is_(None),
        )
        .order_by(Evidence.uploaded_at, Evidence.id)
    ).all()
    return templates, list(evidence)


@item_panel
def workflow_panel(item: ChecklistItem) -> dict[str, Any]:
    """Context for templates/items/_workflow_panel.html on the item page.

    A fixed number of queries whatever the number of rounds, comments and events.
    """
    session = db.session
    user = current_user._get_current_object()
    submissions = session.scalars(
        select(Submission).where(Submission.item_id == item.id).order_by(Submission.round)
    ).all()
    rounds = {s.id: Round(s) for s in submissions}
    reviews = session.scalars(
        select(Review).where(Review.item_id == item.id).order_by(Review.decided_at, Review.id)
    ).all()
    for review in reviews:
        if review.submission_id in rounds:
            rounds[review.submission_id].reviews.append(review)
    latest_comments = session.scalars(
        select(Comment)
        .where(Comment.item_id == item.id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(COMMENTS_SHOWN + 1)
    ).all()

    status = ItemStatus(item.status)
    return_reason = None
    if status == ItemStatus.RETURNED:
        return_reason = next(
            (r for r in reversed(reviews) if r.decision != ReviewDecision.APPROVE), None
        )
    may_review = can_review_item(user, item) and status == ItemStatus.SUBMITTED
    conflict = review_service.duty_conflict(session, actor=user, item=item) if may_review else None
    review_form = ReviewForm()
    templates: list[ReturnReasonTemplate] = []
    round_evidence: list[Evidence] = []
    if may_review and conflict is None:
        templates, round_evidence = _review_form_context(
            item, submissions[-1] if submissions else None
        )
    requirement = item.requirement
    panel = WorkflowPanel(
        rounds=list(rounds.values()),
        comments=list(reversed(latest_comments[:COMMENTS_SHOWN])),
        older_comments=len(latest_comments) > COMMENTS_SHOWN,
        history=_history(item),
        return_reason=return_reason,
        can_submit=can_work_item(user, item) and status in OWED_STATUSES,
        can_review=may_review and conflict is None,
        can_comment=user.active and can_see_unit(user, item.unit),
        can_reopen=status == ItemStatus.APPROVED and can_review_item(user, item),
        review_conflict=conflict,
        submit_form=SubmitItemForm(),
        review_form=review_form,
        reopen_form=ReopenForm(),
        comment_form=CommentForm(),
        value_unit=(
            requirement.target_unit or ""
            if RequirementKind(requirement.kind) == RequirementKind.INDICATOR
            else ""
        ),
        remarks=_remarks(item),
        reason_templates=templates,
        round_evidence=round_evidence,
    )
    return {
        "workflow": panel,
        "decision_labels": DECISION_LABELS,
        "format_value": format_value,
    }


# ---------------------------------------------------------------- the actions


def _visible(item: ChecklistItem) -> ChecklistItem:
    """Another unit's item is as absent as a missing one (404 before any 403)."""
    if not can_see_unit(current_user, item.unit):
        abort(404)
    return item


def _back(item: ChecklistItem):
    return redirect(url_for("items.detail", item_id=item.id), code=303)


def _flash_form_errors(form: FlaskForm) -> None:
    for errors in form.errors.values():
        for message in errors:
            flash(str(message), "danger")


def _submitted_remarks() -> dict[int, str]:
    """The non-empty remark-<evidence id> fields of the review form (blank ones mean no remark)."""
    remarks: dict[int, str] = {}
    for name, value in request.form.items():
        key = name.removeprefix(REMARK_PREFIX)
        if key != name and key.isdigit() and value.strip():
            remarks[int(key)] = value
    return remarks


def _refused(error: PermissionDenied):
    """403 with the service's reason (e.g. separation of duties), nothing written."""
    db.session.rollback()
    page = render_template(
        "errors/error.html", code=403, title=_("Access denied"), message=error.message
    )
    return make_response(page, 403)


def _failed(item: ChecklistItem, error: DomainError):
    db.session.rollback()
    flash(str(error.message), "danger")
    return _back(item)


def _act(item: ChecklistItem, form: FlaskForm, action: Callable[[User], T]) -> T | Response:
    """Validate the form, call the service as the current user; on refusal nothing is written.

    Returns the service's result (the caller commits and answers), or the response to send:
    the item page with the form's errors, a flash of the service's message, or 403.
    """
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return _back(item)
    try:
        return action(current_user._get_current_object())
    except PermissionDenied as error:
        return _refused(error)
    except DomainError as error:
        return _failed(item, error)


@bp.post("/<int:item_id>/submit")
@requires(Permission.WORK_ITEMS, item_id=ChecklistItem, rule=can_work_item)
def submit(item: ChecklistItem):
    authorize(can_work_item(current_user, _visible(item)))
    form = SubmitItemForm()
    result = _act(
        item,
        form,
        lambda actor: submission_service.submit(
            db.session, actor=actor, item=item, note=form.note.data, now=now()
        ),
    )
    if isinstance(result, Response):
        return result
    db.session.commit()
    flash(_("Sent for review (round %(round)d).", round=result.round), "success")
    return _back(item)


@bp.post("/<int:item_id>/review")
@requires(Permission.REVIEW_ITEMS, item_id=ChecklistItem, rule=can_review_item)
def review(item: ChecklistItem):
    authorize(can_review_item(current_user, _visible(item)))
    form = ReviewForm()
    result = _act(
        item,
        form,
        lambda actor: review_service.decide(
            db.session,
            actor=actor,
            item=item,
            decision=form.decision.data,
            comment=form.comment.data,
            remarks=_submitted_remarks(),
            reason_template_id=form.reason_template.data,
            now=now(),
        ),
    )
    if isinstance(result, Response):
        return result
    db.session.commit()
    if result.decision == ReviewDecision.APPROVE:
        flash(_("The item is approved."), "success")
    else:
        flash(_("The item was returned to the unit with your reason."), "success")
    # On to the next waiting item, so a morning's queue is worked through without going back.
    following = next_in_queue(db.session, current_user, after=item)
    if following is None:
        flash(_("The review queue is empty."), "info")
        return redirect(url_for("review.queue"), 303)
    return redirect(url_for("items.detail", item_id=following.id), 303)


@bp.post("/<int:item_id>/reopen")
@requires(Permission.REVIEW_ITEMS, item_id=ChecklistItem, rule=can_review_item)
def reopen(item: ChecklistItem):
    """An approved item sent back to its unit (e.g. a problem found after approval)."""
    authorize(can_review_item(current_user, _visible(item)))
    form = ReopenForm()
    result = _act(
        item,
        form,
        lambda actor: review_service.reopen(
            db.session, actor=actor, item=item, reason=form.reason.data, now=now()
        ),
    )
    if isinstance(result, Response):
        return result
    db.session.commit()
    flash(_("The item was reopened and returned to the unit with your reason."), "success")
    return _back(item)


@bp.post("/<int:item_id>/comments")
@requires(Permission.VIEW_ITEMS, item_id=ChecklistItem)
def comment(item: ChecklistItem):
    _visible(item)
    form = CommentForm()
    result = _act(
        item,
        form,
        lambda actor: comment_service.add_comment(
            db.session, actor=actor, item=item, body=form.body.data, now=now()
        ),
    )
    if isinstance(result, Response):
        return result
    db.session.commit()
    flash(_("Comment posted."), "success")
    return _back(item)
