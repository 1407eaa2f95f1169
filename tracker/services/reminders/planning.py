"""The pass: today's owed items and waiting submissions, routed to the people to remind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tracker.clock import get_clock
from tracker.models import (
    Case,
    ChecklistItem,
    InspectorExclusion,
    ItemStatus,
    NotificationKind,
    NotificationPreference,
    ReminderPolicy,
    Requirement,
    Role,
    Unit,
    User,
)
from tracker.models.checklist import OWED_STATUSES
from tracker.services import holidays
from tracker.services.calendar import WorkingCalendar
from tracker.services.ledger import last_submitted_at
from tracker.services.reminders.drafts import (
    DUE_SOON,
    OVERDUE,
    WAITING,
    Item,
    Line,
    Outbox,
    Person,
    line_order,
)
from tracker.services.reminders.settings import get_policy
from tracker.services.reminders.writing import write_outbox


class _People:
    """Active users, loaded once, indexed the ways the rules ask for them."""

    def __init__(self, users: Sequence[Person], prefs: dict[int, NotificationPreference]) -> None:
        self.by_id = {u.id: u for u in users}
        self.prefs = prefs
        self.chiefs_by_unit: dict[int, list[Person]] = defaultdict(list)
        self.leaders: list[Person] = []
        self.inspectors: list[Person] = []
        for user in users:
            role = Role(user.role)
            if role == Role.CHIEF:
                self.chiefs_by_unit[user.unit_id].append(user)
            elif role in (Role.ADMIN, Role.LEADER):
                self.leaders.append(user)
            elif role == Role.INSPECTOR:
                self.inspectors.append(user)
        self._chiefs_of: dict[int, list[Person]] = {}  # by unit id: asked once per owed item

    def chiefs_of(self, unit: Unit) -> list[Person]:
        """The unit's chiefs; for a unit without one, those of the nearest unit above it."""
        if unit.id not in self._chiefs_of:
            self._chiefs_of[unit.id] = self._nearest_chiefs(unit)
        return self._chiefs_of[unit.id]

    def _nearest_chiefs(self, unit: Unit) -> list[Person]:
        ancestors = [int(part) for part in unit.path.strip("/").split("/") if part]
        for unit_id in [unit.id, *reversed([a for a in ancestors if a != unit.id])]:
            if self.chiefs_by_unit.get(unit_id):
                return self.chiefs_by_unit[unit_id]
        return []

    def wants(self, user: Person, choice: str) -> bool:
        prefs = self.prefs.get(user.id)
        return True if prefs is None else bool(getattr(prefs, choice))


def _local_midnight_utc(day: date) -> datetime:
    """The instant the bureau's local day begins."""
    return datetime.combine(day, time(0), tzinfo=get_clock().tz)


def _active_people(session: Session) -> list[Person]:
    columns = (User.id, User.name, User.email, User.role, User.unit_id, User.locale)
    rows = session.execute(select(*columns).where(User.active.is_(True)).order_by(User.id))
    return [Person(*row) for row in rows]


def _select_items(*extra: Any) -> Select:
    """The columns of `Item` (then `extra`), with the requirement's and the case's."""
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


def _item(row: Sequence[Any]) -> Item:
    """An `Item` from the first columns of a `_select_items` row."""
    item_id, due_date, status, assignee_id, unit_id, code, title_zh, title_en = row[:8]
    case_no, period = row[8], row[9]
    scope = case_no if case_no is not None else period or ""  # as ChecklistItem.scope_label
    return Item(item_id, due_date, status, assignee_id, unit_id, code, title_zh, title_en, scope)


def _owed_items(session: Session, *, until: date, units: dict[int, Unit]) -> list[Item]:
    """Owed items of active units due before `until` (overdue ones included), by due date."""
    rows = session.execute(
        _select_items().where(
            ChecklistItem.status.in_([s.value for s in OWED_STATUSES]),
            ChecklistItem.due_date < until,
        )
    )
    # Active units picked here, not joined: with the unit in the join, SQLite walked every
    # item of every unit (2 s at a million items) instead of the (status, due date) index.
    items = [item for item in map(_item, rows) if units[item.unit_id].active]
    # Sorted here, not by SQL: asked for due-date order, SQLite walked the due-date index
    # through every item ever due (0.5 s at a million items) to spare itself this sort of
    # the 11,000 owed ones that the (status, due date) index gives in 0.05 s. That index
    # holds every item column read here (migration 0018): the table is not read at all.
    items.sort(key=lambda item: (item.due_date, item.id))
    return items


def _waiting_submissions(session: Session, *, before: datetime) -> list[tuple[Item, datetime]]:
    """Submitted items whose latest submission is older than `before`."""
    # Kept on the item by the submit service: no lookup of the submissions. Read, in this
    # order, from the (status, submission time, id, ...) index alone (migration 0018).
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
    outbox = Outbox()
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

    written, existing = write_outbox(session, outbox, day=day, policy=policy, now=now, units=units)
    summary: dict[str, Any] = {"date": day.isoformat(), "written": written, "existing": existing}
    return summary


def _plan_item(
    item: Item,
    unit: Unit,
    *,
    day: date,
    calendar: WorkingCalendar,
    policy: ReminderPolicy,
    offsets: set[int],
    people: _People,
    outbox: Outbox,
    group_units: dict[int, Unit],
) -> None:
    """Route one owed item to today's digests and escalations, if today is one of its days."""
    # An inactive assignee cannot act on a reminder: the chiefs get it as if unassigned.
    assignee = people.by_id.get(item.assignee_id) if item.assignee_id else None
    if item.due_date >= day:
        left = calendar.working_days_between(day, item.due_date)
        reminded = left in offsets
        line = Line(item, DUE_SOON, left, assignee)
        choice = "before_due"
    else:
        lateness = calendar.working_days_between(item.due_date, day)
        line = Line(item, OVERDUE, lateness, assignee)
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
    outbox: Outbox,
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
            Line(
                item,
                WAITING,
                calendar.working_days_between(submitted_on, day),
                people.by_id.get(item.assignee_id) if item.assignee_id else None,
                submitted_on,
            )
        )
    # In message order already, so each inspector's message sorts in one linear pass.
    lines.sort(key=line_order)
    # Inspectors with the same exclusions get the same lines: built once per exclusion set,
    # not once per inspector and line (every inspector hears of every waiting submission).
    by_exclusions: dict[frozenset[int], dict[int, Line]] = {}
    for inspector in people.inspectors:
        if not people.wants(inspector, "review_waiting"):
            continue
        skip = frozenset(excluded[inspector.id])
        if skip not in by_exclusions:
            by_exclusions[skip] = {ln.item.id: ln for ln in lines if ln.item.unit_id not in skip}
        if by_exclusions[skip]:
            outbox.to_user_lines(inspector, NotificationKind.REVIEW_WAITING, by_exclusions[skip])
