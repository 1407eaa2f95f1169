"""Admin page for inspector exclusions: who may not review which unit's items."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from tracker.admin import bp
from tracker.admin.forms import ConfirmForm
from tracker.admin.review_settings_forms import ExclusionForm
from tracker.clock import now
from tracker.extensions import db
from tracker.guards import requires
from tracker.i18n import current_locale
from tracker.models import InspectorExclusion, Unit, User
from tracker.permissions import ROLE_LABELS, Permission
from tracker.scoping import unit_choices
from tracker.services import review_settings
from tracker.services.errors import DomainError


def _form() -> ExclusionForm:
    form = ExclusionForm()
    reviewers = db.session.scalars(
        select(User)
        .where(User.active, User.role.in_(list(review_settings.EXCLUDABLE_ROLES)))
        .order_by(User.name, User.id)
    ).all()
    form.inspector_id.choices = [SelectChoice(0, "—")] + [
        SelectChoice(u.id, f"{u.name} ({ROLE_LABELS[u.role]}, {u.email})") for u in reviewers
    ]
    units = db.session.scalars(select(Unit).where(Unit.active).order_by(Unit.path)).all()
    form.unit_id.choices = [SelectChoice(0, "—"), *unit_choices(list(units))]
    return form


def _render(form: ExclusionForm, status: int = 200):
    page = db.paginate(
        select(InspectorExclusion)
        .join(User, User.id == InspectorExclusion.inspector_id)
        .order_by(User.name, InspectorExclusion.id),
        page=request.args.get("page", 1, type=int) or 1,
        per_page=current_app.config["PER_PAGE"],
        error_out=False,
    )
    # The inspectors and the admins who added the exclusions: one query for the whole page.
    ids = {e.inspector_id for e in page.items} | {
        e.created_by_id for e in page.items if e.created_by_id is not None
    }
    people = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    )
    rows = [(e, people[e.inspector_id], people.get(e.created_by_id)) for e in page.items]
    return render_template(
        "admin/exclusions.html", page=page, rows=rows, form=form, confirm=ConfirmForm()
    ), status


@bp.get("/exclusions")
@requires(Permission.MANAGE_REVIEW_SETTINGS)
def exclusions():
    return _render(_form())


@bp.post("/exclusions")
@requires(Permission.MANAGE_REVIEW_SETTINGS)
def exclusion_add():
    form = _form()
    if not form.validate_on_submit():
        return _render(form, 400)
    try:
        exclusion = review_settings.add_exclusion(
            db.session,
            actor=current_user,
            inspector_id=form.inspector_id.data,
            unit_id=form.unit_id.data,
            now=now(),
        )
    except DomainError as error:
        db.session.rollback()
        field = getattr(form, error.field or "", None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, str(error.message)]
        else:
            flash(str(error.message), "danger")
        return _render(form, 400)
    db.session.commit()
    inspector = db.session.get(User, exclusion.inspector_id)
    flash(
        _(
            "%(name)s no longer reviews the items of %(unit)s.",
            name=inspector.name if inspector else "",
            unit=exclusion.unit.display_name(current_locale()),
        ),
        "success",
    )
    return redirect(url_for("admin.exclusions"), 303)


@bp.post("/exclusions/<int:exclusion_id>/remove")
@requires(Permission.MANAGE_REVIEW_SETTINGS, exclusion_id=InspectorExclusion)
def exclusion_remove(exclusion: InspectorExclusion):
    if ConfirmForm().validate_on_submit():
        review_settings.remove_exclusion(
            db.session, actor=current_user, exclusion=exclusion, now=now()
        )
        db.session.commit()
        flash(_("Exclusion removed."), "success")
    return redirect(url_for("admin.exclusions"), 303)
