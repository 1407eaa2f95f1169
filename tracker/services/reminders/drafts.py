"""The messages of a pass while they are assembled: who receives which lines, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter

from tracker.models import ItemStatus, NotificationChannel, NotificationKind, Role, Unit

OVERDUE = "overdue"
DUE_SOON = "due_soon"
WAITING = "waiting"
# Overdue first (longest overdue first), then due soon, then waiting reviews.
SECTION_ORDER = {OVERDUE: 0, DUE_SOON: 1, WAITING: 2}


@dataclass(frozen=True)
class Person:
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
class Item:
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
class Line:
    """One item in one message, and why it is there."""

    item: Item
    section: str  # OVERDUE | DUE_SOON | WAITING
    days: int  # working days overdue, left before the due date, or waiting for review
    assignee: Person | None = None  # looked up among the loaded users (no query per line)
    submitted_on: date | None = None
    # Kept, not computed per sort: a line shared by many messages (a waiting review goes to
    # every inspector) is sorted in each of them.
    sort_key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = (SECTION_ORDER[self.section], self.item.due_date, self.item.id)
        object.__setattr__(self, "sort_key", key)


@dataclass
class Draft:
    """A message being assembled for one recipient."""

    channel: NotificationChannel
    kind: NotificationKind
    recipient_key: str
    user: Person | None = None
    unit: Unit | None = None
    lines: dict[int, Line] = field(default_factory=dict)
    # The lines are another draft's too (the same waiting submissions for many inspectors):
    # copied before this draft adds its own, so shared lines are sorted once per pass.
    shared: bool = False

    def add(self, line: Line) -> None:
        if self.shared:
            self.lines, self.shared = dict(self.lines), False
        self.lines.setdefault(line.item.id, line)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.channel.value, self.recipient_key, self.kind.value)


class Outbox:
    """Drafts keyed like the outbox's unique constraint (the day is the pass's)."""

    def __init__(self) -> None:
        self.drafts: dict[tuple[str, str, str], Draft] = {}

    def _user_draft(self, user: Person, kind: NotificationKind) -> Draft:
        recipient = f"user:{user.id}"
        key = (NotificationChannel.EMAIL.value, recipient, kind.value)
        draft = self.drafts.get(key)
        if draft is None:  # built once per recipient and kind, not once per line
            draft = self.drafts[key] = Draft(NotificationChannel.EMAIL, kind, recipient, user=user)
        return draft

    def to_user(self, user: Person, kind: NotificationKind, line: Line) -> None:
        self._user_draft(user, kind).add(line)

    def to_user_lines(self, user: Person, kind: NotificationKind, lines: dict[int, Line]) -> None:
        """Many lines at once (by item id), shared with other drafts; lines already in the draft
        are kept."""
        draft = self._user_draft(user, kind)
        if draft.lines:
            draft.lines, draft.shared = {**lines, **draft.lines}, False
        else:
            draft.lines, draft.shared = lines, True

    def to_unit(self, unit: Unit, line: Line) -> None:
        draft = Draft(
            NotificationChannel.DINGTALK, NotificationKind.UNIT_DIGEST, f"unit:{unit.id}", unit=unit
        )
        self.drafts.setdefault(draft.key, draft).add(line)


line_order = attrgetter("sort_key")  # most urgent first: section, due date, item
