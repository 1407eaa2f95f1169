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

The package: `settings` (the admins' policy and each person's choices), `planning` (the pass:
who hears of which item today), `drafts` (the messages being assembled), `rendering` (their
text in each recipient's language) and `writing` (into the outbox, once per key and day).
"""

from tracker.services.reminders.planning import run_reminder_pass
from tracker.services.reminders.settings import (
    MAX_INTERVAL,
    MAX_OFFSET,
    get_policy,
    get_preferences,
    update_policy,
    update_preferences,
)

__all__ = [
    "MAX_INTERVAL",
    "MAX_OFFSET",
    "get_policy",
    "get_preferences",
    "run_reminder_pass",
    "update_policy",
    "update_preferences",
]
