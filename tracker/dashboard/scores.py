"""Responsibility assessment (考核): scores per unit, their CSV export, and the weights editor."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import quote

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from tracker.clock import now, today
from tracker.dashboard import bp
from tracker.dashboard.forms import ScoreWeightsForm
from tracker.extensions import db
from tracker.guards import requires
from tracker.i18n import current_locale
from tracker.permissions import Permission
from tracker.services import audit, scoring
from tracker.services.errors import ValidationFailed
from tracker.services.holidays import load_calendar
from tracker.services.ledger import safe_text

MIN_YEAR, MAX_YEAR = 2000, 2100

# (key, header) of the table and the CSV, in display order.
COLUMNS = (
    ("rank", _l("Rank")),
    ("code", _l("Code")),
    ("unit", _l("Unit")),
    ("items", _l("Items of the year")),
    ("due_or_done", _l("Due or approved")),
    ("on_time", _l("Approved on time")),
    ("rate", _l("On-time rate")),
    ("returns", _l("Returns")),
    ("overdue_days", _l("Overdue working days")),
    ("sample_problems", _l("Sample-audit problems")),
    ("on_time_deduction", _l("Deduction: on time")),
    ("returns_deduction", _l("Deduction: returns")),
    ("overdue_deduction", _l("Deduction: overdue")),
    ("sample_deduction", _l("Deduction: samples")),
    ("score", _l("Score")),
)


def _year() -> int:
    try:
        year = int(request.args.get("year", ""))
    except ValueError:
        return today().year
    return year if MIN_YEAR <= year <= MAX_YEAR else today().year


def _scores(year: int) -> tuple[list[scoring.UnitScore], object]:
    weights = scoring.get_weights(db.session)
    scores = scoring.unit_scores(
        db.session,
        year=year,
        viewer=current_user,
        today=today(),
        weights=weights,
        calendar=load_calendar(db.session),
        timezone=current_app.config["TRACKER_TIMEZONE"],
    )
    return scores, weights


def weight_text(value: Decimal) -> str:
    """A weight as people write it: 100, 2, 0.5."""
    return f"{Decimal(value).quantize(Decimal('0.01')).normalize():f}"


def formula_values(weights: object) -> dict[str, str]:
    """The weights in force, written out for the formula shown on the pages."""
    return {name: weight_text(getattr(weights, name)) for name in scoring.WEIGHT_FIELDS}


def percent(rate: Decimal | None) -> str:
    """'87.5%' (one decimal), or '—' when nothing was due."""
    if rate is None:
        return "—"
    return f"{(rate * 100).quantize(Decimal('0.1'))}%"


def _values(entry: scoring.UnitScore, locale: str) -> dict[str, object]:
    return {
        "rank": entry.rank,
        "code": entry.unit.code,
        "unit": entry.unit.display_name(locale),
        "items": entry.items,
        "due_or_done": entry.due_or_done,
        "on_time": entry.on_time,
        "rate": percent(entry.rate),
        "returns": entry.returns,
        "overdue_days": entry.overdue_days,
        "sample_problems": entry.sample_problems,
        "on_time_deduction": entry.on_time_deduction,
        "returns_deduction": entry.returns_deduction,
        "overdue_deduction": entry.overdue_deduction,
        "sample_deduction": entry.sample_deduction,
        "score": entry.score,
    }


@bp.get("/scores")
@requires(Permission.VIEW_SCORES)
def scores():
    year = _year()
    rows, weights = _scores(year)
    locale = current_locale()
    this_year = today().year
    return render_template(
        "dashboard/scores.html",
        year=year,
        years=list(range(this_year, this_year - 5, -1)),
        columns=COLUMNS,
        rows=[(entry, _values(entry, locale)) for entry in rows],
        formula=formula_values(weights),
    )


def _csv(header: list[str], lines: list[list[object]]) -> Iterator[str]:
    """The table as CSV, with a byte-order mark so that Excel reads the Chinese right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield "\ufeff" + buffer.getvalue()
    for line in lines:
        buffer.seek(0)
        buffer.truncate()
        # Unit names are typed text: never a formula in the reader's spreadsheet.
        writer.writerow([safe_text(v) if isinstance(v, str) else v for v in line])
        yield buffer.getvalue()


@bp.get("/scores.csv")
@requires(Permission.VIEW_SCORES)
def scores_csv():
    year = _year()
    rows, _weights = _scores(year)
    locale = current_locale()
    # Plain values before the commit: the streamed body needs neither the session nor a context.
    header = [str(label) for _key, label in COLUMNS]
    lines = [[_values(entry, locale)[key] for key, _label in COLUMNS] for entry in rows]
    audit.record(
        db.session,
        actor=current_user._get_current_object(),
        action="scores.exported",
        object_type="scores",
        data={"year": year, "units": len(rows)},
        at=now(),
    )
    db.session.commit()
    response = Response(_csv(header, lines), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"{'assessment' if locale.startswith('en') else '考核得分'}-{year}.csv"
    response.headers["Content-Disposition"] = (
        f"attachment; filename=scores-{year}.csv; filename*=UTF-8''{quote(name)}"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/scores/weights", methods=["GET", "POST"])
@requires(Permission.MANAGE_SCORE_WEIGHTS)
def score_weights():
    weights = scoring.get_weights(db.session)
    form = ScoreWeightsForm(obj=weights if request.method == "GET" else None)
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in scoring.WEIGHT_FIELDS}
        try:
            changed = scoring.update_weights(
                db.session, actor=current_user, values=values, now=now()
            )
        except ValidationFailed as error:
            db.session.rollback()
            field = getattr(form, error.field or "", None)
            if field is not None:
                field.errors = [*field.errors, str(error.message)]
            else:
                flash(str(error.message), "danger")
        else:
            db.session.commit()
            if changed:
                flash(_("Assessment weights saved."), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for("dashboard.scores"))
    return render_template(
        "dashboard/score_weights.html", form=form, formula=formula_values(weights)
    )
