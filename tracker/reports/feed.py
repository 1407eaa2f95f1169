"""Personal iCalendar feeds: a secret URL per user listing the deadlines he owes.

The token in the URL is the only credential (calendar apps cannot sign in), so it is long,
random, stored only as its sha256, shown once, and revocable; an unknown or revoked token is 404.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import Response, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from icalendar import Calendar, Event
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, contains_eager

from tracker.clock import now
from tracker.extensions import db
from tracker.guards import public, signed_in
from tracker.models import CalendarFeed, ChecklistItem, Requirement, Role, Unit, User
from tracker.models.checklist import OWED_STATUSES, STATUS_LABELS
from tracker.reports import bp
from tracker.reports.forms import FeedForm
from tracker.services import audit

MAX_EVENTS = 2000  # a calendar app does not need more; bounds the one query
UID_DOMAIN = "hegui-taizhang"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- service functions


def active_feed(session: Session, user: User) -> CalendarFeed | None:
    return session.scalar(
        select(CalendarFeed)
        .where(CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None))
        .order_by(CalendarFeed.id.desc())
        .limit(1)
    )


def revoke_feeds(session: Session, *, actor: User, now: datetime) -> int:
    """Revoke every live feed of the user (audited); returns how many."""
    feeds = list(
        session.scalars(
            select(CalendarFeed).where(
                CalendarFeed.user_id == actor.id, CalendarFeed.revoked_at.is_(None)
            )
        )
    )
    for feed in feeds:
        feed.revoked_at = now
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="calendar_feed.revoked",
            object_type="calendar_feed",
            object_id=feed.id,
            data={"user_id": actor.id},
            at=now,
        )
    return len(feeds)


def create_feed(session: Session, *, actor: User, now: datetime) -> str:
    """A new feed replacing any live one; returns the secret token (never stored as such)."""
    revoke_feeds(session, actor=actor, now=now)
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(user_id=actor.id, token_hash=_hash(token), created_at=now)
    session.add(feed)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="calendar_feed.created",
        object_type="calendar_feed",
        object_id=feed.id,
        data={"user_id": actor.id},
        at=now,
    )
    return token


def feed_owner(session: Session, token: str) -> User | None:
    """The active user of a live feed with this token, or None."""
    if not token or len(token) > 200:
        return None
    return session.scalar(
        select(User)
        .join(CalendarFeed, CalendarFeed.user_id == User.id)
        .where(
            CalendarFeed.token_hash == _hash(token),
            CalendarFeed.revoked_at.is_(None),
            User.active,
        )
    )


def owed_items(session: Session, user: User) -> list[ChecklistItem]:
    """Open or returned items assigned to the user, and for a chief those of his unit subtree."""
    condition = ChecklistItem.assignee_id == user.id
    if Role(user.role) == Role.CHIEF:
        condition = or_(condition, Unit.path.startswith(user.unit.path, autoescape=True))
    return list(
        session.scalars(
            select(ChecklistItem)
            .join(ChecklistItem.unit)
            .join(ChecklistItem.requirement)
            .options(contains_eager(ChecklistItem.unit), contains_eager(ChecklistItem.requirement))
            .where(condition, ChecklistItem.status.in_([s.value for s in OWED_STATUSES]))
            .order_by(ChecklistItem.due_date, Requirement.code, ChecklistItem.id)
            .limit(MAX_EVENTS)
        )
    )


def item_uid(item: ChecklistItem) -> str:
    """Stable per item, so a moved deadline updates the event instead of adding one."""
    return f"checklist-item-{item.id}@{UID_DOMAIN}"


def build_calendar(
    items: list[ChecklistItem], *, user: User, locale: str, stamp: datetime
) -> bytes:
    """An iCalendar of all-day events on the items' due dates."""
    calendar = Calendar()
    calendar.add("prodid", "-//合规台账//Compliance Ledger//ZH")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    with force_locale(locale):
        calendar.add("x-wr-calname", _("Compliance deadlines: %(name)s", name=user.name))
        for item in items:
            event = Event()
            event.add("uid", item_uid(item))
            event.add("dtstamp", stamp)
            event.add("dtstart", item.due_date)
            event.add("dtend", item.due_date + timedelta(days=1))
            title = item.requirement.title(locale)
            event.add("summary", f"{item.requirement.code} {title}")
            url = url_for("items.detail", item_id=item.id, _external=True)
            event.add("url", url)
            scope = item.period or ""
            event.add(
                "description",
                f"{item.unit.display_name(locale)} · {scope} · {STATUS_LABELS[item.status]}\n{url}",
            )
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
    return calendar.to_ical()


# ---------------------------------------------------------------- views


@bp.get("/feed/<token>.ics")
@public
def feed_ics(token: str):
    user = feed_owner(db.session, token)
    if user is None:
        abort(404)
    locale = user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    body = build_calendar(owed_items(db.session, user), user=user, locale=locale, stamp=now())
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = "inline; filename=deadlines.ics"
    response.headers["Cache-Control"] = "private, max-age=900"
    return response


@bp.route("/feed", methods=["GET", "POST"])
@signed_in
def feed_settings():
    form = FeedForm()
    new_url = None
    if form.validate_on_submit():
        if form.action.data == "create":
            token = create_feed(db.session, actor=current_user, now=now())
            db.session.commit()
            # Shown once, on this response only: neither stored nor put in the session.
            new_url = url_for("reports.feed_ics", token=token, _external=True)
            flash(
                _("Your calendar feed is ready. Copy its address now: it is shown only once."),
                "success",
            )
        else:
            revoked = revoke_feeds(db.session, actor=current_user, now=now())
            db.session.commit()
            if revoked:
                flash(_("Your calendar feed was revoked: its address no longer works."), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for("reports.feed_settings"))
    feed = active_feed(db.session, current_user)
    return render_template(
        "reports/feed.html",
        feed=feed,
        new_url=new_url,
        create_form=FeedForm(formdata=None, action="create"),
        revoke_form=FeedForm(formdata=None, action="revoke"),
    )
