"""What the API's routes share: reading bodies and query strings into field errors, and the
JSON shapes of design.md §4. (Objects named in a URL are loaded by the route's declaration,
`tracker.guards.requires`: a missing object and one outside the token user's units are the same
404, before any 403.)"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l

from tracker.api.errors import ApiError
from tracker.i18n import current_locale
from tracker.models import (
    Case,
    ChecklistItem,
    Evidence,
    Review,
    Submission,
    Unit,
    User,
)

# Dates outside this span are typing mistakes; the calendar and deadline rules only know these.
MIN_DATE = date(1990, 1, 1)
MAX_DATE = date(2100, 12, 31)
MAX_ID = 2**31 - 1  # ids are INTEGER columns: a larger number would overflow the driver
_SURROGATE = re.compile("[\ud800-\udfff]")


# ---------------------------------------------------------------- reading input


class FieldErrors:
    """Collects every problem of a body or query string, then answers 422 with all of them."""

    def __init__(self) -> None:
        self.fields: dict[str, list[object]] = {}

    def add(self, name: str, message: object) -> None:
        self.fields.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            first = next(iter(self.fields.values()))[0]
            raise ApiError(422, "validation_failed", first, fields=self.fields)


def json_object() -> dict[str, Any]:
    """The request's JSON object body ({} when there is no body at all)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", _l("Send the body as application/json."))
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: not a body anyone sends
        body = None
    if body is None:
        raise ApiError(400, "invalid_json", _l("The body is not valid JSON."))
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", _l("The body must be a JSON object."))
    return body


def parse_date(value: object, name: str, errors: FieldErrors) -> date | None:
    """A YYYY-MM-DD string (None when absent); a field error otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and len(value.strip()) == 10:
            if MIN_DATE <= parsed <= MAX_DATE:
                return parsed
            errors.add(
                name,
                _l(
                    "The date must lie between %(first)s and %(last)s.",
                    first=MIN_DATE.isoformat(),
                    last=MAX_DATE.isoformat(),
                ),
            )
            return None
    errors.add(name, _l("Enter a date as YYYY-MM-DD."))
    return None


def text_field(
    body: dict[str, Any], name: str, errors: FieldErrors, *, required: bool = False
) -> str | None:
    """A string member of a JSON body (None when absent or null)."""
    value = body.get(name)
    if value is None:
        if required:
            errors.add(name, _l("This field is required."))
        return None
    if not isinstance(value, str):
        errors.add(name, _l("Must be a string."))
        return None
    return clean_text(value, name, errors)


def clean_text(value: str | None, name: str, errors: FieldErrors) -> str | None:
    """The text, unless it holds a NUL character (PostgreSQL cannot store one) or a lone
    surrogate (JSON's "\\ud800" is no character UTF-8 can encode): refuse those."""
    if value is not None and "\x00" in value:
        errors.add(name, _l("Must not contain NUL characters."))
        return None
    if value is not None and _SURROGATE.search(value):
        errors.add(name, _l("Must be valid Unicode text."))
        return None
    return value


def text_arg(name: str, errors: FieldErrors) -> str:
    """A free-text query argument, stripped ("" when absent)."""
    return (clean_text(request.args.get(name), name, errors) or "").strip()


def bool_field(body: dict[str, Any], name: str, errors: FieldErrors, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        errors.add(name, _l("Must be true or false."))
        return default
    return value


def int_arg(
    name: str, errors: FieldErrors, *, default: int, minimum: int, maximum: int | None = None
) -> int:
    """An integer query argument within bounds."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        errors.add(name, _l("Must be a whole number."))
        return default
    if value < minimum or (maximum is not None and value > maximum):
        if maximum is None:
            errors.add(name, _l("Must be at least %(min)d.", min=minimum))
        else:
            errors.add(name, _l("Must be between %(min)d and %(max)d.", min=minimum, max=maximum))
        return default
    return value


def bool_arg(name: str, errors: FieldErrors) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    errors.add(name, _l("Must be true or false."))
    return None


def choice_arg(name: str, choices: Iterable[str], errors: FieldErrors) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    allowed = list(choices)
    if raw not in allowed:
        errors.add(name, _l("Must be one of: %(choices)s.", choices=", ".join(allowed)))
        return None
    return raw


# ---------------------------------------------------------------- shapes


def iso(value: date | datetime | None) -> str | None:
    """YYYY-MM-DD for dates; ISO 8601 with the UTC offset for instants."""
    return None if value is None else value.isoformat()


def number(value: Decimal | None) -> str | None:
    """A Numeric as a plain decimal string (exact; JSON numbers would round)."""
    return None if value is None else f"{Decimal(value).normalize():f}"


def user_ref(user: User | None) -> dict[str, str] | None:
    return None if user is None else {"email": user.email, "name": user.name}


def unit_ref(unit: Unit) -> dict[str, str]:
    return {"code": unit.code, "name": unit.display_name(current_locale())}


def item_json(item: ChecklistItem, *, today: date) -> dict[str, Any]:
    """The item shape of design.md §4 (the list's rows; the detail adds to it)."""
    locale = current_locale()
    requirement = item.requirement
    case = item.case
    return {
        "id": item.id,
        "requirement": {
            "code": requirement.code,
            "family": str(requirement.family),
            "title": requirement.title(locale),
            "kind": str(requirement.kind),
        },
        "unit": unit_ref(item.unit),
        "period": item.period,
        "case": None if case is None else {"id": case.id, "case_no": case.case_no},
        "due_date": item.due_date.isoformat(),
        "due_provisional": bool(item.due_provisional),
        "due_basis": item.due_basis(locale),
        "status": str(item.status),
        "overdue": bool(item.is_overdue(today)),
        "assignee": user_ref(item.assignee),
        "value": number(item.value),
        "updated_at": iso(item.updated_at),
    }


def evidence_json(evidence: Evidence, *, download: str | None) -> dict[str, Any]:
    return {
        "id": evidence.id,
        "kind": str(evidence.kind),
        "filename": evidence.original_filename,
        "content_type": evidence.content_type,
        "size": evidence.size,
        "sha256": evidence.blob_sha256,
        "url": evidence.url,
        "title": evidence.title,
        "note": evidence.note,
        "occurred_on": iso(evidence.occurred_on),
        "uploaded_at": iso(evidence.uploaded_at),
        "uploaded_by": user_ref(evidence.uploaded_by),
        "submitted_round": evidence.submitted_round,
        "withdrawn_at": iso(evidence.withdrawn_at),
        "download": download,
    }


def submission_json(submission: Submission) -> dict[str, Any]:
    return {
        "id": submission.id,
        "round": submission.round,
        "submitted_at": iso(submission.submitted_at),
        "submitted_by": user_ref(submission.submitted_by),
        "note": submission.note,
        "value": number(submission.value),
        "evidence_count": submission.evidence_count,
    }


def review_json(review: Review, *, round_: int | None) -> dict[str, Any]:
    return {
        "id": review.id,
        "decision": str(review.decision),
        "comment": review.comment,
        "round": round_,
        "reviewer": user_ref(review.reviewer),
        "decided_at": iso(review.decided_at),
    }


def case_json(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "case_no": case.case_no,
        "unit": unit_ref(case.unit),
        "decided_on": iso(case.decided_on),
        "served_on": iso(case.served_on),
        "closed_on": iso(case.closed_on),
        "registered_on": iso(case.registered_on),
        "major": bool(case.major),
        "party": case.party,
        "created_at": iso(case.created_at),
    }
