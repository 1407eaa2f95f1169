"""The outbox for admins: every reminder message, its delivery state, and a retry for failures.

Without a mail server (the `make run` demo) email stays pending here, so reminders can be read.
"""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from tracker.admin import bp
from tracker.admin.forms import ConfirmForm
from tracker.clock import now
from tracker.extensions import db
from tracker.guards import date_arg, requires
from tracker.models import Notification, NotificationChannel, NotificationKind, NotificationStatus
from tracker.notify.email import mail_configured
from tracker.permissions import Permission
from tracker.services import dispatch
from tracker.services.errors import DomainError

STATUS_LABELS = {
    NotificationStatus.PENDING: _l("Waiting to be sent"),
    NotificationStatus.SENDING: _l("Sending"),
    NotificationStatus.SENT: _l("Sent"),
    NotificationStatus.FAILED: _l("Sending failed"),
}
STATUS_BADGES = {
    NotificationStatus.PENDING: "text-bg-secondary",
    NotificationStatus.SENDING: "text-bg-info",
    NotificationStatus.SENT: "text-bg-success",
    NotificationStatus.FAILED: "text-bg-danger",
}
CHANNEL_LABELS = {
    NotificationChannel.EMAIL: _l("By email"),
    NotificationChannel.DINGTALK: _l("DingTalk group"),
}
KIND_LABELS = {
    NotificationKind.DIGEST: _l("Daily reminder"),
    NotificationKind.ESCALATION_CHIEF: _l("Escalation to the unit chief"),
    NotificationKind.ESCALATION_LEADERS: _l("Escalation to administrators and leaders"),
    NotificationKind.REVIEW_WAITING: _l("Submissions waiting for review"),
    NotificationKind.UNIT_DIGEST: _l("Reminder to the unit's DingTalk group"),
}


def _date_arg(name: str) -> date | None:
    return date_arg(name)  # bounded: a far date has no local midnight to compare with


def _choice(name: str, enum: type) -> str:
    value = request.args.get(name, "")
    return value if value in {member.value for member in enum} else ""


def _filtered(stmt: Select, filters: dict) -> Select:
    """Apply every filter except status (the status counts ignore the status filter)."""
    if filters["channel"]:
        stmt = stmt.where(Notification.channel == filters["channel"])
    if filters["kind"]:
        stmt = stmt.where(Notification.kind == filters["kind"])
    if filters["from"]:
        stmt = stmt.where(Notification.digest_date >= filters["from"])
    if filters["to"]:
        stmt = stmt.where(Notification.digest_date <= filters["to"])
    return stmt


@bp.get("/outbox")
@requires(Permission.MANAGE_OUTBOX)
def outbox():
    filters = {
        "status": _choice("status", NotificationStatus),
        "channel": _choice("channel", NotificationChannel),
        "kind": _choice("kind", NotificationKind),
        "from": _date_arg("from"),
        "to": _date_arg("to"),
    }
    stmt = _filtered(select(Notification), filters)
    if filters["status"]:
        stmt = stmt.where(Notification.status == filters["status"])
    stmt = stmt.options(joinedload(Notification.recipient), joinedload(Notification.unit)).order_by(
        Notification.id.desc()
    )
    page = db.paginate(
        stmt,
        page=request.args.get("page", 1, type=int) or 1,
        per_page=current_app.config["PER_PAGE"],
        error_out=False,
    )
    # One grouped query for the counts shown on the status tabs.
    counts = dict(
        db.session.execute(
            _filtered(
                select(Notification.status, func.count()).group_by(Notification.status), filters
            )
        ).all()
    )
    return render_template(
        "admin/outbox.html",
        page=page,
        filters={
            **filters,
            "from": filters["from"].isoformat() if filters["from"] else "",
            "to": filters["to"].isoformat() if filters["to"] else "",
        },
        # The status tabs keep the other filters and start again at page 1.
        tab_args={k: v for k, v in request.args.items() if k not in {"status", "page"}},
        counts={status: counts.get(status, 0) for status in NotificationStatus},
        mail_configured=mail_configured(current_app.config),
        confirm=ConfirmForm(),
        **_labels(),
    )


def _labels() -> dict:
    return {
        "status_labels": STATUS_LABELS,
        "status_badges": STATUS_BADGES,
        "channel_labels": CHANNEL_LABELS,
        "kind_labels": KIND_LABELS,
    }


@bp.get("/outbox/<int:notification_id>")
@requires(Permission.MANAGE_OUTBOX, notification_id=Notification)
def outbox_message(notification: Notification):
    return render_template(
        "admin/outbox_message.html",
        message=notification,
        mail_configured=mail_configured(current_app.config),
        confirm=ConfirmForm(),
        **_labels(),
    )


@bp.post("/outbox/<int:notification_id>/retry")
@requires(Permission.MANAGE_OUTBOX, notification_id=Notification)
def outbox_retry(notification: Notification):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        dispatch.retry(db.session, actor=current_user, notification=notification, now=now())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
    else:
        db.session.commit()
        flash(_("Message %(id)d will be sent again.", id=notification.id), "success")
    return redirect(url_for("admin.outbox_message", notification_id=notification.id))
