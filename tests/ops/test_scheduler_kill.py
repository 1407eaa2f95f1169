"""The scheduler process killed (SIGKILL) in the middle of a dispatch batch loses and duplicates
nothing once it is restarted.

A real `flask --app wsgi tracker scheduler` process sends a batch of outbox emails to an SMTP
server on loopback. The server holds the recipient of the 6th message, and the process is killed
right then: five messages delivered and marked sent, the rest of the claimed batch stuck in
`sending`, more still pending. The restart is a real `tracker tick` a quarter of an hour later
(the dispatcher gives a dead process's claims back after STALE_CLAIM): every message then arrives
exactly once, counted by the outbox id each email carries and by its Message-ID, and
`tracker verify` passes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select

from tests.integration.outbox_support import free_port
from tests.ops.support import (
    PROJECT_ROOT,
    flask_command,
    run_flask,
    throwaway_database,
    tracker_env,
    verify_passes,
)
from tracker.models import Notification
from tracker.services.dispatch import STALE_CLAIM

pytestmark = pytest.mark.slow

MESSAGES = 25
BATCH = 20
KILL_AT = 6  # the process dies while the server holds the 6th message's recipient


class HoldingSink:
    """An SMTP server that records what it accepts and can stall on the n-th recipient."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages = []
        self.recipients = 0
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.recipients += 1
            hold = self.recipients == self.hold_at
        if hold:
            self.holding.set()
            await asyncio.sleep(8)  # the client is killed meanwhile (its timeout is 10 s)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def received(self) -> tuple[Counter, Counter]:
        with self.lock:
            ids = Counter(int(m["X-Tracker-Notification"]) for m in self.messages)
            message_ids = Counter(str(m["Message-ID"]) for m in self.messages)
        return ids, message_ids


@pytest.fixture
def sink():
    server = HoldingSink()
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture
def outbox(tmp_path):
    """A migrated database of its own with MESSAGES pending emails; yields (env, engine, ids)."""
    with throwaway_database(tmp_path, "sched") as url:
        env = tracker_env(url, tmp_path / "instance")
        run_flask(env, "db", "upgrade")
        engine = sa.create_engine(url)
        try:
            due = datetime.now(UTC) - timedelta(minutes=1)
            with engine.begin() as connection:
                connection.execute(
                    insert(Notification),
                    [
                        {
                            "channel": "email",
                            "kind": "digest",
                            "recipient_key": f"kill:{n}",
                            "address": f"person{n}@test.example.org",
                            "digest_date": due.date(),
                            "locale": "zh_CN",
                            "subject": f"提醒 {n}",
                            "body_text": f"第 {n} 条",
                            "body_html": f"<p>第 {n} 条</p>",
                            "item_ids": [n],
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": due,
                            "created_at": due,
                        }
                        for n in range(MESSAGES)
                    ],
                )
                ids = set(connection.scalars(select(Notification.id)))
            yield env, engine, ids
        finally:
            engine.dispose()


def statuses(engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Notification.status, func.count()).group_by(Notification.status)
        ).all()
    return {str(status): count for status, count in rows}


def test_killed_scheduler_loses_and_duplicates_nothing(outbox, sink):
    env, engine, ids = outbox
    mail = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(sink.port),
        "TRACKER_DISPATCH_BATCH": str(BATCH),
    }
    env = {**env, **mail}
    sink.hold_at = KILL_AT
    process = subprocess.Popen(
        flask_command("tracker", "scheduler"),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        held = sink.holding.wait(timeout=90)
        if not held:
            process.kill()
            pytest.fail("the scheduler never reached the 6th message: " + process.stderr.read())
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        process.stderr.close()

    # Killed mid-batch: five sent, the rest of the claimed batch stuck, the others untouched.
    assert statuses(engine) == {
        "sent": KILL_AT - 1,
        "sending": BATCH - (KILL_AT - 1),
        "pending": MESSAGES - BATCH,
    }
    delivered, _ = sink.received()
    assert sum(delivered.values()) == KILL_AT - 1

    # Restarted after the stale-claim delay: one pass takes the stuck claims back and sends.
    later = (datetime.now(UTC) + STALE_CLAIM + timedelta(minutes=1)).isoformat()
    first = run_flask(env, "tracker", "tick", "--now", later)
    assert f"released={BATCH - (KILL_AT - 1)}" in first.stdout, first.stdout
    again = run_flask(env, "tracker", "tick", "--now", later)
    assert "dispatch" in again.stdout and "claimed=0" in again.stdout, again.stdout

    delivered, message_ids = sink.received()
    assert set(delivered) == ids  # nothing lost
    assert [n for n, count in delivered.items() if count != 1] == []  # nothing twice
    assert all(count == 1 for count in message_ids.values())
    assert statuses(engine) == {"sent": MESSAGES}
    verify_passes(env)
