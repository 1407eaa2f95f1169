"""Admin pages for the statutory calendar: covered years, special days, CSV import."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from tracker.admin import bp
from tracker.admin.catalogue_forms import DAY_KIND_LABELS, HolidayDayForm, HolidayImportForm
from tracker.admin.forms import ConfirmForm
from tracker.clock import now, today
from tracker.extensions import db
from tracker.guards import requires
from tracker.models import Holiday
from tracker.permissions import Permission
from tracker.services import holidays
from tracker.services.calendar import DayKind
from tracker.services.checklist import RecomputeResult
from tracker.services.errors import ValidationFailed
from tracker.services.holidays import MAX_CSV_BYTES, CsvInvalid, RowError

YEARS_SHOWN = range(2000, 2101)


def _year_arg() -> int:
    year = request.args.get("year", type=int) or request.form.get("year", type=int)
    return year if year in YEARS_SHOWN else today().year


def _flash_recompute(result: RecomputeResult) -> None:
    if result.moved:
        flash(
            _("%(n)d open deadlines were recomputed with the new calendar.", n=result.moved),
            "info",
        )


def _render(year: int, *, day_form=None, import_form=None, import_errors=(), status=400):
    days = db.session.scalars(
        select(Holiday)
        .where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
        .order_by(Holiday.day)
    ).all()
    calendar = holidays.calendar_status(db.session, today=today())
    page = render_template(
        "admin/calendar/index.html",
        year=year,
        days=days,
        calendar=calendar,
        year_status=next((y for y in calendar.years if y.year == year), None),
        kind_labels=DAY_KIND_LABELS,
        day_form=day_form or HolidayDayForm(formdata=None),
        import_form=import_form or HolidayImportForm(formdata=None),
        import_errors=import_errors,
        confirm=ConfirmForm(),
    )
    return page if day_form is None and import_form is None else (page, status)


@bp.get("/calendar")
@requires(Permission.MANAGE_CALENDAR)
def calendar():
    return _render(_year_arg())


@bp.post("/calendar/days")
@requires(Permission.MANAGE_CALENDAR)
def calendar_set_day():
    form = HolidayDayForm()
    if not form.validate_on_submit():
        return _render(_year_arg(), day_form=form)
    day = form.day.data
    try:
        result = holidays.set_day(
            db.session,
            actor=current_user,
            day=day,
            kind=DayKind(form.kind.data),
            name=form.name.data,
            now=now(),
        )
    except ValidationFailed as error:
        db.session.rollback()
        getattr(form, error.field or "day").errors = [str(error.message)]
        return _render(day.year, day_form=form)
    db.session.commit()
    flash(_("%(day)s saved.", day=day.isoformat()), "success")
    _flash_recompute(result)
    return redirect(url_for("admin.calendar", year=day.year))


@bp.post("/calendar/days/<day>/remove")
@requires(Permission.MANAGE_CALENDAR)
def calendar_remove_day(day: str):
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        abort(404)
    if db.session.scalar(select(Holiday.id).where(Holiday.day == parsed)) is None:
        abort(404)
    if ConfirmForm().validate_on_submit():
        result = holidays.set_day(db.session, actor=current_user, day=parsed, kind=None, now=now())
        db.session.commit()
        flash(_("%(day)s is an ordinary day again.", day=parsed.isoformat()), "success")
        _flash_recompute(result)
    return redirect(url_for("admin.calendar", year=parsed.year))


@bp.post("/calendar/import")
@requires(Permission.MANAGE_CALENDAR)
def calendar_import():
    form = HolidayImportForm()
    year = _year_arg()
    if not form.validate_on_submit():
        return _render(year, import_form=form)
    upload = form.file.data
    source = upload.filename or "holidays.csv"
    data = upload.read(MAX_CSV_BYTES + 1)  # one byte over the limit is enough to refuse it
    try:
        result = holidays.import_holiday_csv(
            db.session, data=data, source=source, actor=current_user, now=now()
        )
    except CsvInvalid as error:
        db.session.rollback()
        errors: list[RowError] = error.errors
        return _render(year, import_form=form, import_errors=errors)
    db.session.commit()
    flash(
        _(
            "%(source)s imported: %(days)d special days of %(year)d.",
            source=source,
            days=result.days,
            year=result.year,
        ),
        "success",
    )
    _flash_recompute(result.recompute)
    return redirect(url_for("admin.calendar", year=result.year))
