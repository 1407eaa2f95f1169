"""Test support for the outbox: a real SMTP server on loopback, a DingTalk robot, row factories."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from tracker.models import Notification, NotificationChannel, NotificationKind, NotificationStatus

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a Monday
_numbers = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Collector:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


class SMTPServer:
    """An aiosmtpd server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.collector = _Collector()
        self.controller: Controller | None = None

    def start(self) -> SMTPServer:
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.collector.lock:
            return list(self.collector.messages)

    def notification_ids(self) -> list[int]:
        """The outbox ids of the received messages, one per delivery (duplicates kept)."""
        return [int(m["X-Tracker-Notification"]) for m in self.messages]


def robot_signature(secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class RobotServer:
    """A DingTalk group robot: checks timestamp and signature like DingTalk, records the posts."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.errcode = 0  # set to another code to make the robot refuse messages
        self.posts: list[dict] = []
        self.rejected: list[str] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                timestamp = query.get("timestamp", [""])[0]
                sign = query.get("sign", [""])[0]
                fresh = timestamp.isdigit() and abs(time.time() * 1000 - int(timestamp)) < 3600_000
                if not fresh or not hmac.compare_digest(
                    sign, robot_signature(robot.secret, timestamp)
                ):
                    robot.rejected.append(self.path)
                    answer = {"errcode": 310000, "errmsg": "sign not match"}
                elif robot.errcode:
                    answer = {"errcode": robot.errcode, "errmsg": "send too fast"}
                else:
                    robot.posts.append({"query": query, "body": body})
                    answer = {"errcode": 0, "errmsg": "ok"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/robot/send?access_token=t0ken"

    def __enter__(self) -> RobotServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def make_notification(
    session: Session,
    *,
    channel: NotificationChannel = NotificationChannel.EMAIL,
    kind: NotificationKind = NotificationKind.DIGEST,
    status: NotificationStatus = NotificationStatus.PENDING,
    locale: str = "zh_CN",
    subject: str | None = None,
    address: str | None = None,
    unit_id: int | None = None,
    recipient_id: int | None = None,
    digest_date: date = date(2026, 11, 2),
    next_attempt_at: datetime = T0,
    body_text: str | None = None,
    body_html: str | None = None,
    key_prefix: str = "test",
    **values,
) -> Notification:
    n = next(_numbers)
    english = locale.startswith("en")
    row = Notification(
        channel=channel,
        kind=kind,
        status=status,
        recipient_key=f"{key_prefix}:{n}",
        recipient_id=recipient_id,
        unit_id=unit_id,
        address=address if address is not None else f"person{n}@test.example.org",
        digest_date=digest_date,
        locale=locale,
        subject=subject or (f"Reminder {n}: 2 items" if english else f"提醒 {n}：2 项待办"),
        body_text=body_text
        or ("- GS-01 due 2026-11-05" if english else "- GS-01 截止 2026年11月5日"),
        body_html=body_html if body_html is not None else "<p><b>GS-01</b></p>",
        item_ids=[1, 2],
        next_attempt_at=next_attempt_at,
        created_at=T0,
        **values,
    )
    session.add(row)
    session.flush()
    return row
