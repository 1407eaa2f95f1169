"""The reminder rules an admin sets (`ReminderPolicy`) and the reminders each person chooses to
receive (`NotificationPreference`), validated and audited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from tracker.models import NotificationPreference, ReminderPolicy, User
from tracker.models.reminders import POLICY_ID
from tracker.services import audit
from tracker.services.errors import ValidationFailed

MAX_OFFSET = 30  # the furthest "days before due" reminder an admin may set
MAX_INTERVAL = 250  # about a year of working days: larger thresholds would never fire
PREFERENCES_PATH = "/account/notifications"  # main.notification_preferences, linked in emails


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
