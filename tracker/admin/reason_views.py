"""Admin pages for the return-reason templates inspectors pick from when returning an item."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from tracker.admin import bp
from tracker.admin.forms import ConfirmForm
from tracker.admin.review_settings_forms import ReasonTemplateForm
from tracker.clock import now
from tracker.extensions import db
from tracker.guards import requires
from tracker.models import ReturnReasonTemplate
from tracker.permissions import Permission
from tracker.services import review_settings
from tracker.services.errors import DomainError

_ORDER = (ReturnReasonTemplate.position, ReturnReasonTemplate.id)


def _show_error(form: ReasonTemplateForm, error: DomainError) -> None:
    field = getattr(form, error.field or "", None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, str(error.message)]
    else:
        flash(str(error.message), "danger")


@bp.get("/reasons")
@requires(Permission.MANAGE_REVIEW_SETTINGS)
def reasons():
    page = db.paginate(
        select(ReturnReasonTemplate).order_by(*_ORDER),
        page=request.args.get("page", 1, type=int) or 1,
        per_page=current_app.config["PER_PAGE"],
        error_out=False,
    )
    return render_template("admin/reasons.html", page=page, confirm=ConfirmForm())


@bp.route("/reasons/new", methods=["GET", "POST"])
@requires(Permission.MANAGE_REVIEW_SETTINGS)
def reason_new():
    form = ReasonTemplateForm()
    if form.validate_on_submit():
        try:
            review_settings.create_template(
                db.session,
                actor=current_user,
                text_zh=form.text_zh.data,
                text_en=form.text_en.data,
                position=form.position.data,
                now=now(),
            )
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            db.session.commit()
            flash(_("Return reason added."), "success")
            return redirect(url_for("admin.reasons"), 303)
    return render_template("admin/reason_form.html", form=form, template=None)


@bp.route("/reasons/<int:template_id>/edit", methods=["GET", "POST"])
@requires(Permission.MANAGE_REVIEW_SETTINGS, template_id=ReturnReasonTemplate)
def reason_edit(template: ReturnReasonTemplate):
    form = ReasonTemplateForm(obj=template)
    if form.validate_on_submit():
        try:
            changed = review_settings.update_template(
                db.session,
                actor=current_user,
                template=template,
                text_zh=form.text_zh.data,
                text_en=form.text_en.data,
                position=form.position.data,
                now=now(),
            )
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            db.session.commit()
            flash(_("Return reason saved.") if changed else _("Nothing changed."), "success")
            return redirect(url_for("admin.reasons"), 303)
    return render_template("admin/reason_form.html", form=form, template=template)


@bp.post("/reasons/<int:template_id>/active")
@requires(Permission.MANAGE_REVIEW_SETTINGS, template_id=ReturnReasonTemplate)
def reason_set_active(template: ReturnReasonTemplate):
    if ConfirmForm().validate_on_submit():
        active = request.form.get("active") == "1"
        review_settings.set_template_active(
            db.session, actor=current_user, template=template, active=active, now=now()
        )
        db.session.commit()
        flash(
            _("The reason is offered again in review forms.")
            if active
            else _("The reason is no longer offered in review forms."),
            "success",
        )
    return redirect(url_for("admin.reasons"), 303)


@bp.post("/reasons/<int:template_id>/move")
@requires(Permission.MANAGE_REVIEW_SETTINGS, template_id=ReturnReasonTemplate)
def reason_move(template: ReturnReasonTemplate):
    """One step up or down the list (the order inspectors see in the review form)."""
    if ConfirmForm().validate_on_submit():
        order = list(db.session.scalars(select(ReturnReasonTemplate.id).order_by(*_ORDER)))
        at = order.index(template.id)
        to = at - 1 if request.form.get("direction") == "up" else at + 1
        if 0 <= to < len(order):
            order[at], order[to] = order[to], order[at]
            review_settings.reorder_templates(
                db.session, actor=current_user, order=order, now=now()
            )
            db.session.commit()
    return redirect(url_for("admin.reasons", page=request.form.get("page", type=int)), 303)
