"""The landing page and the health check."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import text

from tracker.clock import today
from tracker.extensions import db
from tracker.guards import public, signed_in
from tracker.main import bp
from tracker.models import Role
from tracker.permissions import Permission, has_permission
from tracker.services import holidays


@bp.get("/")
@signed_in
def index():
    # Chiefs and officers work from their checklist: it is their landing page.
    if Role(current_user.role) in (Role.CHIEF, Role.STAFF):
        return redirect(url_for("items.index"))
    calendar = None
    if has_permission(current_user, Permission.MANAGE_CALENDAR):
        # Admins are the ones who can load a missing holiday table: warn them here.
        calendar = holidays.calendar_status(db.session, today=today())
    return render_template("main/index.html", user=current_user, calendar=calendar)


@bp.get("/healthz")
@public
def healthz():
    """Liveness and database reachability, for load balancers and monitoring."""
    try:
        db.session.execute(text("SELECT 1"))
        database_ok = True
    except Exception:  # any driver error means "not reachable" here  # noqa: BLE001
        db.session.rollback()
        database_ok = False
    status = 200 if database_ok else 503
    return jsonify(status="ok" if database_ok else "degraded", database=database_ok), status
