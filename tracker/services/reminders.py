"""The daily reminder pass: what to remind whom of, written to the outbox once per day.

The pass only writes `Notification` rows; the dispatcher sends them. Every rule counts working
days on the statutory calendar, and nothing is written on a rest day (a make-up Saturday is a
working day). One message per (channel, recipient, day, kind) lists all of the recipient's items,
so a second pass for the same day finds every key taken and writes nothing.

Rules (the numbers come from the admins' `ReminderPolicy`):
- DIGEST to the item's assignee, or to the chief(s) of its unit when unassigned: owed items due
  exactly N working days from today for each N of `before_due_working_days` (0 = today), and
  overdue items on every `overdue_every_working_days`-th working day of lateness.
- ESCALATION_CHIEF, every working day, to the unit's chiefs: items overdue by more than
  `escalate_chief_after` working days. ESCALATION_LEADERS likewise to admins and leaders after
  `escalate_leaders_after`. Escalations cannot be turned off by their recipients.
- REVIEW_WAITING, every working day, to inspectors: submissions waiting more than
  `review_waiting_after` working days, except in units the inspector is excluded from.
- UNIT_DIGEST to each unit's DingTalk group robot: the unit's items reminded today.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager, joinedload

from tracker.clock import get_clock
from tracker.models import (
    ChecklistItem,
    InspectorExclusion,
    ItemStatus,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationPreference,
    ReminderPolicy,
    Role,
    Unit,
    User,
)
from tracker.models.checklist import OWED_STATUSES, STATUS_LABELS
from tracker.models.reminders import POLICY_ID
from tracker.notify.dingtalk import markdown_text
from tracker.services import audit, holidays
from tracker.services.calendar import WorkingCalendar
from tracker.services.errors import ValidationFailed
from tracker.services.ledger import last_submitted_at

__all__ = [
    "MAX_OFFSET",
    "PREFERENCES_PATH",
    "get_policy",
    "get_preferences",
    "run_reminder_pass",
    "update_policy",
    "update_preferences",
]

MAX_OFFSET = 30  # the furthest "days before due" reminder an admin may set
MAX_INTERVAL = 250  # about a year of working days: larger thresholds would never fire
PREFERENCES_PATH = "/account/notifications"  # main.notification_preferences, linked in emails
DEFAULT_LOCALE = "zh_CN"


# ---------------------------------------------------------------- policy and preferences


def get_policy(session: Session) -> ReminderPolicy:
    """The saved policy, or the defaults (unsaved) while no admin has changed them."""
    return session.get(ReminderPolicy, POLICY_ID) or ReminderPolicy.defaults()


def _policy_data(policy: ReminderPolicy) -> dict[str, Any]:
    return {
        "before_due_working_days": list(policy.before_due_working_days),
        "overdue_every_working_days": policy.overdue_every_working_days,
        "escalate_chief_after": policy.escalate_chief_after,
        "escalate_leaders_after": policy.escalate_leaders_after,
        "review_waiting_after": policy.review_waiting_after,
    }


def _check_interval(value: int, field_name: str) -> int:
    if not isinstance(value, int) or not 1 <= value <= MAX_INTERVAL:
        raise ValidationFailed(
            _l("Enter a whole number of working days from 1 to %(max)d.", max=MAX_INTERVAL),
            field=field_name,
        )
    return value


def _check_offsets(offsets: Iterable[int]) -> list[int]:
    values = list(offsets)
    if not values:
        raise ValidationFailed(
            _l("Give at least one day, e.g. 7, 3, 1, 0."), field="before_due_working_days"
        )
    if any(not isinstance(v, int) or not 0 <= v <= MAX_OFFSET for v in values):
        raise ValidationFailed(
            _l("Each day must be a whole number from 0 to %(max)d.", max=MAX_OFFSET),
            field="before_due_working_days",
        )
    if len(set(values)) != len(values):
        raise ValidationFailed(
            _l("Each day may be given only once."), field="before_due_working_days"
        )
    return sorted(values, reverse=True)


def update_policy(
    session: Session,
    *,
    actor: User,
    before_due_working_days: Iterable[int],
    overdue_every_working_days: int,
    escalate_chief_after: int,
    escalate_leaders_after: int,
    review_waiting_after: int,
    now: datetime,
) -> bool:
    """Save the reminder rules; False, and no audit event, when nothing changed."""
    new = {
        "before_due_working_days": _check_offsets(before_due_working_days),
        "overdue_every_working_days": _check_interval(
            overdue_every_working_days, "overdue_every_working_days"
        ),
        "escalate_chief_after": _check_interval(escalate_chief_after, "escalate_chief_after"),
        "escalate_leaders_after": _check_interval(escalate_leaders_after, "escalate_leaders_after"),
        "review_waiting_after": _check_interval(review_waiting_after, "review_waiting_after"),
    }
    policy = session.get(ReminderPolicy, POLICY_ID)
    old = _policy_data(policy or ReminderPolicy.defaults())
    changed = {key: [old[key], value] for key, value in new.items() if old[key] != value}
    if not changed:
        return False
    if policy is None:
        policy = ReminderPolicy(id=POLICY_ID)
        session.add(policy)
    for key, value in new.items():
        setattr(policy, key, value)
    policy.updated_at = now
    policy.updated_by_id = actor.id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="reminder_policy.updated",
        object_type="reminder_policy",
        object_id=POLICY_ID,
        data={"changed": changed},
        at=now,
    )
    return True


def get_preferences(session: Session, user: User) -> NotificationPreference:
    """The user's saved choices, or the defaults (everything on, unsaved)."""
    saved = session.get(NotificationPreference, user.id)
    if saved is not None:
        return saved
    return NotificationPreference(
        user_id=user.id, before_due=True, overdue=True, review_waiting=True
    )


def update_preferences(
    session: Session,
    *,
    user: User,
    before_due: bool,
    overdue: bool,
    review_waiting: bool,
    now: datetime,
) -> bool:
    """Save which optional reminders the user receives; False when nothing changed."""
    saved = session.get(NotificationPreference, user.id)
    current = saved or get_preferences(session, user)
    new = {"before_due": before_due, "overdue": overdue, "review_waiting": review_waiting}
    changed = {k: [getattr(current, k), v] for k, v in new.items() if getattr(current, k) != v}
    if not changed:
        return False
    if saved is None:
        saved = NotificationPreference(user_id=user.id)
        session.add(saved)
    for key, value in new.items():
        setattr(saved, key, value)
    saved.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=user,
        action="notification_preferences.updated",
        object_type="user",
        object_id=user.id,
        data={"changed": changed},
        at=now,
    )
    return True


# ---------------------------------------------------------------- the pass


OVERDUE = "overdue"
DUE_SOON = "due_soon"
WAITING = "waiting"
# Lines listed per section of one message (the most urgent first); the rest are counted and
# linked. Unbounded, a bureau's backlog made messages of thousands of lines that nobody reads
# and a daily pass of a minute at a million items (bench/README.md).
MAX_ROWS_PER_SECTION = 50


@dataclass(frozen=True)
class _Line:
    """One item in one message, and why it is there."""

    item: ChecklistItem
    section: str  # OVERDUE | DUE_SOON | WAITING
    days: int  # working days overdue, left before the due date, or waiting for review
    assignee: User | None = None  # looked up among the loaded users (no lazy load per line)
    submitted_on: date | None = None

    @cached_property
    def sort_key(self) -> tuple:
        # Overdue first (longest overdue first), then due soon, then waiting reviews. Cached: a
        # line shared by many messages (a waiting review goes to every inspector) is sorted in
        # each of them.
        order = {OVERDUE: 0, DUE_SOON: 1, WAITING: 2}[self.section]
        return (order, self.item.due_date, self.item.id)


@dataclass
class _Draft:
    """A message being assembled for one recipient."""

    channel: NotificationChannel
    kind: NotificationKind
    recipient_key: str
    user: User | None = None
    unit: Unit | None = None
    lines: dict[int, _Line] = field(default_factory=dict)

    def add(self, line: _Line) -> None:
        self.lines.setdefault(line.item.id, line)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.channel.value, self.recipient_key, self.kind.value)


class _Outbox:
    """Drafts keyed like the outbox's unique constraint (the day is the pass's)."""

    def __init__(self) -> None:
        self.drafts: dict[tuple[str, str, str], _Draft] = {}

    def _user_draft(self, user: User, kind: NotificationKind) -> _Draft:
        recipient = f"user:{user.id}"
        key = (NotificationChannel.EMAIL.value, recipient, kind.value)
        draft = self.drafts.get(key)
        if draft is None:  # built once per recipient and kind, not once per line
            draft = self.drafts[key] = _Draft(NotificationChannel.EMAIL, kind, recipient, user=user)
        return draft

    def to_user(self, user: User, kind: NotificationKind, line: _Line) -> None:
        self._user_draft(user, kind).add(line)

    def to_user_lines(self, user: User, kind: NotificationKind, lines: dict[int, _Line]) -> None:
        """Many lines at once (by item id); lines already in the draft are kept."""
        draft = self._user_draft(user, kind)
        draft.lines = {**lines, **draft.lines}

    def to_unit(self, unit: Unit, line: _Line) -> None:
        draft = _Draft(
            NotificationChannel.DINGTALK, NotificationKind.UNIT_DIGEST, f"unit:{unit.id}", unit=unit
        )
        self.drafts.setdefault(draft.key, draft).add(line)


class _People:
    """Active users, loaded once, indexed the ways the rules ask for them."""

    def __init__(self, users: Sequence[User], prefs: dict[int, NotificationPreference]) -> None:
        self.by_id = {u.id: u for u in users}
        self.prefs = prefs
        self.chiefs_by_unit: dict[int, list[User]] = defaultdict(list)
        self.leaders: list[User] = []
        self.inspectors: list[User] = []
        for user in users:
            role = Role(user.role)
            if role == Role.CHIEF:
                self.chiefs_by_unit[user.unit_id].append(user)
            elif role in (Role.ADMIN, Role.LEADER):
                self.leaders.append(user)
            elif role == Role.INSPECTOR:
                self.inspectors.append(user)

    def chiefs_of(self, unit: Unit) -> list[User]:
        """The unit's chiefs; for a unit without one, those of the nearest unit above it."""
        ancestors = [int(part) for part in unit.path.strip("/").split("/") if part]
        for unit_id in [unit.id, *reversed([a for a in ancestors if a != unit.id])]:
            if self.chiefs_by_unit.get(unit_id):
                return self.chiefs_by_unit[unit_id]
        return []

    def wants(self, user: User, choice: str) -> bool:
        prefs = self.prefs.get(user.id)
        return True if prefs is None else bool(getattr(prefs, choice))


def _local_midnight_utc(day: date) -> datetime:
    """The instant the bureau's local day begins."""
    return datetime.combine(day, time(0), tzinfo=get_clock().tz)


def _owed_items(session: Session, *, until: date) -> Sequence[ChecklistItem]:
    """Owed items due before `until` (overdue ones included), with requirement and unit."""
    return (
        session.scalars(
            select(ChecklistItem)
            .join(ChecklistItem.requirement)
            .join(ChecklistItem.unit)
            .options(
                contains_eager(ChecklistItem.requirement),
                contains_eager(ChecklistItem.unit),
                joinedload(ChecklistItem.case),
            )
            .where(
                ChecklistItem.status.in_([s.value for s in OWED_STATUSES]),
                ChecklistItem.due_date < until,
                Unit.active.is_(True),
            )
            .order_by(ChecklistItem.due_date, ChecklistItem.id)
        )
        .unique()
        .all()
    )


def _waiting_submissions(
    session: Session, *, before: datetime
) -> list[tuple[ChecklistItem, datetime]]:
    """Submitted items whose latest submission is older than `before`."""
    # Kept on the item by the submit service: no lookup of the submissions.
    submitted_at = last_submitted_at()
    rows = session.execute(
        select(ChecklistItem, submitted_at)
        .join(ChecklistItem.requirement)
        .join(ChecklistItem.unit)
        .options(
            contains_eager(ChecklistItem.requirement),
            contains_eager(ChecklistItem.unit),
            joinedload(ChecklistItem.case),
        )
        .where(ChecklistItem.status == ItemStatus.SUBMITTED, submitted_at < before)
        .order_by(submitted_at, ChecklistItem.id)
    ).all()
    return [(item, at) for item, at in rows]


def _overdue_repeat(lateness: int, every: int) -> bool:
    """Overdue reminders fall on every `every`-th working day of lateness (2, 4, 6 ...)."""
    return lateness >= 1 and lateness % every == 0


def run_reminder_pass(session: Session, *, now: datetime) -> dict[str, Any]:
    """Write today's reminder messages to the outbox (nothing on rest days, nothing twice)."""
    day = get_clock().local(now).date()
    calendar = holidays.load_calendar(session)
    if not calendar.is_working_day(day):
        return {"skipped": "rest day"}
    policy = get_policy(session)
    offsets = set(policy.before_due_working_days)

    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.id)).all()
    prefs = {p.user_id: p for p in session.scalars(select(NotificationPreference))}
    people = _People(users, prefs)
    outbox = _Outbox()
    group_units = {
        unit.id: unit
        for unit in session.scalars(
            select(Unit).where(Unit.active.is_(True), Unit.dingtalk_webhook.is_not(None))
        )
        if (unit.dingtalk_webhook or "").strip()
    }

    # Items due within the furthest reminder offset, and every overdue one.
    horizon = calendar.add_working_days(day, max(offsets, default=0) + 1)
    for item in _owed_items(session, until=horizon):
        _plan_item(item, day=day, calendar=calendar, policy=policy, offsets=offsets,
                   people=people, outbox=outbox, group_units=group_units)  # fmt: skip

    _plan_reviews(session, day=day, calendar=calendar, policy=policy, people=people, outbox=outbox)

    written, existing = _write(session, outbox, day=day, policy=policy, now=now)
    summary: dict[str, Any] = {"date": day.isoformat(), "written": written, "existing": existing}
    return summary


def _plan_item(
    item: ChecklistItem,
    *,
    day: date,
    calendar: WorkingCalendar,
    policy: ReminderPolicy,
    offsets: set[int],
    people: _People,
    outbox: _Outbox,
    group_units: dict[int, Unit],
) -> None:
    """Route one owed item to today's digests and escalations, if today is one of its days."""
    # An inactive assignee cannot act on a reminder: the chiefs get it as if unassigned.
    assignee = people.by_id.get(item.assignee_id) if item.assignee_id else None
    if item.due_date >= day:
        left = calendar.working_days_between(day, item.due_date)
        reminded = left in offsets
        line = _Line(item, DUE_SOON, left, assignee)
        choice = "before_due"
    else:
        lateness = calendar.working_days_between(item.due_date, day)
        line = _Line(item, OVERDUE, lateness, assignee)
        reminded = _overdue_repeat(lateness, policy.overdue_every_working_days)
        choice = "overdue"
        if lateness > policy.escalate_chief_after:
            for chief in people.chiefs_of(item.unit):
                outbox.to_user(chief, NotificationKind.ESCALATION_CHIEF, line)
        if lateness > policy.escalate_leaders_after:
            for leader in people.leaders:
                outbox.to_user(leader, NotificationKind.ESCALATION_LEADERS, line)
    if not reminded:
        return
    recipients = [assignee] if assignee is not None else people.chiefs_of(item.unit)
    for user in recipients:
        if people.wants(user, choice):
            outbox.to_user(user, NotificationKind.DIGEST, line)
    if item.unit_id in group_units:
        outbox.to_unit(group_units[item.unit_id], line)


def _plan_reviews(
    session: Session,
    *,
    day: date,
    calendar: WorkingCalendar,
    policy: ReminderPolicy,
    people: _People,
    outbox: _Outbox,
) -> None:
    """Submissions waiting too long, to each inspector who may review them."""
    if not people.inspectors:
        return
    # Waiting more than N working days <=> submitted before the N-th working day before today.
    cutoff = calendar.add_working_days(day, -policy.review_waiting_after)
    waiting = _waiting_submissions(session, before=_local_midnight_utc(cutoff))
    if not waiting:
        return
    excluded: dict[int, set[int]] = defaultdict(set)
    for inspector_id, unit_id in session.execute(
        select(InspectorExclusion.inspector_id, InspectorExclusion.unit_id)
    ):
        excluded[inspector_id].add(unit_id)
    lines = []
    for item, submitted_at in waiting:
        submitted_on = get_clock().local(submitted_at).date()
        lines.append(
            _Line(
                item,
                WAITING,
                calendar.working_days_between(submitted_on, day),
                people.by_id.get(item.assignee_id) if item.assignee_id else None,
                submitted_on,
            )
        )
    # Inspectors with the same exclusions get the same lines: built once per exclusion set,
    # not once per inspector and line (every inspector hears of every waiting submission).
    by_exclusions: dict[frozenset[int], dict[int, _Line]] = {}
    for inspector in people.inspectors:
        if not people.wants(inspector, "review_waiting"):
            continue
        skip = frozenset(excluded[inspector.id])
        if skip not in by_exclusions:
            by_exclusions[skip] = {ln.item.id: ln for ln in lines if ln.item.unit_id not in skip}
        if by_exclusions[skip]:
            outbox.to_user_lines(inspector, NotificationKind.REVIEW_WAITING, by_exclusions[skip])


# ---------------------------------------------------------------- writing


def _write(
    session: Session, outbox: _Outbox, *, day: date, policy: ReminderPolicy, now: datetime
) -> tuple[dict[str, int], int]:
    """Insert the day's new messages; keys already in the outbox are left alone."""
    taken = set(
        session.execute(
            select(Notification.channel, Notification.recipient_key, Notification.kind).where(
                Notification.digest_date == day
            )
        ).tuples()
    )
    taken = {(str(c), r, str(k)) for c, r, k in taken}
    fresh = [d for key, d in sorted(outbox.drafts.items()) if key not in taken]
    rows = [_notification(draft, day=day, policy=policy, now=now) for draft in fresh]
    written: dict[str, int] = defaultdict(int)
    if rows:
        try:
            with session.begin_nested():
                session.add_all(rows)
            inserted = rows
        except IntegrityError:
            # Another pass wrote some of these keys meanwhile: insert one by one, skip those.
            inserted = []
            for draft in fresh:
                row = _notification(draft, day=day, policy=policy, now=now)
                try:
                    with session.begin_nested():
                        session.add(row)
                    inserted.append(row)
                except IntegrityError:
                    continue
        for row in inserted:
            written[str(row.kind)] += 1
    return dict(sorted(written.items())), len(outbox.drafts) - sum(written.values())


def _base_url() -> str:
    return current_app.config.get("TRACKER_BASE_URL", "").rstrip("/")


def _locale_of(draft: _Draft) -> str:
    if draft.user is not None and draft.user.locale in current_app.config["LANGUAGES"]:
        return draft.user.locale
    return DEFAULT_LOCALE


def _notification(
    draft: _Draft, *, day: date, policy: ReminderPolicy, now: datetime
) -> Notification:
    """The outbox row for one draft, rendered in its recipient's language."""
    lines = sorted(draft.lines.values(), key=lambda line: line.sort_key)
    locale = _locale_of(draft)
    with force_locale(locale):
        if draft.channel == NotificationChannel.DINGTALK:
            subject, text, html = _render_unit_digest(draft, lines, day=day, locale=locale)
        else:
            subject, text, html = _render_email(draft, lines, day=day, policy=policy, locale=locale)
    return Notification(
        channel=draft.channel,
        kind=draft.kind,
        recipient_key=draft.recipient_key,
        recipient_id=draft.user.id if draft.user is not None else None,
        unit_id=draft.unit.id if draft.unit is not None else None,
        address=draft.user.email if draft.user is not None else None,
        digest_date=day,
        locale=locale,
        subject=subject[:300],
        body_text=text,
        body_html=html,
        item_ids=[line.item.id for line in lines],
        next_attempt_at=now,
        created_at=now,
    )


def _date_label(value: date, locale: str) -> str:
    if locale.startswith("zh"):
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value:%Y-%m-%d}"


def _note(line: _Line, locale: str) -> str:
    if line.section == OVERDUE:
        return ngettext(
            "Overdue by %(num)d working day", "Overdue by %(num)d working days", line.days
        )
    if line.section == WAITING:
        return ngettext(
            "Submitted on %(date)s, waiting for %(num)d working day",
            "Submitted on %(date)s, waiting for %(num)d working days",
            line.days,
            date=_date_label(line.submitted_on or line.item.due_date, locale),
        )
    if line.days == 0:
        return _("Due today")
    return ngettext("Due in %(num)d working day", "Due in %(num)d working days", line.days)


def _row(line: _Line, locale: str, *, with_assignee: bool) -> dict[str, Any]:
    item = line.item
    requirement = item.requirement
    title = requirement.title_en if locale.startswith("en") else requirement.title_zh
    row = {
        "id": item.id,
        "section": line.section,
        "code": requirement.code,
        "title": title,
        "scope": item.scope_label,
        "unit": item.unit.display_name(locale),
        "due": _date_label(item.due_date, locale),
        "status": str(STATUS_LABELS[ItemStatus(item.status)]),
        "note": _note(line, locale),
        "url": f"{_base_url()}/items/{item.id}",
        "assignee": None,
    }
    if with_assignee:
        row["assignee"] = line.assignee.name if line.assignee is not None else _("Unassigned")
    return row


def _more_text(more: int) -> str:
    return ngettext(
        "… and %(num)d more item, listed in the tracker:",
        "… and %(num)d more items, listed in the tracker:",
        more,
    )


def _sections(lines: list[_Line], locale: str, *, with_assignee: bool) -> list[dict[str, Any]]:
    """The lines per section, the most urgent MAX_ROWS_PER_SECTION each; the rest counted."""
    headings = {
        OVERDUE: _("Overdue"),
        DUE_SOON: _("Due soon"),
        WAITING: _("Waiting for review"),
    }
    # Where the rest of a long section can be read in full.
    more_paths = {OVERDUE: "/items/?status=overdue", DUE_SOON: "/items/", WAITING: "/review/"}
    sections: list[dict[str, Any]] = []
    for section in (OVERDUE, DUE_SOON, WAITING):
        chosen = [line for line in lines if line.section == section]
        if not chosen:
            continue
        shown = chosen[:MAX_ROWS_PER_SECTION]
        more = len(chosen) - len(shown)
        sections.append(
            {
                "key": section,
                "heading": headings[section],
                "total": len(chosen),
                "rows": [_row(line, locale, with_assignee=with_assignee) for line in shown],
                "more": more,
                "more_text": _more_text(more) if more else "",
                "more_url": f"{_base_url()}{more_paths[section]}",
            }
        )
    return sections


def _render_email(
    draft: _Draft, lines: list[_Line], *, day: date, policy: ReminderPolicy, locale: str
) -> tuple[str, str, str]:
    """Subject, plain text and HTML of one email, in the active (forced) locale."""
    overdue = sum(1 for line in lines if line.section == OVERDUE)
    soon = sum(1 for line in lines if line.section == DUE_SOON)
    with_assignee = draft.kind != NotificationKind.DIGEST
    if draft.kind == NotificationKind.DIGEST:
        subject = _("Reminder: %(overdue)d overdue, %(soon)d due soon", overdue=overdue, soon=soon)
        intro = _("These checklist items need your attention.")
    elif draft.kind == NotificationKind.ESCALATION_CHIEF:
        subject = ngettext(
            "Escalation: %(num)d item of your unit overdue more than %(days)d working days",
            "Escalation: %(num)d items of your unit overdue more than %(days)d working days",
            len(lines),
            days=policy.escalate_chief_after,
        )
        intro = _(
            "As unit chief you receive the items of your unit that are overdue by more than "
            "%(days)d working days. Please see that they are completed.",
            days=policy.escalate_chief_after,
        )
    elif draft.kind == NotificationKind.ESCALATION_LEADERS:
        subject = ngettext(
            "Escalation: %(num)d item overdue more than %(days)d working days",
            "Escalation: %(num)d items overdue more than %(days)d working days",
            len(lines),
            days=policy.escalate_leaders_after,
        )
        intro = _(
            "These items of the bureau are overdue by more than %(days)d working days.",
            days=policy.escalate_leaders_after,
        )
    else:
        subject = ngettext(
            "Review: %(num)d submission waiting more than %(days)d working days",
            "Review: %(num)d submissions waiting more than %(days)d working days",
            len(lines),
            days=policy.review_waiting_after,
        )
        intro = _(
            "These submissions have waited for review for more than %(days)d working days.",
            days=policy.review_waiting_after,
        )
    app_name = _("Compliance Ledger")
    context = {
        "app_name": app_name,
        "subject": subject,
        "greeting": _("Dear %(name)s,", name=draft.user.name if draft.user else ""),
        "intro": intro,
        "date_line": _("Reminders of %(date)s", date=_date_label(day, locale)),
        "sections": _sections(lines, locale, with_assignee=with_assignee),
        "labels": {
            "requirement": _("Requirement"),
            "unit": _("Unit"),
            "due_date": _("Due date"),
            "status": _("Status"),
            "assignee": _("Assigned to"),
        },
        "with_assignee": with_assignee,
        "preferences_url": f"{_base_url()}{PREFERENCES_PATH}",
        "preferences_text": _("Choose which reminders you receive:"),
        "preferences_link": _("Reminder settings"),
        "footer": _("This message was sent automatically by the Compliance Ledger."),
        "lang": "en" if locale.startswith("en") else "zh-CN",
    }
    text = render_template("email/digest.txt", **context)
    html = render_template("email/digest.html", **context)
    return f"[{app_name}] {subject}", text, html


def _render_unit_digest(
    draft: _Draft, lines: list[_Line], *, day: date, locale: str
) -> tuple[str, str, None]:
    """Subject and markdown body of a unit's DingTalk group message."""
    unit = draft.unit
    assert unit is not None
    overdue = sum(1 for line in lines if line.section == OVERDUE)
    soon = sum(1 for line in lines if line.section == DUE_SOON)
    subject = _(
        "%(unit)s: %(overdue)d overdue, %(soon)d due soon",
        unit=unit.display_name(locale),
        overdue=overdue,
        soon=soon,
    )
    out = [
        f"### {_md(subject)}",
        "",
        _md(_("Reminders of %(date)s", date=_date_label(day, locale))),
    ]
    for section in _sections(lines, locale, with_assignee=True):
        out += ["", f"#### {_md(section['heading'])}", ""]
        for row in section["rows"]:
            out.append(
                f"- [{_md(row['code'])} {_md(row['title'])}]({row['url']})  \n"
                f"  {_md(_('Due date'))}: {row['due']} · {_md(row['status'])} · "
                f"{_md(row['note'])} · {_md(_('Assigned to'))}: {_md(row['assignee'])}"
            )
        if section["more"]:
            out.append(f"- {_md(section['more_text'])} {section['more_url']}")
    return subject, "\n".join(out) + "\n", None


def _md(value: object) -> str:
    """Plain text made inert in DingTalk markdown (no links, images, emphasis or HTML)."""
    return markdown_text(value)
