"""Checklist items: the filtered, paginated list and one item with its evidence, reviews and
history; submitting and reviewing an item."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Response, jsonify, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, not_, select
from sqlalchemy.orm import contains_eager, joinedload

from tracker.api import bp
from tracker.api.auth import api_user
from tracker.api.common import (
    FieldErrors,
    bool_arg,
    choice_arg,
    evidence_json,
    int_arg,
    item_json,
    json_object,
    parse_date,
    review_json,
    submission_json,
    text_arg,
    text_field,
)
from tracker.api.openapi import DATE, FAMILIES, json_body, json_response, operation, query
from tracker.clock import now, today
from tracker.extensions import db
from tracker.guards import requires
from tracker.models import (
    ChecklistItem,
    Evidence,
    ItemStatus,
    ItemTally,
    Requirement,
    Review,
    Submission,
    Unit,
    User,
)
from tracker.models.catalogue import Family
from tracker.permissions import (
    Permission,
    can_review_item,
    can_see_unit,
    can_work_item,
    sees_all_units,
)
from tracker.scoping import unit_scope
from tracker.services import reviews as review_service
from tracker.services import submissions as submission_service
from tracker.services import tally
from tracker.services.history import item_history
from tracker.services.item_filters import (
    LONG_LIST,
    OVERDUE,
    STATUS_FILTERS,
    join_unit_and_requirement,
    period_code,
    status_condition,
)

MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50
HISTORY_SHOWN = 100
# Audit actions of an item's history, as the item page names them.
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
# Audit data shown with a history entry (the rest stays in the audit log).
_HISTORY_DETAILS = ("round", "reason", "comment", "body", "filename", "sha256", "old", "new")


# ---------------------------------------------------------------- the list


def _list_conditions(errors: FieldErrors, today_: date) -> tuple[list[Any], list[Any] | None]:
    """SQL conditions of the user's scope and every filter of the query string, over the items;
    and the same over the item tally when it keeps every filter given (else None)."""
    user = api_user()
    conditions: list[Any] = []
    kept: list[Any] | None = []  # over ItemTally (joined with Unit and Requirement)
    scope = unit_scope(user)
    if scope is not None:
        conditions.append(scope)
        kept.append(scope)
    code = text_arg("unit", errors).upper()
    if code:
        stmt = select(Unit.id).where(Unit.code == code)
        if scope is not None:
            stmt = stmt.where(scope)
        unit_id = db.session.scalar(stmt)
        if unit_id is None:
            errors.add("unit", _l("No unit you can see has the code %(code)s.", code=code))
        else:
            conditions.append(ChecklistItem.unit_id == unit_id)
            kept.append(ItemTally.unit_id == unit_id)
    family = choice_arg("family", FAMILIES, errors)
    if family:
        conditions.append(Requirement.family == Family(family))
        kept.append(Requirement.family == Family(family))
    status = choice_arg("status", STATUS_FILTERS, errors)
    if status:
        conditions.append(status_condition(status, today_))
        kept = None if status == OVERDUE else [*kept, ItemTally.status == ItemStatus(status)]
    overdue = bool_arg("overdue", errors)
    if overdue is not None:
        is_overdue = ChecklistItem.is_overdue(today_)
        conditions.append(is_overdue if overdue else not_(is_overdue))
    due_from = parse_date(request.args.get("due_from"), "due_from", errors)
    due_to = parse_date(request.args.get("due_to"), "due_to", errors)
    if due_from is not None:
        conditions.append(ChecklistItem.due_date >= due_from)
    if due_to is not None:
        conditions.append(ChecklistItem.due_date <= due_to)
    period = text_arg("period", errors)
    if period:
        conditions.append(ChecklistItem.period == period_code(period))
    if overdue is not None or due_from or due_to or period:
        kept = None  # depends on today or on columns the tally does not keep
    return conditions, kept


def _page_link(page: int | None, per_page: int) -> str | None:
    if page is None:
        return None
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in {"page", "per_page"}]
    args += [("page", str(page)), ("per_page", str(per_page))]
    return f"{url_for('api.list_items')}?{urlencode(args)}"


@bp.get("/items")
@operation(
    summary="List checklist items",
    tag="items",
    description=(
        "The items of the units the token's user may see, by due date. Filters combine; "
        "`status=overdue` and `overdue=true` both mean owed and past the due date."
    ),
    parameters=[
        query("unit", {"type": "string", "maxLength": 32}, "unit code"),
        query("family", {"type": "string", "enum": FAMILIES}, "requirement family"),
        query("status", {"type": "string", "enum": STATUS_FILTERS}, "status, or overdue"),
        query("overdue", {"type": "boolean"}, "owed and past the due date (or not)"),
        query("due_from", DATE, "due on or after"),
        query("due_to", DATE, "due on or before"),
        query("period", {"type": "string", "maxLength": 16}, "2026, 2026-H2, 2026-Q3, 2026-07"),
        query("page", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
        query(
            "per_page",
            {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
            "items per page",
        ),
    ],
    responses={200: json_response("ItemList", "one page of items")},
    errors=(403, 422),
)
@requires(Permission.VIEW_ITEMS)
def list_items() -> Response:
    errors = FieldErrors()
    today_ = today()
    page = int_arg("page", errors, default=1, minimum=1, maximum=1_000_000)
    per_page = int_arg(
        "per_page", errors, default=DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE
    )
    conditions, kept = _list_conditions(errors, today_)
    errors.raise_if_any()

    if kept is not None:  # summed from the tally rather than counting the items
        total = db.session.scalar(tally.tally_select(func.sum(ItemTally.items)).where(*kept))
    else:
        total = db.session.scalar(
            select(func.count(ChecklistItem.id))
            .select_from(ChecklistItem)
            .join(ChecklistItem.unit)
            .join(ChecklistItem.requirement)
            .where(*conditions)
        )
    total = int(total or 0)
    # One query for the page, whatever its size: unit and requirement from the join,
    # case and assignee (with the assignee's unit) joined too.
    base = join_unit_and_requirement(
        select(ChecklistItem),
        items_first=total >= LONG_LIST,
        dialect=db.session.get_bind().dialect.name,
    ).where(*conditions)
    items = db.session.scalars(
        base.options(
            contains_eager(ChecklistItem.unit),
            contains_eager(ChecklistItem.requirement),
            joinedload(ChecklistItem.case),
            joinedload(ChecklistItem.assignee),
        )
        .order_by(ChecklistItem.due_date, Requirement.code, ChecklistItem.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    last_page = max(1, -(-total // per_page))
    return jsonify(
        {
            "items": [item_json(item, today=today_) for item in items],
            "total": total,
            "page": page,
            "per_page": per_page,
            "links": {
                "self": _page_link(page, per_page),
                "next": _page_link(page + 1 if page < last_page else None, per_page),
                "prev": _page_link(min(page - 1, last_page) if page > 1 else None, per_page),
            },
        }
    )


# ---------------------------------------------------------------- one item


def _history(item: ChecklistItem) -> list[dict[str, Any]]:
    """The item's audit events (its own and its evidence's), latest first, one query."""
    rows = item_history(db.session, item, limit=HISTORY_SHOWN)
    entries = []
    for event, name in rows:
        data = event.data or {}
        entries.append(
            {
                "at": event.occurred_at.isoformat(),
                "action": event.action,
                "label": str(ACTION_LABELS.get(event.action, event.action)),
                "actor": name or event.actor_label,
                "details": {k: data[k] for k in _HISTORY_DETAILS if data.get(k) is not None},
            }
        )
    return entries


def _may_read_withdrawn(user: User, evidence: Evidence) -> bool:
    """As on the item page: the uploader's unit and bureau-wide roles still read withdrawn files."""
    return sees_all_units(user) or can_see_unit(user, evidence.uploaded_by.unit)


def evidence_rows(item: ChecklistItem) -> list[dict[str, Any]]:
    """The item's evidence (withdrawn pieces too: they are history), one query."""
    user = api_user()
    rows = []
    for evidence in db.session.scalars(
        select(Evidence)
        .where(Evidence.item_id == item.id)
        .order_by(Evidence.uploaded_at, Evidence.id)
    ):
        readable = evidence.blob_sha256 is not None and (
            evidence.withdrawn_at is None or _may_read_withdrawn(user, evidence)
        )
        download = url_for("api.download_evidence", evidence_id=evidence.id) if readable else None
        rows.append(evidence_json(evidence, download=download))
    return rows


def item_detail_json(item: ChecklistItem) -> dict[str, Any]:
    submissions = db.session.scalars(
        select(Submission).where(Submission.item_id == item.id).order_by(Submission.round)
    ).all()
    rounds = {s.id: s.round for s in submissions}
    reviews = db.session.scalars(
        select(Review).where(Review.item_id == item.id).order_by(Review.decided_at, Review.id)
    ).all()
    return {
        **item_json(item, today=today()),
        "evidence": evidence_rows(item),
        "submissions": [submission_json(s) for s in submissions],
        "reviews": [review_json(r, round_=rounds.get(r.submission_id)) for r in reviews],
        "history": _history(item),
    }


@bp.get("/items/<int:item_id>")
@operation(
    summary="One item with its evidence, submissions, reviews and history",
    tag="items",
    responses={200: json_response("ItemDetail", "the item")},
    errors=(403, 404),
)
@requires(Permission.VIEW_ITEMS, item_id=ChecklistItem)
def get_item(item: ChecklistItem) -> Response:
    return jsonify(item_detail_json(item))


# ---------------------------------------------------------------- submit and review


@bp.post("/items/<int:item_id>/submit")
@operation(
    summary="Send the item for review (a new round; its evidence is frozen with it)",
    tag="workflow",
    request_body=json_body("SubmitRequest", required=False),
    responses={200: json_response("Submitted", "submitted")},
    errors=(400, 403, 404, 409, 415, 422),
)
@requires(
    Permission.WORK_ITEMS,
    rule=can_work_item,
    rule_message=_l("You may not submit this item."),
    item_id=ChecklistItem,
)
def submit_item(item: ChecklistItem) -> Response:
    user = api_user()
    body = json_object()
    errors = FieldErrors()
    note = text_field(body, "note", errors)
    errors.raise_if_any()
    submission = submission_service.submit(db.session, actor=user, item=item, note=note, now=now())
    db.session.commit()
    return jsonify(
        {"item": item_json(item, today=today()), "submission": submission_json(submission)}
    )


@bp.post("/items/<int:item_id>/review")
@operation(
    summary="Approve the submitted item, or return it with a comment",
    tag="workflow",
    description=(
        "Inspectors and administrators; not on an item they submitted or uploaded evidence to "
        "(403), only while it is submitted (409)."
    ),
    request_body=json_body("ReviewRequest"),
    responses={200: json_response("Reviewed", "decided")},
    errors=(400, 403, 404, 409, 415, 422),
)
@requires(
    Permission.REVIEW_ITEMS,
    rule=can_review_item,
    rule_message=_l("You may not review this item."),
    item_id=ChecklistItem,
)
def review_item(item: ChecklistItem) -> Response:
    user = api_user()
    body = json_object()
    errors = FieldErrors()
    decision = text_field(body, "decision", errors, required=True)
    if decision is not None and decision not in review_service.DECISIONS:
        errors.add("decision", _l("Must be approve or return."))
    comment = text_field(body, "comment", errors)
    errors.raise_if_any()
    # Keyword arguments only: the review service may grow optional parameters.
    review = review_service.decide(
        db.session, actor=user, item=item, decision=decision, comment=comment, now=now()
    )
    db.session.commit()
    round_ = db.session.scalar(
        select(Submission.round).where(Submission.id == review.submission_id)
    )
    return jsonify(
        {"item": item_json(item, today=today()), "review": review_json(review, round_=round_)}
    )
