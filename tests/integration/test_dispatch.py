"""The dispatcher sends the outbox once, retries with backoff, gives up visibly, survives restarts.

Email goes to a real SMTP server on loopback (aiosmtpd); every instant is passed explicitly.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tests.integration.outbox_support import T0, SMTPServer, free_port, make_notification
from tracker import create_app
from tracker.config import TestConfig
from tracker.extensions import db
from tracker.models import Notification, NotificationChannel, NotificationStatus, Role
from tracker.services import dispatch
from tracker.services.dispatch import STALE_CLAIM, dispatch_due


@pytest.fixture
def smtp(app, monkeypatch):
    server = SMTPServer().start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", server.port)
    yield server
    server.stop()


@pytest.fixture
def smtp_down(app, monkeypatch):
    """A mail server that is down: its port refuses connections until `start()`."""
    server = SMTPServer(free_port())
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", server.port)
    yield server
    server.stop()


def statuses(session, rows):
    for row in rows:
        session.refresh(row)
    return [row.status for row in rows]


def test_pending_email_is_sent_once_as_text_and_html_in_the_rows_language(db_session, smtp):
    zh = make_notification(db_session, locale="zh_CN", subject="【合规台账】您有 2 项待办")
    en = make_notification(db_session, locale="en", subject="[Compliance Ledger] 2 items to do")
    later = make_notification(db_session, next_attempt_at=T0 + timedelta(hours=1))
    db_session.commit()

    summary = dispatch_due(db_session, T0, worker="w1")

    assert summary == {"claimed": 2, "sent": 2, "retry": 0, "failed": 0, "released": 0}
    received = {int(m["X-Tracker-Notification"]): m for m in smtp.messages}
    assert set(received) == {zh.id, en.id}
    assert received[zh.id]["Subject"] == "【合规台账】您有 2 项待办"
    assert received[en.id]["Subject"] == "[Compliance Ledger] 2 items to do"
    message = received[zh.id]
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert parts["text/plain"].strip() == zh.body_text
    assert parts["text/html"].strip() == zh.body_html
    assert message["To"] == zh.address and message["From"] == "tracker@localhost"

    assert statuses(db_session, [zh, en, later]) == ["sent", "sent", "pending"]
    assert (zh.attempts, zh.sent_at, zh.claimed_by, zh.last_error) == (1, T0, None, None)

    # A second pass, and a pass by another dispatcher, send nothing again.
    assert dispatch_due(db_session, T0 + timedelta(seconds=30), worker="w2")["claimed"] == 0
    dispatch_due(db_session, T0 + timedelta(hours=1), worker="w2")
    assert sorted(smtp.notification_ids()) == sorted([zh.id, en.id, later.id])


def test_without_a_mail_server_email_stays_pending_untouched(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    row = make_notification(db_session)
    db_session.commit()

    assert dispatch_due(db_session, T0 + timedelta(days=3))["claimed"] == 0

    db_session.refresh(row)
    assert (row.status, row.attempts, row.last_error, row.claimed_by) == (
        NotificationStatus.PENDING,
        0,
        None,
        None,
    )


def test_smtp_down_retries_with_exponential_backoff_then_delivers_each_once(
    app, db_session, smtp_down
):
    rows = [make_notification(db_session) for _ in range(3)]
    db_session.commit()
    backoff = timedelta(seconds=app.config["TRACKER_DISPATCH_BACKOFF_SECONDS"])

    summary = dispatch_due(db_session, T0)
    assert summary["retry"] == 3 and summary["sent"] == 0
    assert statuses(db_session, rows) == ["pending"] * 3
    first = rows[0]
    assert first.attempts == 1 and "SMTP" in first.last_error
    assert first.next_attempt_at == T0 + backoff
    assert first.claimed_by is None

    # Not due yet: nothing is tried.
    assert dispatch_due(db_session, T0 + backoff - timedelta(seconds=1))["claimed"] == 0

    # Second failure: the delay doubles.
    t1 = T0 + backoff
    assert dispatch_due(db_session, t1)["retry"] == 3
    db_session.refresh(first)
    assert first.attempts == 2 and first.next_attempt_at == t1 + 2 * backoff

    # The server comes back; once the delay has passed every message arrives exactly once.
    smtp_down.start()
    assert dispatch_due(db_session, t1 + backoff)["claimed"] == 0  # still backing off
    t2 = t1 + 2 * backoff
    assert dispatch_due(db_session, t2)["sent"] == 3
    assert sorted(smtp_down.notification_ids()) == sorted(row.id for row in rows)
    assert statuses(db_session, rows) == ["sent"] * 3
    assert first.attempts == 3 and first.last_error is None and first.sent_at == t2

    dispatch_due(db_session, t2 + timedelta(days=1))
    assert len(smtp_down.messages) == 3


def test_a_message_that_keeps_failing_ends_as_failed(app, db_session, smtp_down):
    row = make_notification(db_session)
    db_session.commit()
    max_attempts = app.config["TRACKER_DISPATCH_MAX_ATTEMPTS"]
    backoff = app.config["TRACKER_DISPATCH_BACKOFF_SECONDS"]

    at = T0
    for attempt in range(1, max_attempts + 1):
        summary = dispatch_due(db_session, at)
        db_session.refresh(row)
        assert row.attempts == attempt
        if attempt < max_attempts:
            assert summary["retry"] == 1 and row.status == NotificationStatus.PENDING
            assert row.next_attempt_at == at + timedelta(seconds=backoff * 2 ** (attempt - 1))
            at = row.next_attempt_at
    assert summary["failed"] == 1
    assert row.status == NotificationStatus.FAILED and "SMTP" in row.last_error

    # Failed is final for the dispatcher, even when the server is back.
    smtp_down.start()
    assert dispatch_due(db_session, at + timedelta(days=7))["claimed"] == 0
    assert smtp_down.messages == []


def test_dingtalk_row_of_a_unit_without_webhook_fails_with_a_clear_error(db_session, bureau):
    row = make_notification(
        db_session, channel=NotificationChannel.DINGTALK, unit_id=bureau.section.id, address=None
    )
    db_session.commit()

    assert dispatch_due(db_session, T0)["failed"] == 1

    db_session.refresh(row)
    assert row.status == NotificationStatus.FAILED and row.attempts == 1
    assert "no DingTalk robot webhook" in row.last_error


def test_a_row_left_sending_by_a_killed_dispatcher_is_taken_back_after_the_timeout(
    db_session, smtp
):
    stuck = make_notification(
        db_session,
        status=NotificationStatus.SENDING,
        claimed_by="killed-host:1234:1",
        claimed_at=T0,
    )
    db_session.commit()

    # Within the timeout its dispatcher may still be working: left alone.
    assert dispatch_due(db_session, T0 + STALE_CLAIM - timedelta(seconds=1))["claimed"] == 0
    db_session.refresh(stuck)
    assert stuck.status == NotificationStatus.SENDING

    later = T0 + STALE_CLAIM + timedelta(seconds=1)
    summary = dispatch_due(db_session, later, worker="fresh")
    assert summary["released"] == 1 and summary["sent"] == 1
    db_session.refresh(stuck)
    assert stuck.status == NotificationStatus.SENT and stuck.attempts == 2
    assert smtp.notification_ids() == [stuck.id]


def test_retry_puts_a_failed_message_back_and_is_audited(db_session, bureau, smtp):
    row = make_notification(
        db_session, status=NotificationStatus.FAILED, attempts=6, last_error="SMTP: refused"
    )
    admin = bureau.user(Role.ADMIN)
    dispatch.retry(db_session, actor=admin, notification=row, now=T0)
    db_session.commit()
    assert (row.status, row.attempts, row.next_attempt_at) == (NotificationStatus.PENDING, 0, T0)

    assert dispatch_due(db_session, T0)["sent"] == 1
    assert smtp.notification_ids() == [row.id]


def test_a_restart_between_failures_changes_nothing_else(app, db_session, tmp_path, smtp_down):
    """Rows committed for real; a second application instance on the same database takes over.

    The first process fails twice (server down) and is then killed holding a claim; the new
    instance, with the server back, delivers every message exactly once.
    """
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        _restart_scenario(url, tmp_path, smtp_down)
    finally:
        with Session(bind=db.engine) as cleanup:
            cleanup.execute(
                delete(Notification).where(Notification.recipient_key.like("restart:%"))
            )
            cleanup.commit()


def _restart_scenario(url, tmp_path, smtp_down):
    with Session(bind=db.engine, expire_on_commit=False) as first:
        rows = [make_notification(first, key_prefix="restart") for _ in range(4)]
        first.commit()
        ids = [row.id for row in rows]
        assert dispatch_due(first, T0, worker="old")["retry"] == 4
        # The old process claims again and is killed before recording anything.
        t1 = T0 + timedelta(minutes=1)
        first.execute(
            update(Notification)
            .where(Notification.id == ids[3])
            .values(status=NotificationStatus.SENDING, claimed_by="old", claimed_at=t1)
        )
        first.commit()

    smtp_down.start()
    config = TestConfig(tmp_path / "instance2", url)
    config.MAIL_SERVER, config.MAIL_PORT = "127.0.0.1", smtp_down.port
    restarted = create_app(config)
    with restarted.app_context():
        try:
            with Session(bind=db.engine) as second:
                t2 = T0 + timedelta(minutes=2)
                assert dispatch_due(second, t2, worker="new") == {
                    "claimed": 3,
                    "sent": 3,
                    "retry": 0,
                    "failed": 0,
                    "released": 0,
                }
                later = t1 + STALE_CLAIM + timedelta(seconds=1)
                assert dispatch_due(second, later, worker="new")["sent"] == 1
                assert dispatch_due(second, T0 + timedelta(days=1))["claimed"] == 0
                stored = second.scalars(select(Notification).where(Notification.id.in_(ids)))
                assert {row.status for row in stored} == {NotificationStatus.SENT}
        finally:
            db.engine.dispose()
    assert sorted(smtp_down.notification_ids()) == sorted(ids)
