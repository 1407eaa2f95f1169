"""The audit log for admins and inspectors: every change, filtered, newest first."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from flask import current_app, render_template, request
from sqlalchemy import func, select

from tracker.auditlog import bp
from tracker.clock import get_clock
from tracker.extensions import db
from tracker.guards import date_arg, requires
from tracker.models import AuditEvent
from tracker.permissions import Permission

DATA_PREVIEW_CHARS = 300


def _date_arg(name: str) -> date | None:
    return date_arg(name)  # bounded: a far date has no local midnight to compare with


def _local_midnight(day: date) -> datetime:
    """The instant a local calendar day starts (the filter's dates are the bureau's dates)."""
    return datetime.combine(day, time(), tzinfo=get_clock().tz)


def data_preview(data: dict) -> str:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= DATA_PREVIEW_CHARS else text[: DATA_PREVIEW_CHARS - 1] + "…"


@bp.get("/")
@requires(Permission.VIEW_AUDIT_LOG)
def index():
    actor = request.args.get("actor", "").strip()
    action = request.args.get("action", "").strip()
    object_type = request.args.get("object_type", "").strip()
    object_id = request.args.get("object_id", "").strip()
    since, until = _date_arg("from"), _date_arg("to")

    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc())
    if actor:
        label = func.lower(AuditEvent.actor_label)
        stmt = stmt.where(label.contains(actor.lower(), autoescape=True))
    if action:
        # "item." lists every item action; a full code lists that one.
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if since:
        stmt = stmt.where(AuditEvent.occurred_at >= _local_midnight(since))
    if until:
        stmt = stmt.where(AuditEvent.occurred_at < _local_midnight(until + timedelta(days=1)))
    page = db.paginate(
        stmt,
        page=request.args.get("page", 1, type=int) or 1,
        per_page=current_app.config["PER_PAGE"],
        error_out=False,
        count=True,
    )
    object_types = db.session.scalars(
        select(AuditEvent.object_type).distinct().order_by(AuditEvent.object_type)
    ).all()
    return render_template(
        "auditlog/index.html",
        page=page,
        filters={
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "from": since.isoformat() if since else "",
            "to": until.isoformat() if until else "",
        },
        object_types=object_types,
        data_preview=data_preview,
    )
