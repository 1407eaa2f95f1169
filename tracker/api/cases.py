"""Enforcement cases from other systems: register one (its event items are created, as in the
web UI) and read one with its items."""

from __future__ import annotations

from flask import Response, jsonify, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from tracker.api import bp
from tracker.api.auth import api_user
from tracker.api.common import (
    FieldErrors,
    bool_field,
    case_json,
    item_json,
    json_object,
    parse_date,
    text_field,
)
from tracker.api.openapi import json_body, json_response, operation
from tracker.clock import now, today
from tracker.extensions import db
from tracker.guards import requires
from tracker.models import Case, ChecklistItem, Requirement, Unit
from tracker.permissions import Permission, can_see_unit
from tracker.scoping import unit_scope
from tracker.services import cases as case_service


def _case_items(case: Case) -> list[ChecklistItem]:
    """The case's items the user may see (an item may belong to another unit), one query."""
    user = api_user()
    items = db.session.scalars(
        select(ChecklistItem)
        .join(ChecklistItem.requirement)
        .options(
            joinedload(ChecklistItem.requirement),
            joinedload(ChecklistItem.unit),
            joinedload(ChecklistItem.case),
            joinedload(ChecklistItem.assignee),
        )
        .where(ChecklistItem.case_id == case.id)
        .order_by(Requirement.code, ChecklistItem.unit_id)
    ).unique()
    return [item for item in items if can_see_unit(user, item.unit)]


def _case_with_items(case: Case) -> dict:
    today_ = today()
    return {**case_json(case), "items": [item_json(i, today=today_) for i in _case_items(case)]}


@bp.post("/cases")
@operation(
    summary="Register an enforcement case and create its event items",
    tag="cases",
    description=(
        "For one of the units the token's user may register cases for. The response lists the "
        "items the case triggered (e.g. the publication due 20 working days after the decision)."
    ),
    request_body=json_body("CaseCreate"),
    responses={
        201: {
            **json_response("CaseWithItems", "registered"),
            "headers": {"Location": {"schema": {"type": "string"}}},
        }
    },
    errors=(400, 403, 415, 422),
)
@requires(Permission.REGISTER_CASES)
def create_case() -> tuple[Response, int, dict[str, str]]:
    user = api_user()
    body = json_object()
    errors = FieldErrors()
    case_no = text_field(body, "case_no", errors, required=True)
    code = text_field(body, "unit", errors, required=True)
    dates = {
        name: parse_date(body.get(name), name, errors)
        for name in ("decided_on", "served_on", "closed_on", "registered_on")
    }
    if body.get("decided_on") in (None, "") and "decided_on" not in errors.fields:
        errors.add("decided_on", _l("The decision date is required."))
    major = bool_field(body, "major", errors, default=False)
    party = text_field(body, "party", errors) or ""
    unit = None
    if code is not None:
        stmt = select(Unit).where(Unit.code == code.strip().upper(), Unit.active)
        scope = unit_scope(user)
        if scope is not None:
            stmt = stmt.where(scope)
        unit = db.session.scalar(stmt)
        if unit is None:
            errors.add(
                "unit",
                _l("No active unit you can register cases for has the code %(code)s.", code=code),
            )
    errors.raise_if_any()
    assert unit is not None and case_no is not None and dates["decided_on"] is not None
    result = case_service.register_case(
        db.session,
        actor=user,
        case_no=case_no,
        unit=unit,
        decided_on=dates["decided_on"],
        served_on=dates["served_on"],
        closed_on=dates["closed_on"],
        registered_on=dates["registered_on"],
        major=major,
        party=party,
        now=now(),
    )
    db.session.commit()
    location = url_for("api.get_case", case_id=result.case.id)
    return jsonify(_case_with_items(result.case)), 201, {"Location": location}


@bp.get("/cases/<int:case_id>")
@operation(
    summary="One case with its items",
    tag="cases",
    responses={200: json_response("CaseWithItems", "the case")},
    errors=(403, 404),
)
@requires(Permission.VIEW_CASES, case_id=Case)
def get_case(case: Case) -> Response:
    return jsonify(_case_with_items(case))
