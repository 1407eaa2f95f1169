"""The outbox dispatcher: claim due notifications, send them, record the outcome.

Exactly once, even with two dispatchers (two schedulers started by mistake, a catch-up `tick`
next to the scheduler): a row is sent only by the dispatcher whose claim moved it from `pending`
to `sending`. On PostgreSQL the claim selects with `FOR UPDATE SKIP LOCKED`, so concurrent
dispatchers take disjoint batches without waiting; on SQLite (one writer at a time) the
conditional `UPDATE ... WHERE status = 'pending' RETURNING id` tells each dispatcher which rows it
won.

Transactions — the documented exception to "services flush, the caller commits": `dispatch_due`
commits its claim before any network call (so no lock is held while talking to a mail server and
another dispatcher sees the rows as taken), and commits each row's outcome right after sending it
(so a crash after sending row k never resends rows 1..k). The caller's final commit finds nothing
left to do.

The one at-least-once window: a process killed after a message left for the server but before
its `sent` row was committed leaves that row in `sending`. After `STALE_CLAIM` the next dispatch
puts it back to `pending` (counting the interrupted attempt), so it may be delivered a second
time. Every other failure (server down, timeout, refused) is recorded before the row is released,
and nothing is ever lost: a row is `sent` only after the server accepted it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from tracker.models import Notification, User
from tracker.models.notification import NotificationChannel, NotificationStatus
from tracker.notify import PermanentSendError, SendError, dingtalk, short_error
from tracker.notify.email import EmailSender, mail_configured
from tracker.services import audit
from tracker.services.errors import InvalidTransition

# A claim older than this whose dispatcher never recorded an outcome (killed between claim and
# result) is given back to `pending`. Far longer than one batch can take (timeouts are 10 s).
STALE_CLAIM = timedelta(minutes=15)
log = logging.getLogger(__name__)
INTERRUPTED_ERROR = "interrupted: the dispatcher stopped before recording the result"


@dataclass(frozen=True)
class DispatchSettings:
    max_attempts: int
    backoff_seconds: int
    batch: int
    mail: bool  # an SMTP server is configured
    dingtalk_allow_http: bool

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DispatchSettings:
        return cls(
            max_attempts=max(1, int(config.get("TRACKER_DISPATCH_MAX_ATTEMPTS", 6))),
            backoff_seconds=int(config.get("TRACKER_DISPATCH_BACKOFF_SECONDS", 60)),
            batch=max(1, int(config.get("TRACKER_DISPATCH_BATCH", 100))),
            mail=mail_configured(config),
            dingtalk_allow_http=bool(config.get("TRACKER_DINGTALK_ALLOW_HTTP", False)),
        )


@dataclass(frozen=True)
class _Outgoing:
    """What one send needs, copied out of the row so no lazy load happens after a commit."""

    id: int
    channel: NotificationChannel
    attempts: int
    address: str | None
    subject: str
    body_text: str
    body_html: str | None
    webhook: str | None
    secret: str | None


def default_worker() -> str:
    """Who holds a claim: host, process and thread, enough to find a stuck dispatcher."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:64]


def backoff(settings: DispatchSettings, attempts: int) -> timedelta:
    """Delay before the next attempt after `attempts` failures: base * 2**(attempts-1)."""
    return timedelta(seconds=settings.backoff_seconds * 2 ** max(attempts - 1, 0))


def release_stale_claims(session: Session, now: datetime, settings: DispatchSettings) -> int:
    """Give rows stuck in `sending` (their dispatcher died) back to pending; commits.

    The interrupted attempt counts, so a message that kills its dispatcher every time still
    ends as failed instead of looping forever; otherwise it is due again at once (the server
    did not refuse it).
    """
    stale = list(
        session.execute(
            select(Notification.id, Notification.attempts).where(
                Notification.status == NotificationStatus.SENDING,
                Notification.claimed_at < now - STALE_CLAIM,
            )
        )
    )
    released = 0
    for row_id, attempts in stale:
        attempts += 1
        released += session.execute(
            update(Notification)
            .where(Notification.id == row_id, Notification.status == NotificationStatus.SENDING)
            .values(
                {
                    **_failure_values(settings, attempts, INTERRUPTED_ERROR, now),
                    "next_attempt_at": now,
                }
            )
        ).rowcount
    session.commit()
    return released


def claim(
    session: Session, now: datetime, *, worker: str, limit: int, channels: list[NotificationChannel]
) -> list[int]:
    """Atomically move up to `limit` due rows to `sending` for this worker; commits.

    Returns only the ids this worker won: rows locked by another dispatcher are skipped
    (PostgreSQL), and the conditional UPDATE refuses rows another dispatcher already moved.
    """
    if not channels:
        return []
    candidates = (
        select(Notification.id)
        .where(
            Notification.status == NotificationStatus.PENDING,
            Notification.next_attempt_at <= now,
            Notification.channel.in_(channels),
        )
        .order_by(Notification.id)
        .limit(limit)
    )
    if session.get_bind(Notification).dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list(session.scalars(candidates))
    won: list[int] = []
    if ids:
        won = sorted(
            session.scalars(
                update(Notification)
                .where(Notification.id.in_(ids), Notification.status == NotificationStatus.PENDING)
                .values(status=NotificationStatus.SENDING, claimed_by=worker, claimed_at=now)
                .returning(Notification.id)
            )
        )
    # The claim is committed before any network call: the rows are visibly taken, no lock held.
    session.commit()
    return won


def _load_outgoing(session: Session, ids: list[int]) -> list[_Outgoing]:
    rows = session.scalars(
        select(Notification)
        .where(Notification.id.in_(ids))
        .options(
            joinedload(Notification.unit),
            joinedload(Notification.recipient).load_only(User.email, raiseload=True),
        )
        .order_by(Notification.id)
    ).unique()
    return [
        _Outgoing(
            id=row.id,
            channel=NotificationChannel(row.channel),
            attempts=row.attempts,
            address=row.address or (row.recipient.email if row.recipient else None),
            subject=row.subject,
            body_text=row.body_text,
            body_html=row.body_html,
            webhook=row.unit.dingtalk_webhook if row.unit else None,
            secret=row.unit.dingtalk_secret if row.unit else None,
        )
        for row in rows
    ]


def _failure_values(
    settings: DispatchSettings, attempts: int, error: str, now: datetime, *, permanent: bool = False
) -> dict[str, Any]:
    gave_up = permanent or attempts >= settings.max_attempts
    return {
        "status": NotificationStatus.FAILED if gave_up else NotificationStatus.PENDING,
        "attempts": attempts,
        "last_error": error,
        "next_attempt_at": now if gave_up else now + backoff(settings, attempts),
        "claimed_by": None,
        "claimed_at": None,
    }


@contextmanager
def _senders(settings: DispatchSettings, config: Mapping[str, Any]) -> Iterator[dict]:
    """The channel senders for one batch; the SMTP connection is shared and closed at the end."""
    email = EmailSender(config) if settings.mail else None
    try:
        yield {"email": email}
    finally:
        if email is not None:
            email.close()


def _send(message: _Outgoing, senders: dict, settings: DispatchSettings) -> None:
    if message.channel == NotificationChannel.EMAIL:
        senders["email"].send(
            to=message.address,
            subject=message.subject,
            text=message.body_text,
            html=message.body_html,
            headers={"X-Tracker-Notification": str(message.id)},
        )
    else:
        dingtalk.send_markdown(
            webhook=message.webhook,
            secret=message.secret,
            title=message.subject,
            text=message.body_text,
            allow_http=settings.dingtalk_allow_http,
        )


def dispatch_due(
    session: Session,
    now: datetime,
    *,
    worker: str | None = None,
    limit: int | None = None,
    settings: DispatchSettings | None = None,
) -> dict:
    """Send one batch of due notifications; commits the claim and each outcome (see module doc).

    Email is left pending, untouched and visible in the outbox, while no MAIL_SERVER is set.
    Returns counts for the job log: claimed, sent, retry, failed, released (stale claims).
    """
    config = current_app.config
    settings = settings or DispatchSettings.from_config(config)
    worker = (worker or default_worker())[:64]
    released = release_stale_claims(session, now, settings)
    channels = [NotificationChannel.DINGTALK]
    if settings.mail:
        channels.insert(0, NotificationChannel.EMAIL)
    ids = claim(session, now, worker=worker, limit=limit or settings.batch, channels=channels)
    summary = {"claimed": len(ids), "sent": 0, "retry": 0, "failed": 0, "released": released}
    if not ids:
        return summary
    messages = _load_outgoing(session, ids)
    session.commit()  # end the read transaction: nothing is held while the network is slow
    with _senders(settings, config) as senders:
        for message in messages:
            try:
                _send(message, senders, settings)
            except Exception as error:  # any failure of one message is recorded, never fatal
                if not isinstance(error, SendError):
                    log.exception("notification %s: unexpected error while sending", message.id)
                values = _failure_values(
                    settings,
                    message.attempts + 1,
                    short_error(error),
                    now,
                    permanent=isinstance(error, PermanentSendError),
                )
                summary["failed" if values["status"] == NotificationStatus.FAILED else "retry"] += 1
            else:
                values = {
                    "status": NotificationStatus.SENT,
                    "attempts": message.attempts + 1,
                    "sent_at": now,
                    "last_error": None,
                    "claimed_by": None,
                    "claimed_at": None,
                }
                summary["sent"] += 1
            # Only our own claim is updated: a row released as stale meanwhile is not overwritten.
            session.execute(
                update(Notification)
                .where(
                    Notification.id == message.id,
                    Notification.status == NotificationStatus.SENDING,
                    Notification.claimed_by == worker,
                )
                .values(values)
            )
            session.commit()  # per row: a crash after this never resends this message
    return summary


def retry(session: Session, *, actor: User, notification: Notification, now: datetime) -> None:
    """An admin sends a failed message again: back to pending with a fresh set of attempts."""
    if notification.status != NotificationStatus.FAILED:
        raise InvalidTransition(_l("Only a failed message can be retried."))
    audit.record(
        session,
        actor=actor,
        action="notification.retried",
        object_type="notification",
        object_id=notification.id,
        data={
            "channel": str(notification.channel),
            "kind": str(notification.kind),
            "recipient": notification.recipient_key,
            "attempts": notification.attempts,
            "last_error": (notification.last_error or "")[:200],
        },
        at=now,
    )
    notification.status = NotificationStatus.PENDING
    notification.attempts = 0
    notification.next_attempt_at = now
    notification.claimed_by = None
    notification.claimed_at = None
    session.flush()
