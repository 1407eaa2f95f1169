"""Enforcement cases: list, register, view, edit and CSV import."""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import case as when
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from tracker.cases import bp
from tracker.cases.forms import CaseEditForm, CaseForm, CaseImportForm
from tracker.clock import now, today
from tracker.extensions import db
from tracker.guards import requires
from tracker.models import Case, ChecklistItem, Requirement, Unit
from tracker.models.checklist import STATUS_LABELS
from tracker.permissions import Permission, can_see_unit, has_permission, sees_all_units
from tracker.scoping import scoped_units, unit_choices, unit_scope
from tracker.services import cases as case_service
from tracker.services.cases import CSV_COLUMNS, REQUIRED_COLUMNS, CaseInvalid
from tracker.services.holidays import MAX_CSV_BYTES, CsvInvalid, RowError, csv_rows, decode_csv


def _visible_case_or_404(case: Case) -> Case:
    """An existing case outside the user's scope is as absent as a missing one."""
    if not can_see_unit(current_user, case.unit):
        abort(404)
    return case


def _apply_errors(form, error: CaseInvalid) -> None:
    """Each service error next to its field; those of no field of the form as a flash."""
    for name, message in error.errors:
        field = getattr(form, "unit_id" if name == "unit" else name, None)
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            flash(message, "danger")


def _case_fields(form: CaseEditForm) -> dict:
    """What the case forms send to the case service (the service checks it)."""
    return {
        "case_no": form.case_no.data or "",
        "decided_on": form.decided_on.data,
        "served_on": form.served_on.data,
        "closed_on": form.closed_on.data,
        "registered_on": form.registered_on.data,
        "major": form.major.data,
        "party": form.party.data or "",
    }


def _page() -> int:
    return request.args.get("page", 1, type=int) or 1


# ---------------------------------------------------------------- list


@bp.get("/")
@requires(Permission.VIEW_CASES)
def index():
    q = request.args.get("q", "").strip()
    unit_id = request.args.get("unit", 0, type=int)
    major = request.args.get("major", "")
    year = request.args.get("year", 0, type=int)

    units = scoped_units(current_user)
    stmt = select(Case).join(Case.unit)
    condition = unit_scope(current_user)
    if condition is not None:
        stmt = stmt.where(condition)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Case.case_no.ilike(like), Case.party.ilike(like)))
    if unit_id:
        stmt = stmt.where(Case.unit_id == unit_id)
    if major in ("1", "0"):
        stmt = stmt.where(Case.major.is_(major == "1"))
    if 1900 < year < 3000:
        stmt = stmt.where(Case.decided_on.between(date(year, 1, 1), date(year, 12, 31)))
    stmt = stmt.order_by(Case.decided_on.desc(), Case.id.desc())
    page = db.paginate(stmt, page=_page(), per_page=current_app.config["PER_PAGE"], error_out=False)

    # Item and overdue counts of the whole page in one grouped query.
    counts: dict[int, tuple[int, int]] = {}
    case_ids = [c.id for c in page.items]
    if case_ids:
        overdue = func.sum(when((ChecklistItem.is_overdue(today()), 1), else_=0))
        counts = {
            case_id: (total, int(late or 0))
            for case_id, total, late in db.session.execute(
                select(ChecklistItem.case_id, func.count(ChecklistItem.id), overdue)
                .where(ChecklistItem.case_id.in_(case_ids))
                .group_by(ChecklistItem.case_id)
            )
        }
    return render_template(
        "cases/index.html",
        page=page,
        counts=counts,
        q=q,
        unit_id=unit_id,
        major=major,
        year=year or "",
        units=unit_choices(units),
    )


# ---------------------------------------------------------------- register


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.REGISTER_CASES)
def new():
    form = CaseForm()
    units = scoped_units(current_user, active_only=True)
    form.unit_id.choices = unit_choices(units)
    if request.method == "GET" and units:
        form.unit_id.data = current_user.unit_id
    if form.validate_on_submit():
        unit = next(u for u in units if u.id == form.unit_id.data)  # choices checked it
        try:
            result = case_service.register_case(
                db.session, actor=current_user, unit=unit, now=now(), **_case_fields(form)
            )
        except CaseInvalid as error:
            db.session.rollback()
            _apply_errors(form, error)
        else:
            db.session.commit()
            flash(
                _(
                    "Case %(case_no)s registered; items created: %(count)d.",
                    case_no=result.case.case_no,
                    count=len(result.items),
                ),
                "success",
            )
            _flash_created_overdue(sum(1 for item in result.items if item.created_overdue))
            return redirect(url_for("cases.detail", case_id=result.case.id))
    return render_template("cases/form.html", form=form, case=None)


def _flash_created_overdue(count: int) -> None:
    if count:
        flash(
            _(
                "%(count)d of the items were created already overdue: their deadline had passed "
                "before the case was recorded (for example a legal review that should have "
                "preceded a major decision). They are flagged for the inspectors.",
                count=count,
            ),
            "warning",
        )


# ---------------------------------------------------------------- one case


@bp.get("/<int:case_id>")
@requires(Permission.VIEW_CASES, case_id=Case)
def detail(case: Case):
    _visible_case_or_404(case)
    items = list(
        db.session.scalars(
            select(ChecklistItem)
            .join(ChecklistItem.requirement)
            .options(
                joinedload(ChecklistItem.requirement),
                joinedload(ChecklistItem.unit),
            )
            .where(ChecklistItem.case_id == case.id)
            .order_by(Requirement.code, ChecklistItem.unit_id)
        ).unique()
    )
    return render_template(
        "cases/detail.html",
        case=case,
        items=items,
        today=today(),
        status_labels=STATUS_LABELS,
        can_see_unit=lambda unit: can_see_unit(current_user, unit),
        may_edit=_may_register_for(case.unit),
    )


def _may_register_for(unit: Unit) -> bool:
    return has_permission(current_user, Permission.REGISTER_CASES) and can_see_unit(
        current_user, unit
    )


@bp.route("/<int:case_id>/edit", methods=["GET", "POST"])
@requires(Permission.REGISTER_CASES, case_id=Case)
def edit(case: Case):
    _visible_case_or_404(case)
    form = CaseEditForm(obj=case)
    if form.validate_on_submit():
        try:
            result = case_service.update_case(
                db.session, actor=current_user, case=case, now=now(), **_case_fields(form)
            )
        except CaseInvalid as error:
            db.session.rollback()
            _apply_errors(form, error)
        else:
            db.session.commit()
            flash(
                _(
                    "Case %(case_no)s saved: %(checked)d deadlines recomputed, %(moved)d of "
                    "them changed; items created: %(created)d.",
                    case_no=case.case_no,
                    checked=result.recompute.checked,
                    moved=result.recompute.moved,
                    created=len(result.items),
                ),
                "success",
            )
            _flash_created_overdue(sum(1 for item in result.items if item.created_overdue))
            return redirect(url_for("cases.detail", case_id=case.id))
    return render_template("cases/form.html", form=form, case=case)


# ---------------------------------------------------------------- CSV import


def _scope_errors(data: bytes, source: str, allowed_codes: set[str]) -> list[RowError]:
    """Rows naming an existing unit the user may not register for."""
    # Everything else, unknown unit codes included, is the service's to report.
    known_codes = set(db.session.scalars(select(Unit.code)))
    try:
        rows = iter(csv_rows(decode_csv(data, source=source)))
    except CsvInvalid:
        return []  # the service reports it
    header = next(rows, None)
    if header is None:
        return []
    aliases = {alias.lower() for alias in CSV_COLUMNS["unit"]}
    position = next((i for i, c in enumerate(header[1]) if c.lower() in aliases), None)
    if position is None:
        return []
    errors = []
    for line, cells in rows:
        code = cells[position].strip().upper() if position < len(cells) else ""
        if code in known_codes and code not in allowed_codes:
            errors.append(
                RowError(
                    line,
                    _("You cannot register cases for unit %(code)s.", code=code),
                    "unit",
                )
            )
    return errors


@bp.route("/import", methods=["GET", "POST"])
@requires(Permission.REGISTER_CASES)
def import_csv():
    form = CaseImportForm()
    errors: list[RowError] = []
    summary = None
    if form.validate_on_submit():
        upload = form.file.data
        source = upload.filename or "upload.csv"
        data = upload.read(MAX_CSV_BYTES + 1)  # one byte over the limit is enough to refuse it
        scope_errors: list[RowError] = []
        if not sees_all_units(current_user):
            allowed = {u.code for u in scoped_units(current_user, active_only=True)}
            scope_errors = _scope_errors(data, source, allowed)
        try:
            result = case_service.import_cases_csv(
                db.session, data=data, source=source, actor=current_user, now=now()
            )
        except CsvInvalid as error:
            db.session.rollback()
            errors = sorted([*error.errors, *scope_errors], key=lambda e: e.line or 0)
        else:
            if scope_errors:
                db.session.rollback()
                errors = scope_errors
            else:
                db.session.commit()
                flash(
                    _(
                        "%(source)s imported: %(cases)d cases registered, %(items)d items created.",
                        source=source,
                        cases=result.cases,
                        items=result.items,
                    ),
                    "success",
                )
                _flash_created_overdue(result.created_overdue)
                return redirect(url_for("cases.index"))
        if errors:
            summary = _(
                "%(source)s was not imported: %(count)d errors. Nothing was registered; "
                "correct the file and import it again.",
                source=source,
                count=len(errors),
            )
    return render_template(
        "cases/import.html",
        form=form,
        errors=errors,
        summary=summary,
        columns=list(CSV_COLUMNS.items()),
        required=REQUIRED_COLUMNS,
    )
