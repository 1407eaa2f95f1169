"""Dashboard figures for a year: per unit and family, aggregated in SQL, scoped to the user."""

from __future__ import annotations

from flask import Response, jsonify

from tracker.api import bp
from tracker.api.auth import api_user
from tracker.api.common import FieldErrors, int_arg
from tracker.api.openapi import json_response, operation, query
from tracker.clock import today
from tracker.extensions import db
from tracker.guards import requires
from tracker.i18n import current_locale
from tracker.permissions import Permission
from tracker.services import figures


@bp.get("/dashboard")
@operation(
    summary="Items per unit and family for a year: totals, per status, overdue, completion",
    tag="dashboard",
    description=(
        "A year's items are the periodic items of its periods and the items of cases decided "
        "in it. Completion rate = approved / total. Only the units the user may see."
    ),
    parameters=[
        query(
            "year",
            {"type": "integer", "minimum": figures.MIN_YEAR, "maximum": figures.MAX_YEAR},
            "the year (default: this year)",
        )
    ],
    responses={200: json_response("Dashboard", "the figures")},
    errors=(403, 422),
)
@requires(Permission.VIEW_ITEMS)
def dashboard() -> Response:
    user = api_user()
    today_ = today()
    errors = FieldErrors()
    year = int_arg(
        "year", errors, default=today_.year, minimum=figures.MIN_YEAR, maximum=figures.MAX_YEAR
    )
    errors.raise_if_any()
    rows = figures.unit_family_figures(db.session, year=year, today=today_, viewer=user)
    locale = current_locale()
    return jsonify(
        {
            "year": year,
            "as_of": today_.isoformat(),
            "rows": [
                {
                    "unit": {"code": r.unit_code, "name": r.unit_display_name(locale)},
                    "family": r.family.value,
                    "total": r.total,
                    "by_status": r.by_status,
                    "overdue": r.overdue,
                    "completion_rate": r.completion_rate,
                }
                for r in rows
            ],
            "totals": figures.totals(rows),
        }
    )
