"""The production topology on loopback, and a load test against it (`make load`).

    python -m ops.topology [--users 50] [--duration 60] [--workers 4]
                           [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Brings up, each as its own process or server:
  - PostgreSQL: a throwaway database `ops_load_<random>` on the given server (dropped at the end),
    migrated and loaded with the demo bureau (`tracker bootstrap --demo`);
  - S3-compatible storage: a moto server, one bucket; the evidence goes there;
  - SMTP: an aiosmtpd server that counts every email by its outbox id and Message-ID;
  - gunicorn with several workers and TRACKER_SCHEDULER off (no background jobs in workers);
  - exactly one `flask --app wsgi tracker scheduler` process.
Then runs the load (ops/load.py): chiefs browse the checklist, upload evidence and submit;
inspectors review. Afterwards it checks that nothing was lost or duplicated — the database's new
evidence, submissions, reviews and their audit events match what the clients saw succeed, every
email was received exactly once, and `tracker verify` (blobs in S3, the audit chain) passes —
prints p50/p95/p99 and the throughput, and exits 1 on any error or mismatch.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import requests
import sqlalchemy as sa

from ops.load import run_load

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "demo-tracker-2026"  # noqa: S105 (the documented demo password)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(message: str) -> None:
    print(f"[topology] {message}", flush=True)


@contextmanager
def throwaway_database(server_url: str):
    server = sa.engine.make_url(server_url)
    name = f"ops_load_{secrets.token_hex(4)}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class SmtpSink:
    """An SMTP server on loopback counting deliveries by outbox id and by Message-ID."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.lock = threading.Lock()
        self.outbox_ids: Counter = Counter()
        self.message_ids: Counter = Counter()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.outbox_ids[str(message["X-Tracker-Notification"])] += 1
            self.message_ids[str(message["Message-ID"])] += 1
        return "250 Message accepted for delivery"

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


@contextmanager
def process(name: str, command: list[str], env: dict[str, str], log_dir: Path):
    """A child process whose output goes to log_dir/name.log; terminated (then killed) at exit."""
    log = (log_dir / f"{name}.log").open("wb")
    child = subprocess.Popen(  # noqa: S603 (our own commands)
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
        log.close()


def wait_for(url: str, child: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {child.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def flask(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def open_task_items(engine: sa.Engine) -> dict[str, list[int]]:
    """Open items that need file evidence, by owner unit code (the chiefs' work)."""
    rows = sa.text(
        """
        SELECT u.code, i.id FROM checklist_item i
        JOIN unit u ON u.id = i.unit_id
        JOIN requirement r ON r.id = i.requirement_id
        WHERE i.status IN ('open', 'returned') AND r.kind = 'task'
          AND EXISTS (SELECT 1 FROM user_account c WHERE c.unit_id = u.id AND c.role = 'chief'
                      AND c.email = 'chief.' || lower(u.code) || '@demo.example.org')
        ORDER BY i.id
        """
    )
    by_unit: dict[str, list[int]] = {}
    with engine.connect() as connection:
        for code, item_id in connection.execute(rows):
            by_unit.setdefault(code, []).append(item_id)
    return by_unit


def queue_emails(engine: sa.Engine, count: int) -> set[int]:
    """Reminder emails waiting in the outbox, for the one scheduler to send during the load."""
    now = datetime.now(UTC)
    rows = [
        {
            "channel": "email",
            "kind": "digest",
            "recipient_key": f"load:{n}",
            "address": f"person{n}@demo.example.org",
            "digest_date": now.date(),
            "locale": "zh_CN",
            "subject": f"合规台账提醒 {n}",
            "body_text": f"您有 {n % 7 + 1} 项待办（负载测试）",
            "body_html": f"<p>您有 {n % 7 + 1} 项待办（负载测试）</p>",
            "item_ids": [n],
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for n in range(count)
    ]
    from tracker.models import Notification

    with engine.begin() as connection:
        connection.execute(sa.insert(Notification), rows)
        return set(
            connection.scalars(
                sa.select(Notification.id).where(Notification.recipient_key.like("load:%"))
            )
        )


def wait_for_outbox(engine: sa.Engine, seconds: float = 60) -> dict[str, int]:
    """Wait until no message is pending or being sent; the count of each status."""
    deadline = time.monotonic() + seconds
    while True:
        with engine.connect() as connection:
            by_status = dict(
                connection.execute(
                    sa.text("SELECT status, count(*) FROM notification GROUP BY status")
                ).all()
            )
        busy = by_status.get("pending", 0) + by_status.get("sending", 0)
        if not busy or time.monotonic() > deadline:
            return by_status
        time.sleep(0.5)


def database_counts(engine: sa.Engine) -> dict[str, int]:
    queries = {
        "evidence": "SELECT count(*) FROM evidence",
        "blobs": "SELECT count(*) FROM blob",
        "submissions": "SELECT count(*) FROM submission",
        "reviews": "SELECT count(*) FROM review",
        "audit": "SELECT count(*) FROM audit_event",
        "audit evidence.added": "SELECT count(*) FROM audit_event WHERE action = 'evidence.added'",
        "audit item.submitted": "SELECT count(*) FROM audit_event WHERE action = 'item.submitted'",
        "audit reviews": "SELECT count(*) FROM audit_event WHERE action IN "
        "('item.approved', 'item.returned')",
        "sent": "SELECT count(*) FROM notification WHERE status = 'sent'",
    }
    with engine.connect() as connection:
        return {k: int(connection.execute(sa.text(q)).scalar_one()) for k, q in queries.items()}


def run(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tracker-topology-")))
        logs = Path(args.logs) if args.logs else work
        logs.mkdir(parents=True, exist_ok=True)
        url = stack.enter_context(throwaway_database(args.postgres))
        say(f"PostgreSQL database {sa.engine.make_url(url).database}")

        s3_port = free_port()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "MAIL_"))}
        base_env.update(
            {
                "AWS_ACCESS_KEY_ID": "ops-load",
                "AWS_SECRET_ACCESS_KEY": "ops-load-secret",
                "AWS_DEFAULT_REGION": "us-east-1",
                "PYTHONPATH": str(PROJECT_ROOT),
            }
        )
        moto = stack.enter_context(
            process(
                "s3",
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                base_env,
                logs,
            )
        )
        wait_for(f"http://127.0.0.1:{s3_port}/", moto)
        import boto3

        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            aws_access_key_id="ops-load",
            aws_secret_access_key="ops-load-secret",  # noqa: S106 (moto's dummy credentials)
            region_name="us-east-1",
        ).create_bucket(Bucket="tracker-evidence")
        say(f"S3-compatible storage (moto) on 127.0.0.1:{s3_port}, bucket tracker-evidence")

        smtp = stack.enter_context(SmtpSink())
        say(f"SMTP on 127.0.0.1:{smtp.port}")

        web_port = free_port()
        env = {
            **base_env,
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "TRACKER_INSTANCE_PATH": str(work / "instance"),
            "TRACKER_SCHEDULER": "off",
            "TRACKER_BASE_URL": f"http://127.0.0.1:{web_port}",
            "TRACKER_STORAGE": "s3",
            "TRACKER_S3_BUCKET": "tracker-evidence",
            "TRACKER_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "TRACKER_S3_REGION": "us-east-1",
            "TRACKER_S3_PREFIX": "tracker",
            "TRACKER_DEMO_PASSWORD": PASSWORD,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp.port),
            "MAIL_DEFAULT_SENDER": "tracker@demo.example.org",
            # Every simulated user signs in from 127.0.0.1; behind a proxy (ProxyFix) each
            # person has his own address and the default per-address limit applies.
            "TRACKER_RATELIMIT_LOGIN": "10000 per minute",
        }
        flask(env, "db", "upgrade")
        flask(env, "tracker", "bootstrap", "--demo")
        say("migrated; demo bureau loaded")

        engine = sa.create_engine(url)
        stack.callback(engine.dispose)
        items = open_task_items(engine)
        emails = queue_emails(engine, args.emails)
        before = database_counts(engine)

        gunicorn = stack.enter_context(
            process(
                "gunicorn",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--workers",
                    str(args.workers),
                    "--bind",
                    f"127.0.0.1:{web_port}",
                    "--timeout",
                    "60",
                    "wsgi:app",
                ],
                env,
                logs,
            )
        )
        wait_for(f"http://127.0.0.1:{web_port}/healthz", gunicorn)
        say(f"gunicorn: {args.workers} workers on 127.0.0.1:{web_port}, no scheduler")
        scheduler = stack.enter_context(
            process("scheduler", flask_command("tracker", "scheduler"), env, logs)
        )
        say("one `tracker scheduler` process")

        say(f"load: {args.users} users for {args.duration:g} s")
        stats, elapsed = run_load(
            f"http://127.0.0.1:{web_port}",
            users=args.users,
            duration=args.duration,
            items_by_unit=items,
        )

        # Let the one scheduler send what the run wrote to the outbox, then a catch-up tick
        # runs beside it (two dispatchers: still each message once).
        flask(env, "tracker", "tick")
        outbox = wait_for_outbox(engine)
        problems: list[str] = []
        if set(outbox) != {"sent"}:
            problems.append(f"outbox not fully sent: {outbox}")
        missing = sorted(n for n in emails if smtp.outbox_ids[str(n)] == 0)
        if missing:
            problems.append(f"{len(missing)} queued emails never arrived: {missing[:20]}")
        if scheduler.poll() is not None:
            problems.append(f"the scheduler exited with {scheduler.returncode}")
        if gunicorn.poll() is not None:
            problems.append(f"gunicorn exited with {gunicorn.returncode}")
        after = database_counts(engine)
        added = {k: after[k] - before[k] for k in after}
        expected = {
            "evidence": stats.done["files"],
            "audit evidence.added": stats.done["files"],
            "submissions": stats.done["submits"],
            "audit item.submitted": stats.done["submits"],
            "reviews": stats.done["reviews"],
            "audit reviews": stats.done["reviews"],
            "blobs": stats.done["files"],  # every uploaded file had new bytes
        }
        for key, value in expected.items():
            if added[key] != value:
                problems.append(
                    f"{key}: the clients saw {value} succeed, the database has {added[key]}"
                )
        twice = [k for k, n in smtp.outbox_ids.items() if n > 1]
        if twice or any(n > 1 for n in smtp.message_ids.values()):
            problems.append(f"emails delivered more than once: outbox ids {twice}")
        if sum(smtp.outbox_ids.values()) != after["sent"]:
            problems.append(
                f"{after['sent']} outbox rows are marked sent, the SMTP server got "
                f"{sum(smtp.outbox_ids.values())}"
            )
        verified = subprocess.run(  # noqa: S603
            flask_command("tracker", "verify"),
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if verified.returncode != 0:
            problems.append("tracker verify failed:\n" + verified.stdout + verified.stderr)

        total = len(stats.latencies)
        print()
        print(f"users {args.users}, duration {args.duration:g} s, gunicorn workers {args.workers}")
        print(f"requests {total} in {elapsed:.1f} s: throughput {total / elapsed:.1f} req/s")
        print(
            f"latency p50 {stats.percentile(50) * 1000:.0f} ms, "
            f"p95 {stats.percentile(95) * 1000:.0f} ms, p99 {stats.percentile(99) * 1000:.0f} ms"
        )
        for kind, n in sorted(stats.by_kind.items()):
            print(f"  {kind:<13} {n:>6} requests, p95 {stats.percentile(95, kind) * 1000:>6.0f} ms")
        print(
            f"work done: {stats.done['files']} files uploaded, {stats.done['submits']} "
            f"submitted, {stats.done['reviews']} reviewed ({stats.done['approvals']} approved, "
            f"{stats.done['returns']} returned); emails: {len(emails)} queued, "
            f"{sum(smtp.outbox_ids.values())} received by SMTP, {after['sent']} marked sent"
            # The scheduler runs the real job table: from 09:00 Beijing time its daily reminder
            # pass writes reminders of its own, sent (and checked) like the queued ones.
            f" ({sum(smtp.outbox_ids.values()) - len(emails)} of them the scheduler's own)"
        )
        print(f"database added: {added}")
        print(verified.stdout.strip())
        print(f"errors {len(stats.errors)}")
        for error in stats.errors[:20]:
            print(f"  {error}")
        for problem in problems:
            print(f"PROBLEM: {problem}")
        ok = not stats.errors and not problems and total > 0
        print(f"RESULT: {'PASS' if ok else 'FAIL'} at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        if not ok:
            say(f"logs in {logs} (kept: pass --logs DIR to keep them after exit)")
        return 0 if ok else 1


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--emails", type=int, default=200, help="reminder emails queued")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TRACKER_LOAD_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL whose user may create databases (a throwaway one is used)",
    )
    parser.add_argument("--logs", default=None, help="keep the processes' logs in this folder")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
