"""Admin pages for units and users (admin role only)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select
from wtforms import SelectChoice

from tracker.admin import bp
from tracker.admin.forms import ConfirmForm, UnitForm, UserForm
from tracker.clock import now
from tracker.extensions import db
from tracker.guards import requires
from tracker.models import Role, Unit, UnitKind, User
from tracker.permissions import ROLE_LABELS, Permission
from tracker.services import directory
from tracker.services.errors import DomainError


def _unit_choices(*, include_none: bool = False, exclude: Unit | None = None) -> list:
    units = db.session.scalars(select(Unit).where(Unit.active).order_by(Unit.path)).all()
    choices = [SelectChoice(0, "—")] if include_none else []
    for unit in units:
        if exclude is not None and unit.path.startswith(exclude.path):
            continue
        depth = unit.path.count("/") - 2
        choices.append(SelectChoice(unit.id, "\u3000" * depth + f"{unit.name} ({unit.code})"))
    return choices


def _page() -> int:
    return request.args.get("page", 1, type=int) or 1


def _apply_error(form, error: DomainError) -> None:
    """Show a service error next to its field, or as a flash when it concerns the whole form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "danger")


@bp.get("/")
@requires(Permission.MANAGE_UNITS)
def index():
    return redirect(url_for("admin.units"))


# ---------------------------------------------------------------- units


@bp.get("/units")
@requires(Permission.MANAGE_UNITS)
def units():
    query = request.args.get("q", "").strip()
    stmt = select(Unit).order_by(Unit.path)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(
            or_(Unit.code.ilike(like), Unit.name.ilike(like), Unit.name_en.ilike(like))
        )
    page = db.paginate(stmt, page=_page(), per_page=current_app.config["PER_PAGE"], error_out=False)
    return render_template("admin/units.html", page=page, q=query, confirm=ConfirmForm())


@bp.route("/units/new", methods=["GET", "POST"])
@requires(Permission.MANAGE_UNITS)
def unit_new():
    form = UnitForm()
    form.parent_id.choices = _unit_choices(include_none=True)
    if form.validate_on_submit():
        try:
            unit = directory.create_unit(
                db.session,
                actor=current_user,
                code=form.code.data,
                name=form.name.data,
                name_en=form.name_en.data,
                kind=UnitKind(form.kind.data),
                parent=db.session.get(Unit, form.parent_id.data) if form.parent_id.data else None,
                dingtalk_webhook=form.dingtalk_webhook.data,
                dingtalk_secret=form.dingtalk_secret.data or None,
                now=now(),
            )
        except DomainError as error:
            db.session.rollback()
            _apply_error(form, error)
        else:
            db.session.commit()
            flash(_("Unit %(name)s created.", name=unit.name), "success")
            return redirect(url_for("admin.units"))
    _describe_secret(form, None)
    return render_template("admin/unit_form.html", form=form, unit=None)


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
@requires(Permission.MANAGE_UNITS, unit_id=Unit)
def unit_edit(unit: Unit):
    form = UnitForm(obj=unit)
    form.parent_id.choices = _unit_choices(include_none=True, exclude=unit)
    if request.method == "GET":
        form.parent_id.data = unit.parent_id or 0
    if form.validate_on_submit():
        try:
            directory.update_unit(
                db.session,
                actor=current_user,
                unit=unit,
                code=form.code.data,
                name=form.name.data,
                name_en=form.name_en.data,
                kind=UnitKind(form.kind.data),
                parent=db.session.get(Unit, form.parent_id.data) if form.parent_id.data else None,
                dingtalk_webhook=form.dingtalk_webhook.data,
                dingtalk_secret=_secret_change(form),
                now=now(),
            )
        except DomainError as error:
            db.session.rollback()
            _apply_error(form, error)
        else:
            db.session.commit()
            flash(_("Unit %(name)s saved.", name=unit.name), "success")
            return redirect(url_for("admin.units"))
    _describe_secret(form, unit)
    return render_template("admin/unit_form.html", form=form, unit=unit)


def _secret_change(form: UnitForm) -> str | directory.Keep | None:
    """A typed secret replaces the stored one, "remove" clears it, an empty field keeps it."""
    if form.dingtalk_secret_clear.data:
        return None
    return form.dingtalk_secret.data or directory.KEEP


def _describe_secret(form: UnitForm, unit: Unit | None) -> None:
    """Say whether a secret is stored, without ever putting it into the page."""
    form.dingtalk_secret.data = ""
    if unit is None or not unit.dingtalk_secret:
        del form.dingtalk_secret_clear  # nothing to remove
    if unit is not None and unit.dingtalk_secret:
        form.dingtalk_secret.description = _(
            "A secret is set. Leave the field empty to keep it, or type a new one to replace it."
        )
    else:
        form.dingtalk_secret.description = _(
            "Not set. With the robot's signing secret (it starts with SEC) every message is signed."
        )


@bp.post("/units/<int:unit_id>/active")
@requires(Permission.MANAGE_UNITS, unit_id=Unit)
def unit_set_active(unit: Unit):
    if ConfirmForm().validate_on_submit():
        activate = request.form.get("active") == "1"
        try:
            directory.set_unit_active(
                db.session, actor=current_user, unit=unit, active=activate, now=now()
            )
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "danger")
        else:
            db.session.commit()
            flash(
                _("Unit %(name)s activated.", name=unit.name)
                if activate
                else _("Unit %(name)s deactivated.", name=unit.name),
                "success",
            )
    return redirect(url_for("admin.units"))


# ---------------------------------------------------------------- users


def _role_choices() -> list:
    return [SelectChoice(role.value, ROLE_LABELS[role]) for role in Role]


@bp.get("/users")
@requires(Permission.MANAGE_USERS)
def users():
    query = request.args.get("q", "").strip()
    role = request.args.get("role", "")
    unit_id = request.args.get("unit", 0, type=int)
    state = request.args.get("state", "active")
    stmt = select(User).join(User.unit).order_by(Unit.path, User.role, User.name)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(or_(User.email.ilike(like), User.name.ilike(like)))
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == role)
    if unit_id:
        stmt = stmt.where(User.unit_id == unit_id)
    if state == "active":
        stmt = stmt.where(User.active)
    elif state == "inactive":
        stmt = stmt.where(~User.active)
    page = db.paginate(stmt, page=_page(), per_page=current_app.config["PER_PAGE"], error_out=False)
    return render_template(
        "admin/users.html",
        page=page,
        q=query,
        role=role,
        unit_id=unit_id,
        state=state,
        roles=_role_choices(),
        units=_unit_choices(),
        confirm=ConfirmForm(),
    )


@bp.route("/users/new", methods=["GET", "POST"])
@requires(Permission.MANAGE_USERS)
def user_new():
    form = UserForm()
    form.role.choices = _role_choices()
    form.unit_id.choices = _unit_choices()
    if form.validate_on_submit():
        if not form.password.data:
            form.password.errors = [_("A new user needs an initial password.")]
        else:
            try:
                user = directory.create_user(
                    db.session,
                    actor=current_user,
                    email=form.email.data,
                    name=form.name.data,
                    role=Role(form.role.data),
                    unit=db.session.get(Unit, form.unit_id.data),
                    locale=form.locale.data,
                    password=form.password.data,
                    now=now(),
                )
            except DomainError as error:
                db.session.rollback()
                _apply_error(form, error)
            else:
                db.session.commit()
                flash(_("User %(name)s created.", name=user.name), "success")
                return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@requires(Permission.MANAGE_USERS, user_id=User)
def user_edit(user: User):
    form = UserForm(obj=user)
    form.role.choices = _role_choices()
    form.unit_id.choices = _unit_choices()
    if request.method == "GET":
        form.locale.data = user.locale or ""
    if form.validate_on_submit():
        try:
            directory.update_user(
                db.session,
                actor=current_user,
                user=user,
                email=form.email.data,
                name=form.name.data,
                role=Role(form.role.data),
                unit=db.session.get(Unit, form.unit_id.data),
                locale=form.locale.data,
                new_password=form.password.data or None,
                now=now(),
            )
        except DomainError as error:
            db.session.rollback()
            _apply_error(form, error)
        else:
            db.session.commit()
            flash(_("User %(name)s saved.", name=user.name), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user)


@bp.post("/users/<int:user_id>/active")
@requires(Permission.MANAGE_USERS, user_id=User)
def user_set_active(user: User):
    if ConfirmForm().validate_on_submit():
        activate = request.form.get("active") == "1"
        try:
            directory.set_user_active(
                db.session, actor=current_user, user=user, active=activate, now=now()
            )
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "danger")
        else:
            db.session.commit()
            flash(
                _("User %(name)s activated.", name=user.name)
                if activate
                else _("User %(name)s deactivated.", name=user.name),
                "success",
            )
    return redirect(url_for("admin.users"))
