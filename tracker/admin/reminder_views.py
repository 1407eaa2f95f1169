"""Admin page for the reminder rules: when reminders and escalations go out."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from tracker.admin import bp
from tracker.admin.reminder_forms import ReminderPolicyForm
from tracker.clock import now
from tracker.extensions import db
from tracker.guards import requires
from tracker.models import User
from tracker.permissions import Permission
from tracker.services import reminders as reminder_service
from tracker.services.errors import ValidationFailed


@bp.route("/reminders", methods=["GET", "POST"])
@requires(Permission.MANAGE_REMINDERS)
def reminders():
    policy = reminder_service.get_policy(db.session)
    form = ReminderPolicyForm()
    if not form.is_submitted():
        form.before_due_working_days.data = ", ".join(
            str(n) for n in policy.before_due_working_days
        )
        for name in (
            "overdue_every_working_days",
            "escalate_chief_after",
            "escalate_leaders_after",
            "review_waiting_after",
        ):
            getattr(form, name).data = getattr(policy, name)
    elif form.validate():
        try:
            changed = reminder_service.update_policy(
                db.session,
                actor=current_user,
                before_due_working_days=form.before_due_working_days.parsed,
                overdue_every_working_days=form.overdue_every_working_days.data,
                escalate_chief_after=form.escalate_chief_after.data,
                escalate_leaders_after=form.escalate_leaders_after.data,
                review_waiting_after=form.review_waiting_after.data,
                now=now(),
            )
        except ValidationFailed as error:
            db.session.rollback()
            field = getattr(form, error.field or "before_due_working_days")
            field.errors = [*field.errors, str(error.message)]
        else:
            db.session.commit()
            flash(_("Reminder rules saved.") if changed else _("Nothing changed."), "success")
            return redirect(url_for("admin.reminders"), 303)
    updated_by = db.session.get(User, policy.updated_by_id) if policy.updated_by_id else None
    status = 400 if form.errors else 200
    return (
        render_template(
            "admin/reminders.html",
            form=form,
            policy=policy,
            updated_by=updated_by,
            reminder_hour=current_app.config.get("TRACKER_REMINDER_HOUR", 9),
        ),
        status,
    )
