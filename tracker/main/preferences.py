"""Each user's reminder settings: which optional reminders he receives (linked from every email)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SubmitField

from tracker.clock import now
from tracker.extensions import db
from tracker.guards import signed_in
from tracker.main import bp
from tracker.models import Role
from tracker.services import reminders


class NotificationPreferencesForm(FlaskForm):
    before_due = BooleanField(_l("Reminders before the due date of my items"))
    overdue = BooleanField(_l("Reminders while my items are overdue"))
    review_waiting = BooleanField(_l("Reminders of submissions waiting for my review"))
    submit = SubmitField(_l("Save"))


def _reviews(user) -> bool:
    """Only inspectors receive review reminders; others are not offered the choice."""
    return Role(user.role) == Role.INSPECTOR


@bp.route("/account/notifications", methods=["GET", "POST"])
@signed_in
def notification_preferences():
    prefs = reminders.get_preferences(db.session, current_user)
    form = NotificationPreferencesForm(obj=prefs)
    if not _reviews(current_user):
        del form.review_waiting
    if form.validate_on_submit():
        changed = reminders.update_preferences(
            db.session,
            user=current_user,
            before_due=form.before_due.data,
            overdue=form.overdue.data,
            review_waiting=(
                form.review_waiting.data if _reviews(current_user) else prefs.review_waiting
            ),
            now=now(),
        )
        db.session.commit()
        flash(_("Reminder settings saved.") if changed else _("Nothing changed."), "success")
        return redirect(url_for("main.notification_preferences"), 303)
    return render_template(
        "main/notification_preferences.html",
        form=form,
        is_chief=Role(current_user.role) == Role.CHIEF,
        is_leader=Role(current_user.role) in (Role.ADMIN, Role.LEADER),
    )
