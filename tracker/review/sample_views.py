"""Random-sample re-audits (双随机): draw, reproduce, record results and export a sample."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    stream_with_context,
    url_for,
)
from flask import request as http_request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from tracker.clock import now
from tracker.extensions import db
from tracker.guards import requires
from tracker.i18n import current_locale
from tracker.models import AuditSample, AuditSampleItem, ChecklistItem, SampleResult, Unit
from tracker.models.catalogue import FAMILY_LABELS, Family
from tracker.models.checklist import STATUS_LABELS
from tracker.permissions import Permission
from tracker.review import bp
from tracker.review.forms import SampleDrawForm, SampleResultForm
from tracker.scoping import scoped_units, unit_choices
from tracker.services import sampling
from tracker.services.errors import DomainError, PermissionDenied

RESULT_LABELS = {
    SampleResult.PENDING: _l("Pending"),
    SampleResult.CONFIRMED: _l("Confirmed"),
    SampleResult.PROBLEM: _l("Problem found"),
}
CSV_COLUMNS = (
    "position",
    "item_id",
    "requirement",
    "title",
    "unit",
    "scope",
    "status",
    "result",
    "note",
    "checked_by",
    "checked_at",
)


# ---------------------------------------------------------------- helpers


def request_summary(request: dict[str, Any], units: dict[int, Unit]) -> list[tuple[str, str]]:
    """What a draw asked for, as (label, value) pairs in the UI language."""
    parts: list[tuple[str, str]] = []
    if request.get("size") is not None:
        parts.append((_("Sample size"), str(request["size"])))
    if request.get("percent") is not None:
        parts.append((_("Percentage"), f"{Decimal(request['percent']).normalize():f}%"))
    if request.get("period"):
        parts.append((_("Period"), request["period"]))
    if request.get("family"):
        family = request["family"]
        label = FAMILY_LABELS.get(Family(family)) if family in set(Family) else None
        parts.append((_("Family"), str(label or family)))
    if request.get("unit_id"):
        unit = units.get(request["unit_id"])
        name = f"{unit.display_name(current_locale())} ({unit.code})" if unit else "#?"
        parts.append((_("Unit"), name))
    return parts


def _draw_form() -> tuple[SampleDrawForm, dict[int, Unit]]:
    """The draw form with its choices; the units double as names for the request summaries."""
    form = SampleDrawForm()
    units = scoped_units(current_user)
    form.family.choices = [("", _("All families"))] + [
        (family.value, str(label)) for family, label in FAMILY_LABELS.items()
    ]
    form.unit.choices = [(0, _("All units")), *unit_choices(units)]
    return form, {unit.id: unit for unit in units}


def _samples_page(form: SampleDrawForm, units: dict[int, Unit], *, status: int = 200):
    """The list of samples, newest first, with the draw form (re-rendered with its errors)."""
    page = db.paginate(
        select(AuditSample).order_by(AuditSample.drawn_at.desc(), AuditSample.id.desc()),
        page=http_request.args.get("page", 1, type=int) or 1,
        per_page=current_app.config["PER_PAGE"],
        error_out=False,
    )
    # The results of the whole page in one grouped query.
    counts: dict[int, dict[str, int]] = {s.id: dict.fromkeys(SampleResult, 0) for s in page.items}
    if counts:
        for sample_id, result, count in db.session.execute(
            select(AuditSampleItem.sample_id, AuditSampleItem.result, func.count())
            .where(AuditSampleItem.sample_id.in_(list(counts)))
            .group_by(AuditSampleItem.sample_id, AuditSampleItem.result)
        ):
            counts[sample_id][SampleResult(result)] = count
    rows = [
        (sample, request_summary(sample.request, units), counts[sample.id]) for sample in page.items
    ]
    return render_template("review/samples.html", page=page, rows=rows, form=form), status


def _sample_url(sample: AuditSample, entry: AuditSampleItem | None = None) -> str:
    anchor = f"entry-{entry.id}" if entry is not None else None
    return url_for("review.sample", sample_id=sample.id, _anchor=anchor)


def _entries(sample: AuditSample) -> Iterable[AuditSampleItem]:
    """The sampled items in draw order, with what each row shows (one statement)."""
    item = joinedload(AuditSampleItem.item)
    return db.session.scalars(
        select(AuditSampleItem)
        .options(
            item.joinedload(ChecklistItem.requirement),
            item.joinedload(ChecklistItem.unit),
            item.joinedload(ChecklistItem.case),
            joinedload(AuditSampleItem.checked_by),
        )
        .where(AuditSampleItem.sample_id == sample.id)
        .order_by(AuditSampleItem.position)
    ).unique()


def _parse_draw(form: SampleDrawForm) -> dict[str, Any]:
    size = (form.size.data or "").strip()
    percent = (form.percent.data or "").strip()
    return {
        "size": int(size) if size else None,
        "percent": Decimal(percent) if percent else None,
        "seed": form.seed.data,
        "period": (form.period.data or "").strip() or None,
        "family": form.family.data or None,
        "unit_id": form.unit.data or None,
    }


# ---------------------------------------------------------------- the list and the draw


@bp.get("/samples")
@requires(Permission.REVIEW_ITEMS)
def samples():
    form, units = _draw_form()
    return _samples_page(form, units)


@bp.post("/samples")
@requires(Permission.REVIEW_ITEMS)
def draw_sample():
    form, units = _draw_form()
    if not form.validate_on_submit():
        return _samples_page(form, units, status=400)
    try:
        sample = sampling.draw_sample(
            db.session, actor=current_user._get_current_object(), now=now(), **_parse_draw(form)
        )
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except DomainError as error:
        db.session.rollback()
        field = getattr(form, "unit" if error.field == "unit_id" else error.field or "", None)
        if field is not None and field is not form.submit:
            field.errors = [*field.errors, str(error.message)]
        else:
            form.form_errors.append(str(error.message))
        return _samples_page(form, units, status=400)
    db.session.commit()
    flash(
        _(
            "Sample drawn: %(count)d of %(population)d approved items, seed %(seed)s.",
            count=_sampled_count(sample),
            population=sample.population,
            seed=sample.seed,
        ),
        "success",
    )
    return redirect(_sample_url(sample), 303)


def _sampled_count(sample: AuditSample) -> int:
    return (
        db.session.scalar(select(func.count()).where(AuditSampleItem.sample_id == sample.id)) or 0
    )


# ---------------------------------------------------------------- one sample


@bp.get("/samples/<int:sample_id>")
@requires(Permission.REVIEW_ITEMS, sample_id=AuditSample)
def sample(sample: AuditSample):
    entries = list(_entries(sample))
    unit_id = sample.request.get("unit_id")
    unit = db.session.get(Unit, unit_id) if unit_id else None
    redrawn, same_population = sampling.redraw(db.session, sample)
    return render_template(
        "review/sample.html",
        sample=sample,
        summary=request_summary(sample.request, {unit.id: unit} if unit else {}),
        entries=entries,
        identical=redrawn == [entry.item_id for entry in entries],
        same_population=same_population,
        result_form=SampleResultForm(),
        result_labels=RESULT_LABELS,
        status_labels=STATUS_LABELS,
    )


@bp.post("/samples/<int:sample_id>/items/<int:entry_id>")
@requires(Permission.REVIEW_ITEMS, sample_id=AuditSample, entry_id=AuditSampleItem)
def record_sample_result(sample: AuditSample, entry: AuditSampleItem):
    if entry.sample_id != sample.id:
        abort(404)  # another sample's entry: as absent as a missing one
    form = SampleResultForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "danger")
        return redirect(_sample_url(sample, entry), 303)
    try:
        sampling.record_result(
            db.session,
            actor=current_user._get_current_object(),
            entry=entry,
            result=form.result.data or "",
            note=form.note.data,
            now=now(),
        )
    except DomainError as error:
        db.session.rollback()
        flash(str(error.message), "danger")
        return redirect(_sample_url(sample, entry), 303)
    db.session.commit()
    if entry.result == SampleResult.PROBLEM:
        flash(
            _("Problem recorded: the item was reopened and returned to its unit with your note."),
            "warning",
        )
    else:
        flash(_("Re-audit recorded: confirmed."), "success")
    return redirect(_sample_url(sample, entry), 303)


# ---------------------------------------------------------------- CSV export


def _text_cell(value: str | None) -> str:
    """Typed text (notes, names) that a spreadsheet would run as a formula is quoted."""
    value = value or ""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def _export_lines(sample: AuditSample) -> Iterator[str]:
    """The header lines that make the file self-describing, then one row per sampled item."""
    yield "\ufeff"  # Excel opens UTF-8 CSV correctly with a BOM
    yield _csv_line(["sample", sample.id])
    yield _csv_line(["seed", sample.seed])
    yield _csv_line(["request", json.dumps(sample.request, ensure_ascii=False, sort_keys=True)])
    yield _csv_line(["population", sample.population])
    yield _csv_line(["population_hash", sample.population_hash])
    yield _csv_line(["drawn_by", _text_cell(sample.drawn_by.name)])
    yield _csv_line(["drawn_at", sample.drawn_at.isoformat()])
    yield _csv_line([])
    yield _csv_line(CSV_COLUMNS)
    for entry in _entries(sample):
        item = entry.item
        yield _csv_line(
            [
                entry.position,
                item.id,
                item.requirement.code,
                _text_cell(item.requirement.title_zh),
                item.unit.code,
                item.scope_label,
                str(item.status),
                str(entry.result),
                _text_cell(entry.note),
                _text_cell(entry.checked_by.name if entry.checked_by else None),
                entry.checked_at.isoformat() if entry.checked_at else "",
            ]
        )


@bp.get("/samples/<int:sample_id>/export.csv")
@requires(Permission.REVIEW_ITEMS, sample_id=AuditSample)
def sample_export(sample: AuditSample):
    # The rows are read while streaming: the generator needs the request's session.
    response = Response(stream_with_context(_export_lines(sample)), mimetype="text/csv")
    response.headers.set("Content-Disposition", "attachment", filename=f"sample-{sample.id}.csv")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
