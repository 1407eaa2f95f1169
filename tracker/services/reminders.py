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

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from operator import attrgetter
from typing import Any

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import Select, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.clock import get_clock
from tracker.models import (
    Case,
    ChecklistItem,
    InspectorExclusion,
    ItemStatus,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationPreference,
    ReminderPolicy,
    Requirement,
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
# Overdue first (longest overdue first), then due soon, then waiting reviews.
SECTION_ORDER = {OVERDUE: 0, DUE_SOON: 1, WAITING: 2}
# Lines listed per section of one message (the most urgent first); the rest are counted and
# linked. Unbounded, a bureau's backlog made messages of thousands of lines that nobody reads
# and a daily pass of a minute at a million items (bench/README.md).
MAX_ROWS_PER_SECTION = 50


@dataclass(frozen=True)
class _Person:
    """An active user, as the rules and the messages need them.

    Plain columns: ORM users come with their unit and its parent joined, which cost more than
    the rules that read them.
    """

    id: int
    name: str
    email: str
    role: Role
    unit_id: int
    locale: str | None


@dataclass(frozen=True)
class _Item:
    """What a message says about one checklist item, read as a plain row.

    A city's pass reads ~20,000 owed and waiting items: as ORM objects with their requirement,
    unit and case, loading them took longer than everything the pass does with them.
    """

    id: int
    due_date: date
    status: ItemStatus
    assignee_id: int | None
    unit_id: int
    code: str
    title_zh: str
    title_en: str
    scope_label: str  # the period code, or the case number for case items


@dataclass(frozen=True)
class _Line:
    """One item in one message, and why it is there."""

    item: _Item
    section: str  # OVERDUE | DUE_SOON | WAITING
    days: int  # working days overdue, left before the due date, or waiting for review
    assignee: _Person | None = None  # looked up among the loaded users (no query per line)
    submitted_on: date | None = None
    # Kept, not computed per sort: a line shared by many messages (a waiting review goes to
    # every inspector) is sorted in each of them.
    sort_key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = (SECTION_ORDER[self.section], self.item.due_date, self.item.id)
        object.__setattr__(self, "sort_key", key)


@dataclass
class _Draft:
    """A message being assembled for one recipient."""

    channel: NotificationChannel
    kind: NotificationKind
    recipient_key: str
    user: _Person | None = None
    unit: Unit | None = None
    lines: dict[int, _Line] = field(default_factory=dict)
    # The lines are another draft's too (the same waiting submissions for many inspectors):
    # copied before this draft adds its own, so shared lines are sorted once per pass.
    shared: bool = False

    def add(self, line: _Line) -> None:
        if self.shared:
            self.lines, self.shared = dict(self.lines), False
        self.lines.setdefault(line.item.id, line)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.channel.value, self.recipient_key, self.kind.value)


class _Outbox:
    """Drafts keyed like the outbox's unique constraint (the day is the pass's)."""

    def __init__(self) -> None:
        self.drafts: dict[tuple[str, str, str], _Draft] = {}

    def _user_draft(self, user: _Person, kind: NotificationKind) -> _Draft:
        recipient = f"user:{user.id}"
        key = (NotificationChannel.EMAIL.value, recipient, kind.value)
        draft = self.drafts.get(key)
        if draft is None:  # built once per recipient and kind, not once per line
            draft = self.drafts[key] = _Draft(NotificationChannel.EMAIL, kind, recipient, user=user)
        return draft

    def to_user(self, user: _Person, kind: NotificationKind, line: _Line) -> None:
        self._user_draft(user, kind).add(line)

    def to_user_lines(self, user: _Person, kind: NotificationKind, lines: dict[int, _Line]) -> None:
        """Many lines at once (by item id), shared with other drafts; lines already in the draft
        are kept."""
        draft = self._user_draft(user, kind)
        if draft.lines:
            draft.lines, draft.shared = {**lines, **draft.lines}, False
        else:
            draft.lines, draft.shared = lines, True

    def to_unit(self, unit: Unit, line: _Line) -> None:
        draft = _Draft(
            NotificationChannel.DINGTALK, NotificationKind.UNIT_DIGEST, f"unit:{unit.id}", unit=unit
        )
        self.drafts.setdefault(draft.key, draft).add(line)


class _People:
    """Active users, loaded once, indexed the ways the rules ask for them."""

    def __init__(self, users: Sequence[_Person], prefs: dict[int, NotificationPreference]) -> None:
        self.by_id = {u.id: u for u in users}
        self.prefs = prefs
        self.chiefs_by_unit: dict[int, list[_Person]] = defaultdict(list)
        self.leaders: list[_Person] = []
        self.inspectors: list[_Person] = []
        for user in users:
            role = Role(user.role)
            if role == Role.CHIEF:
                self.chiefs_by_unit[user.unit_id].append(user)
            elif role in (Role.ADMIN, Role.LEADER):
                self.leaders.append(user)
            elif role == Role.INSPECTOR:
                self.inspectors.append(user)
        self._chiefs_of: dict[int, list[_Person]] = {}  # by unit id: asked once per owed item

    def chiefs_of(self, unit: Unit) -> list[_Person]:
        """The unit's chiefs; for a unit without one, those of the nearest unit above it."""
        if unit.id not in self._chiefs_of:
            self._chiefs_of[unit.id] = self._nearest_chiefs(unit)
        return self._chiefs_of[unit.id]

    def _nearest_chiefs(self, unit: Unit) -> list[_Person]:
        ancestors = [int(part) for part in unit.path.strip("/").split("/") if part]
        for unit_id in [unit.id, *reversed([a for a in ancestors if a != unit.id])]:
            if self.chiefs_by_unit.get(unit_id):
                return self.chiefs_by_unit[unit_id]
        return []

    def wants(self, user: _Person, choice: str) -> bool:
        prefs = self.prefs.get(user.id)
        return True if prefs is None else bool(getattr(prefs, choice))


def _local_midnight_utc(day: date) -> datetime:
    """The instant the bureau's local day begins."""
    return datetime.combine(day, time(0), tzinfo=get_clock().tz)


def _active_people(session: Session) -> list[_Person]:
    columns = (User.id, User.name, User.email, User.role, User.unit_id, User.locale)
    rows = session.execute(select(*columns).where(User.active.is_(True)).order_by(User.id))
    return [_Person(*row) for row in rows]


def _select_items(*extra: Any) -> Select:
    """The columns of `_Item` (then `extra`), with the requirement's and the case's."""
    return (
        select(
            ChecklistItem.id,
            ChecklistItem.due_date,
            ChecklistItem.status,
            ChecklistItem.assignee_id,
            ChecklistItem.unit_id,
            Requirement.code,
            Requirement.title_zh,
            Requirement.title_en,
            Case.case_no,
            ChecklistItem.period,
            *extra,
        )
        .select_from(ChecklistItem)
        .join(ChecklistItem.requirement)
        .outerjoin(ChecklistItem.case)
    )


def _item(row: Sequence[Any]) -> _Item:
    """An `_Item` from the first columns of a `_select_items` row."""
    item_id, due_date, status, assignee_id, unit_id, code, title_zh, title_en = row[:8]
    case_no, period = row[8], row[9]
    scope = case_no if case_no is not None else period or ""  # as ChecklistItem.scope_label
    return _Item(item_id, due_date, status, assignee_id, unit_id, code, title_zh, title_en, scope)


def _owed_items(session: Session, *, until: date, units: dict[int, Unit]) -> list[_Item]:
    """Owed items of active units due before `until` (overdue ones included), by due date."""
    rows = session.execute(
        _select_items()
        .where(
            ChecklistItem.status.in_([s.value for s in OWED_STATUSES]),
            ChecklistItem.due_date < until,
        )
        .order_by(ChecklistItem.due_date, ChecklistItem.id)
    )
    # Active units picked here, not joined: with the unit in the join, SQLite walked every
    # item of every unit (2 s at a million items) instead of the (status, due date) index.
    return [item for item in map(_item, rows) if units[item.unit_id].active]


def _waiting_submissions(session: Session, *, before: datetime) -> list[tuple[_Item, datetime]]:
    """Submitted items whose latest submission is older than `before`."""
    # Kept on the item by the submit service: no lookup of the submissions.
    submitted_at = last_submitted_at()
    rows = session.execute(
        _select_items(submitted_at)
        .where(ChecklistItem.status == ItemStatus.SUBMITTED, submitted_at < before)
        .order_by(submitted_at, ChecklistItem.id)
    )
    return [(_item(row), row[-1]) for row in rows]


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

    prefs = {p.user_id: p for p in session.scalars(select(NotificationPreference))}
    people = _People(_active_people(session), prefs)
    outbox = _Outbox()
    # Every unit (an inactive unit's waiting submissions are still listed, by its name).
    units = {unit.id: unit for unit in session.scalars(select(Unit))}
    group_units = {
        unit.id: unit
        for unit in units.values()
        if unit.active and (unit.dingtalk_webhook or "").strip()
    }

    # Items due within the furthest reminder offset, and every overdue one.
    horizon = calendar.add_working_days(day, max(offsets, default=0) + 1)
    for item in _owed_items(session, until=horizon, units=units):
        _plan_item(
            item,
            units[item.unit_id],
            day=day,
            calendar=calendar,
            policy=policy,
            offsets=offsets,
            people=people,
            outbox=outbox,
            group_units=group_units,
        )

    _plan_reviews(session, day=day, calendar=calendar, policy=policy, people=people, outbox=outbox)

    written, existing = _write(session, outbox, day=day, policy=policy, now=now, units=units)
    summary: dict[str, Any] = {"date": day.isoformat(), "written": written, "existing": existing}
    return summary


def _plan_item(
    item: _Item,
    unit: Unit,
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
            for chief in people.chiefs_of(unit):
                outbox.to_user(chief, NotificationKind.ESCALATION_CHIEF, line)
        if lateness > policy.escalate_leaders_after:
            for leader in people.leaders:
                outbox.to_user(leader, NotificationKind.ESCALATION_LEADERS, line)
    if not reminded:
        return
    recipients = [assignee] if assignee is not None else people.chiefs_of(unit)
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
    clock = get_clock()
    lines = []
    for item, submitted_at in waiting:
        submitted_on = clock.local(submitted_at).date()
        lines.append(
            _Line(
                item,
                WAITING,
                calendar.working_days_between(submitted_on, day),
                people.by_id.get(item.assignee_id) if item.assignee_id else None,
                submitted_on,
            )
        )
    # In message order already, so each inspector's message sorts in one linear pass.
    lines.sort(key=_sort_key)
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


_sort_key = attrgetter("sort_key")


# ---------------------------------------------------------------- writing


def _write(
    session: Session,
    outbox: _Outbox,
    *,
    day: date,
    policy: ReminderPolicy,
    now: datetime,
    units: dict[int, Unit],
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
    rows = _outbox_rows(fresh, day=day, policy=policy, now=now, units=units)
    written: dict[str, int] = defaultdict(int)
    if rows:
        # One multi-row INSERT (no ORM objects to flush): a city's pass writes ~2,000 rows.
        try:
            with session.begin_nested():
                session.execute(insert(Notification), rows)
            inserted = rows
        except IntegrityError:
            # Another pass wrote some of these keys meanwhile: insert one by one, skip those.
            inserted = []
            for row in rows:
                try:
                    with session.begin_nested():
                        session.execute(insert(Notification), [row])
                    inserted.append(row)
                except IntegrityError:
                    continue
        for row in inserted:
            written[str(row["kind"])] += 1
    return dict(sorted(written.items())), len(outbox.drafts) - sum(written.values())


def _base_url() -> str:
    return current_app.config.get("TRACKER_BASE_URL", "").rstrip("/")


def _locale_of(draft: _Draft) -> str:
    if draft.user is not None and draft.user.locale in current_app.config["LANGUAGES"]:
        return draft.user.locale
    return DEFAULT_LOCALE


def _outbox_rows(
    drafts: list[_Draft],
    *,
    day: date,
    policy: ReminderPolicy,
    now: datetime,
    units: dict[int, Unit],
) -> list[dict[str, Any]]:
    """The outbox row of each draft (in the drafts' order), rendered in its recipient's language.

    Grouped by language: one switch of locale and one set of translated labels per language,
    instead of per message.
    """
    now = now.astimezone(UTC)  # as the columns store it: converted once, not per row and column
    by_locale: dict[str, list[int]] = defaultdict(list)
    for index, draft in enumerate(drafts):
        by_locale[_locale_of(draft)].append(index)
    rows: list[dict[str, Any]] = [{} for _draft in drafts]
    for locale, indexes in by_locale.items():
        with force_locale(locale):
            renderer = _Renderer(locale, day=day, policy=policy, units=units)
            for index in indexes:
                rows[index] = renderer.outbox_row(drafts[index], now=now)
    return rows


def _date_label(value: date, locale: str) -> str:
    if locale.startswith("zh"):
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value:%Y-%m-%d}"


# What the templates read: objects with attributes, not dicts (Jinja's `section.rows` on a dict
# raises and catches an AttributeError first).


@dataclass
class _Row:
    """One listed line, translated, and as the emails show it."""

    id: int
    section: str
    code: str
    title: str
    scope: str
    unit: str
    due: str
    status: str
    note: str
    url: str
    assignee: str | None  # only in messages that show the assignee
    # Rendered once by templates/email/digest_rows.*, then pasted into every email listing it.
    text: str = ""
    html: Markup = field(default_factory=Markup)


@dataclass(frozen=True)
class _Section:
    key: str  # OVERDUE | DUE_SOON | WAITING
    heading: str
    total: int
    rows: list[_Row]
    more: int  # lines not listed
    more_text: str
    more_url: str


@dataclass(frozen=True)
class _Labels:
    requirement: str
    unit: str
    due_date: str
    status: str
    assignee: str


class _Renderer:
    """The day's messages in one language (used inside `force_locale` of that language).

    Every label is translated once, and each line's row once, then shared by every message
    that lists it (a waiting submission goes to every inspector, an overdue item to its
    assignee, its chiefs and the leaders): Babel lookups per line were most of a city's pass.
    """

    def __init__(
        self, locale: str, *, day: date, policy: ReminderPolicy, units: dict[int, Unit]
    ) -> None:
        self.locale = locale
        self.day = day
        self.policy = policy
        self.units = units
        self.base_url = _base_url()
        self.statuses = {status: str(label) for status, label in STATUS_LABELS.items()}
        self.headings = {
            OVERDUE: _("Overdue"),
            DUE_SOON: _("Due soon"),
            WAITING: _("Waiting for review"),
        }
        self.unassigned = _("Unassigned")
        self.date_line = _("Reminders of %(date)s", date=_date_label(day, locale))
        self.labels = _Labels(
            requirement=_("Requirement"),
            unit=_("Unit"),
            due_date=_("Due date"),
            status=_("Status"),
            assignee=_("Assigned to"),
        )
        self.app_name = _("Compliance Ledger")
        self.email_context = {
            "app_name": self.app_name,
            "date_line": self.date_line,
            "labels": self.labels,
            "preferences_url": f"{self.base_url}{PREFERENCES_PATH}",
            "preferences_text": _("Choose which reminders you receive:"),
            "preferences_link": _("Reminder settings"),
            "footer": _("This message was sent automatically by the Compliance Ledger."),
            "lang": "en" if locale.startswith("en") else "zh-CN",
        }
        # Compiled once by the app's Jinja environment (no per-message context processors).
        jinja = current_app.jinja_env
        self.text_template = jinja.get_template("email/digest.txt")
        self.html_template = jinja.get_template("email/digest.html")
        self.text_row = jinja.get_template("email/digest_rows.txt").module.row
        self.html_row = jinja.get_template("email/digest_rows.html").module.row
        self._rows: dict[tuple[int, str, bool], _Row] = {}
        self._notes: dict[tuple[str, int, date | None], str] = {}
        self._more: dict[int, str] = {}
        self._listings: dict[int, tuple[dict[int, _Line], tuple[list[_Line], list[int]]]] = {}
        self._subjects: dict[tuple[NotificationKind, int, int, int], tuple[str, str]] = {}

    def listing(self, draft: _Draft) -> tuple[list[_Line], list[int]]:
        """The draft's lines, most urgent first, and their item ids; built once for all the
        drafts sharing their lines (each inspector's message lists every waiting submission)."""
        if not draft.shared:
            return _listing(draft.lines)
        key = id(draft.lines)
        if key not in self._listings:
            # The dict is kept with its listing, so its id cannot be reused meanwhile.
            self._listings[key] = (draft.lines, _listing(draft.lines))
        return self._listings[key][1]

    def outbox_row(self, draft: _Draft, *, now: datetime) -> dict[str, Any]:
        """The values of the draft's `Notification` row."""
        lines, item_ids = self.listing(draft)
        if draft.channel == NotificationChannel.DINGTALK:
            subject, text, html = self.unit_digest(draft, lines)
        else:
            subject, text, html = self.email(draft, lines)
        return {
            "channel": draft.channel,
            "kind": draft.kind,
            "recipient_key": draft.recipient_key,
            "recipient_id": draft.user.id if draft.user is not None else None,
            "unit_id": draft.unit.id if draft.unit is not None else None,
            "address": draft.user.email if draft.user is not None else None,
            "digest_date": self.day,
            "locale": self.locale,
            "subject": subject[:300],
            "body_text": text,
            "body_html": html,
            "item_ids": item_ids,
            "next_attempt_at": now,
            "created_at": now,
        }

    def note(self, line: _Line) -> str:
        """Why the line is listed: how late, how soon, or how long waiting."""
        on = (line.submitted_on or line.item.due_date) if line.section == WAITING else None
        key = (line.section, line.days, on)
        if key not in self._notes:
            self._notes[key] = _note(
                line.section, line.days, _date_label(on, self.locale) if on else ""
            )
        return self._notes[key]

    def row(self, line: _Line, *, with_assignee: bool) -> _Row:
        """The line as the templates show it (built once per line, read by every template)."""
        key = (line.item.id, line.section, with_assignee)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = self._build_row(line, with_assignee=with_assignee)
            row.text = self.text_row(row, self.labels, with_assignee)
            row.html = self.html_row(row, self.labels, with_assignee)
        return row

    def _build_row(self, line: _Line, *, with_assignee: bool) -> _Row:
        item = line.item
        assignee = None
        if with_assignee:
            assignee = line.assignee.name if line.assignee is not None else self.unassigned
        return _Row(
            id=item.id,
            section=line.section,
            code=item.code,
            title=item.title_en if self.locale.startswith("en") else item.title_zh,
            scope=item.scope_label,
            unit=self.units[item.unit_id].display_name(self.locale),
            due=_date_label(item.due_date, self.locale),
            status=self.statuses[ItemStatus(item.status)],
            note=self.note(line),
            url=f"{self.base_url}/items/{item.id}",
            assignee=assignee,
        )

    def more_text(self, more: int) -> str:
        if more not in self._more:
            self._more[more] = ngettext(
                "… and %(num)d more item, listed in the tracker:",
                "… and %(num)d more items, listed in the tracker:",
                more,
            )
        return self._more[more]

    def sections(self, lines: list[_Line], *, with_assignee: bool) -> list[_Section]:
        """The (sorted) lines per section, the most urgent MAX_ROWS_PER_SECTION each; the rest
        counted."""
        sections: list[_Section] = []
        for section, order in SECTION_ORDER.items():
            # Bisected, not scanned: an inspector's message holds every waiting submission.
            start = bisect_left(lines, (order,), key=_sort_key)
            end = bisect_left(lines, (order + 1,), key=_sort_key)
            if start == end:
                continue
            shown = lines[start : min(end, start + MAX_ROWS_PER_SECTION)]
            more = end - start - len(shown)
            sections.append(
                _Section(
                    key=section,
                    heading=self.headings[section],
                    total=end - start,
                    rows=[self.row(line, with_assignee=with_assignee) for line in shown],
                    more=more,
                    more_text=self.more_text(more) if more else "",
                    more_url=f"{self.base_url}{MORE_PATHS[section]}",
                )
            )
        return sections

    def subject_and_intro(self, kind: NotificationKind, lines: list[_Line]) -> tuple[str, str]:
        """Translated once per kind and count: most digests list one or two items."""
        overdue = soon = 0
        if kind == NotificationKind.DIGEST:  # the only subject that counts per section
            overdue = sum(1 for line in lines if line.section == OVERDUE)
            soon = sum(1 for line in lines if line.section == DUE_SOON)
        key = (kind, overdue, soon, len(lines))
        if key not in self._subjects:
            self._subjects[key] = _email_subject_and_intro(
                kind, overdue=overdue, soon=soon, total=len(lines), policy=self.policy
            )
        return self._subjects[key]

    def email(self, draft: _Draft, lines: list[_Line]) -> tuple[str, str, str]:
        """Subject, plain text and HTML of one email."""
        subject, intro = self.subject_and_intro(draft.kind, lines)
        with_assignee = draft.kind != NotificationKind.DIGEST
        context = {
            **self.email_context,
            "subject": subject,
            "greeting": _("Dear %(name)s,", name=draft.user.name if draft.user else ""),
            "intro": intro,
            "sections": self.sections(lines, with_assignee=with_assignee),
            "with_assignee": with_assignee,
        }
        text = self.text_template.render(context)
        html = self.html_template.render(context)
        return f"[{self.app_name}] {subject}", text, html

    def unit_digest(self, draft: _Draft, lines: list[_Line]) -> tuple[str, str, None]:
        """Subject and markdown body of a unit's DingTalk group message."""
        unit = draft.unit
        assert unit is not None
        overdue = sum(1 for line in lines if line.section == OVERDUE)
        soon = sum(1 for line in lines if line.section == DUE_SOON)
        subject = _(
            "%(unit)s: %(overdue)d overdue, %(soon)d due soon",
            unit=unit.display_name(self.locale),
            overdue=overdue,
            soon=soon,
        )
        out = [f"### {_md(subject)}", "", _md(self.date_line)]
        due_label, assignee_label = _md(self.labels.due_date), _md(self.labels.assignee)
        for section in self.sections(lines, with_assignee=True):
            out += ["", f"#### {_md(section.heading)}", ""]
            for row in section.rows:
                out.append(
                    f"- [{_md(row.code)} {_md(row.title)}]({row.url})  \n"
                    f"  {due_label}: {row.due} · {_md(row.status)} · "
                    f"{_md(row.note)} · {assignee_label}: {_md(row.assignee)}"
                )
            if section.more:
                out.append(f"- {_md(section.more_text)} {section.more_url}")
        return subject, "\n".join(out) + "\n", None


def _listing(lines: dict[int, _Line]) -> tuple[list[_Line], list[int]]:
    ordered = sorted(lines.values(), key=_sort_key)
    return ordered, [line.item.id for line in ordered]


# Where the rest of a long section can be read in full.
MORE_PATHS = {OVERDUE: "/items/?status=overdue", DUE_SOON: "/items/", WAITING: "/review/"}


def _note(section: str, days: int, date_label: str) -> str:
    if section == OVERDUE:
        return ngettext("Overdue by %(num)d working day", "Overdue by %(num)d working days", days)
    if section == WAITING:
        return ngettext(
            "Submitted on %(date)s, waiting for %(num)d working day",
            "Submitted on %(date)s, waiting for %(num)d working days",
            days,
            date=date_label,
        )
    if days == 0:
        return _("Due today")
    return ngettext("Due in %(num)d working day", "Due in %(num)d working days", days)


def _email_subject_and_intro(
    kind: NotificationKind, *, overdue: int, soon: int, total: int, policy: ReminderPolicy
) -> tuple[str, str]:
    """The email's subject and first paragraph, in the active (forced) locale."""
    if kind == NotificationKind.DIGEST:
        subject = _("Reminder: %(overdue)d overdue, %(soon)d due soon", overdue=overdue, soon=soon)
        intro = _("These checklist items need your attention.")
    elif kind == NotificationKind.ESCALATION_CHIEF:
        subject = ngettext(
            "Escalation: %(num)d item of your unit overdue more than %(days)d working days",
            "Escalation: %(num)d items of your unit overdue more than %(days)d working days",
            total,
            days=policy.escalate_chief_after,
        )
        intro = _(
            "As unit chief you receive the items of your unit that are overdue by more than "
            "%(days)d working days. Please see that they are completed.",
            days=policy.escalate_chief_after,
        )
    elif kind == NotificationKind.ESCALATION_LEADERS:
        subject = ngettext(
            "Escalation: %(num)d item overdue more than %(days)d working days",
            "Escalation: %(num)d items overdue more than %(days)d working days",
            total,
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
            total,
            days=policy.review_waiting_after,
        )
        intro = _(
            "These submissions have waited for review for more than %(days)d working days.",
            days=policy.review_waiting_after,
        )
    return subject, intro


def _md(value: object) -> str:
    """Plain text made inert in DingTalk markdown (no links, images, emphasis or HTML)."""
    return markdown_text(value)
