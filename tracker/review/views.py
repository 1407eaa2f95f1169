"""The review queue page: what inspectors have to judge, oldest first, with filters."""

from __future__ import annotations

from datetime import datetime, time

from flask import current_app, render_template, request
from flask_login import current_user

from tracker.clock import get_clock, today
from tracker.extensions import db
from tracker.guards import requires
from tracker.models.catalogue import FAMILY_LABELS, Family
from tracker.page_cache import cached_page
from tracker.permissions import Permission
from tracker.review import bp
from tracker.review.queue import QueueFilters, queue_statement, waiting_in_this_request
from tracker.scoping import scoped_units, unit_choices
from tracker.services.holidays import load_calendar

MAX_WAITING_DAYS = 250


@bp.get("/")
@requires(Permission.REVIEW_ITEMS)
@cached_page
def queue():
    args = request.args
    family = args.get("family", "")
    waiting = args.get("waiting", None, type=int)
    units = scoped_units(current_user)
    unit_id = args.get("unit", 0, type=int)
    calendar = load_calendar(db.session)
    submitted_before = None
    if waiting is not None and 0 < waiting <= MAX_WAITING_DAYS:
        # Waiting more than N working days: submitted before the start of the day N working
        # days ago (the statutory calendar, so a holiday week does not count as waiting).
        cutoff = calendar.add_working_days(today(), -waiting)
        submitted_before = datetime.combine(cutoff, time(), tzinfo=get_clock().tz)
    else:
        waiting = None
    filters = QueueFilters(
        unit_id=unit_id if unit_id in {u.id for u in units} else None,
        family=family if family in {f.value for f in Family} else None,
        period=args.get("period", "").strip()[:8] or None,
        submitted_before=submitted_before,
    )
    unfiltered = filters == QueueFilters()
    page = db.paginate(
        queue_statement(current_user, filters),
        page=args.get("page", 1, type=int) or 1,
        per_page=current_app.config["PER_PAGE"],
        error_out=False,
        count=not unfiltered,  # unfiltered, the total is the menu's waiting count
    )
    if unfiltered:
        page.total = waiting_in_this_request()
    today_ = today()
    clock = get_clock()
    rows = [
        (
            item,
            item.last_submitted_at,
            calendar.working_days_between(clock.local(item.last_submitted_at).date(), today_),
        )
        for item in page.items
    ]
    return render_template(
        "review/queue.html",
        page=page,
        rows=rows,
        filters=filters,
        waiting=waiting,
        families=list(FAMILY_LABELS.items()),
        units=unit_choices(units),
    )
