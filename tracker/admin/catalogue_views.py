"""Admin pages for the requirement catalogue: browse, search, edit, (de)activate."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from tracker.admin import bp
from tracker.admin.catalogue_forms import RequirementForm
from tracker.admin.forms import ConfirmForm
from tracker.clock import now
from tracker.extensions import db
from tracker.guards import requires, safe_next
from tracker.models import Cadence, Family, Requirement, RequirementKind, RequirementVersion
from tracker.models.catalogue import CADENCE_LABELS, FAMILY_LABELS
from tracker.permissions import Permission
from tracker.services import catalogue
from tracker.services.catalogue import CatalogueInvalid

TEXT_FIELDS = (
    "title_zh",
    "title_en",
    "description_zh",
    "description_en",
    "legal_basis",
    "evidence_hint_zh",
    "evidence_hint_en",
)
# Catalogue fields with a form field of their own; errors on any other go to a flash message.
FORM_FIELD_OF = {
    "deadline": "deadline",
    "owners": "owners",
    "target_count": "target_count",
    "target_value": "target_value",
    **{f: f for f in TEXT_FIELDS},
}


def _enum_arg(name: str, enum_class: type) -> Any:
    value = request.args.get(name, "")
    return value if value in {e.value for e in enum_class} else ""


@bp.get("/requirements")
@requires(Permission.MANAGE_CATALOGUE)
def requirements():
    query = request.args.get("q", "").strip()
    family = _enum_arg("family", Family)
    cadence = _enum_arg("cadence", Cadence)
    state = request.args.get("state", "")
    stmt = select(Requirement).order_by(Requirement.code)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(
            or_(
                Requirement.code.ilike(like),
                Requirement.title_zh.ilike(like),
                Requirement.title_en.ilike(like),
                Requirement.legal_basis.ilike(like),
            )
        )
    if family:
        stmt = stmt.where(Requirement.family == family)
    if cadence:
        stmt = stmt.where(Requirement.cadence == cadence)
    if state in ("active", "inactive"):
        stmt = stmt.where(Requirement.active.is_(state == "active"))
    page = db.paginate(
        stmt,
        page=request.args.get("page", 1, type=int) or 1,
        per_page=current_app.config["PER_PAGE"],
        error_out=False,
    )
    return render_template(
        "admin/catalogue/index.html",
        page=page,
        q=query,
        family=family,
        cadence=cadence,
        state=state,
        families=FAMILY_LABELS,
        cadences=CADENCE_LABELS,
        confirm=ConfirmForm(),
    )


TARGET_LIMIT = Decimal("1e10")  # the column is Numeric(14, 4): larger targets cannot be stored


def _form_values(form: RequirementForm, requirement: Requirement) -> dict[str, Any]:
    """The form as catalogue-entry values; ValueError(field, message) when one cannot be read."""
    # A field missing from the request (a hand-made post) reads as empty, not as a crash.
    values: dict[str, Any] = {
        name: (getattr(form, name).data or "").strip() for name in TEXT_FIELDS
    }
    owners = (form.owners.data or "").replace("，", ",")
    values["owners"] = [o.strip() for o in owners.split(",")]
    values["owners"] = [o for o in values["owners"] if o]
    try:
        rule = yaml.safe_load(form.deadline.data or "")
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        # Not YAML, or a scalar YAML reads but Python cannot hold (e.g. the date 0000-01-01).
        rule = None
    if not isinstance(rule, dict):
        raise ValueError(
            "deadline", _("Write the rule as a mapping, e.g. {type: working_days, days: 20}.")
        )
    values["deadline"] = rule
    if requirement.kind == RequirementKind.COUNT:
        count = (form.target_count.data or "").strip()
        if not count.isdecimal() or len(count) > 9:
            raise ValueError("target_count", _("Enter a whole number."))
        values["target_count"] = int(count)
    if requirement.kind == RequirementKind.INDICATOR:
        try:
            value = Decimal((form.target_value.data or "").strip())
        except InvalidOperation:
            raise ValueError("target_value", _("Enter a number.")) from None
        if not value.is_finite() or abs(value) >= TARGET_LIMIT:
            raise ValueError("target_value", _("Enter a number.")) from None
        values["target_value"] = int(value) if value == value.to_integral() else float(value)
    return values


def _fill_form(form: RequirementForm, requirement: Requirement) -> None:
    for name in TEXT_FIELDS:
        getattr(form, name).data = getattr(requirement, name)
    form.owners.data = ", ".join(requirement.owners)
    form.deadline.data = yaml.safe_dump(
        dict(requirement.deadline_rule), default_flow_style=True, allow_unicode=True
    ).strip()
    form.target_count.data = "" if requirement.target_count is None else requirement.target_count
    value = requirement.target_value
    form.target_value.data = "" if value is None else f"{Decimal(value).normalize():f}"


def _show_issues(form: RequirementForm, error: CatalogueInvalid) -> None:
    for issue in error.issues:
        top = (issue.field or "").split(".")[0]  # "deadline.type" belongs to the deadline field
        field = getattr(form, FORM_FIELD_OF[top], None) if top in FORM_FIELD_OF else None
        if field is not None:
            field.errors = [*field.errors, str(issue.message)]
        else:
            flash(f"{issue.field}: {issue.message}" if issue.field else issue.message, "danger")


@bp.route("/requirements/<int:requirement_id>", methods=["GET", "POST"])
@requires(Permission.MANAGE_CATALOGUE, requirement_id=Requirement)
def requirement_edit(requirement: Requirement):
    form = RequirementForm()
    if request.method == "GET":
        _fill_form(form, requirement)
    elif form.validate_on_submit():
        try:
            values = _form_values(form, requirement)
            changed = catalogue.update_requirement(
                db.session, actor=current_user, requirement=requirement, values=values, now=now()
            )
        except ValueError as error:
            name, message = error.args
            getattr(form, name).errors = [message]
        except CatalogueInvalid as error:
            db.session.rollback()
            _show_issues(form, error)
        else:
            db.session.commit()
            if changed:
                flash(
                    _(
                        "%(code)s saved as version %(version)d. Items already generated keep "
                        "the rule they were made with.",
                        code=requirement.code,
                        version=requirement.version,
                    ),
                    "success",
                )
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for("admin.requirement_edit", requirement_id=requirement.id))
    versions = db.session.scalars(
        select(RequirementVersion)
        .where(RequirementVersion.requirement_id == requirement.id)
        .order_by(RequirementVersion.version.desc())
        .limit(20)
    ).all()
    return render_template(
        "admin/catalogue/edit.html",
        form=form,
        requirement=requirement,
        versions=versions,
        confirm=ConfirmForm(),
    )


@bp.post("/requirements/<int:requirement_id>/active")
@requires(Permission.MANAGE_CATALOGUE, requirement_id=Requirement)
def requirement_set_active(requirement: Requirement):
    form = ConfirmForm()
    if form.validate_on_submit():
        active = request.form.get("active") == "1"
        catalogue.set_active(
            db.session, actor=current_user, requirement=requirement, active=active, now=now()
        )
        db.session.commit()
        if active:
            message = _("%(code)s activated: new periods will get items.", code=requirement.code)
        else:
            message = _(
                "%(code)s deactivated: no new items are generated; existing items stay.",
                code=requirement.code,
            )
        flash(message, "success")
    return redirect(safe_next(request.form.get("next"), url_for("admin.requirements")))
