"""The day's messages into the outbox: rendered, and inserted once per (channel, recipient,
kind, day) whatever another pass wrote meanwhile."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.models import Notification, ReminderPolicy, Unit
from tracker.services.reminders.drafts import Draft, Outbox
from tracker.services.reminders.rendering import Renderer

DEFAULT_LOCALE = "zh_CN"


def write_outbox(
    session: Session,
    outbox: Outbox,
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


def _locale_of(draft: Draft) -> str:
    if draft.user is not None and draft.user.locale in current_app.config["LANGUAGES"]:
        return draft.user.locale
    return DEFAULT_LOCALE


def _outbox_rows(
    drafts: list[Draft],
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
            renderer = Renderer(locale, day=day, policy=policy, units=units)
            for index in indexes:
                rows[index] = renderer.outbox_row(drafts[index], now=now)
    return rows
