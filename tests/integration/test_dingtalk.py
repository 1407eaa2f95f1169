"""The DingTalk robot channel: signed requests, markdown digests, refusals retried like email."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest

from tests.integration.outbox_support import T0, RobotServer, make_notification, robot_signature
from tracker.models import NotificationChannel, NotificationKind, NotificationStatus
from tracker.notify import PermanentSendError, dingtalk
from tracker.services.dispatch import dispatch_due

SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
MARKDOWN = (
    "### 食品安全监管科 · 3 项待办\n"
    "**已逾期**\n"
    "- GS-03 执法公示 · 截止 2026年10月30日 · [查看](http://127.0.0.1:5000/items/11)\n"
    "**即将到期**\n"
    "- QJ-01 全过程记录 · 截止 2026年11月5日 · [查看](http://127.0.0.1:5000/items/12)\n"
    "- FZ-02 法制审核 · 截止 2026年11月6日 · [查看](http://127.0.0.1:5000/items/13)\n"
)


@pytest.fixture
def robot(app, monkeypatch):
    monkeypatch.setitem(app.config, "TRACKER_DINGTALK_ALLOW_HTTP", True)  # a loopback robot
    with RobotServer(SECRET) as server:
        yield server


def unit_row(db_session, unit, **values):
    return make_notification(
        db_session,
        channel=NotificationChannel.DINGTALK,
        kind=NotificationKind.UNIT_DIGEST,
        unit_id=unit.id,
        address=None,
        subject="食品安全监管科：3 项待办",
        body_text=MARKDOWN,
        body_html=None,
        **values,
    )


def test_the_signature_follows_the_robot_scheme():
    # Reference values computed independently from DingTalk's documented algorithm.
    timestamp = 1700000000000
    expected = robot_signature(SECRET, str(timestamp))
    assert unquote(dingtalk.sign(SECRET, timestamp)) == expected
    url = dingtalk.signed_url(
        "https://oapi.dingtalk.com/robot/send?access_token=x", SECRET, timestamp
    )
    assert url.startswith(
        "https://oapi.dingtalk.com/robot/send?access_token=x&timestamp=1700000000000&sign="
    )
    assert "+" not in url.split("sign=")[1] and "/" not in url.split("sign=")[1]  # URL-encoded


def test_unit_digest_is_posted_signed_as_markdown_listing_the_items(db_session, bureau, robot):
    bureau.section.dingtalk_webhook = robot.url
    bureau.section.dingtalk_secret = SECRET
    row = unit_row(db_session, bureau.section)
    db_session.commit()

    summary = dispatch_due(db_session, T0)

    assert summary["sent"] == 1 and robot.rejected == []
    (post,) = robot.posts
    assert post["query"]["access_token"] == ["t0ken"]  # the webhook's own query is kept
    assert set(post["query"]) == {"access_token", "timestamp", "sign"}
    assert post["body"]["msgtype"] == "markdown"
    assert post["body"]["markdown"]["title"] == "食品安全监管科：3 项待办"
    text = post["body"]["markdown"]["text"]
    for code in ("GS-03", "QJ-01", "FZ-02"):
        assert code in text
    assert text.index("已逾期") < text.index("GS-03") < text.index("即将到期") < text.index("QJ-01")
    db_session.refresh(row)
    assert row.status == NotificationStatus.SENT and row.sent_at == T0


def test_a_wrong_secret_is_refused_by_the_robot_and_retried(db_session, bureau, robot):
    bureau.section.dingtalk_webhook = robot.url
    bureau.section.dingtalk_secret = "SECwrong"
    row = unit_row(db_session, bureau.section)
    db_session.commit()

    assert dispatch_due(db_session, T0)["retry"] == 1
    assert len(robot.rejected) == 1 and robot.posts == []
    db_session.refresh(row)
    assert row.status == NotificationStatus.PENDING and "errcode 310000" in row.last_error


def test_a_robot_answering_an_error_code_is_a_failure_with_retry(app, db_session, bureau, robot):
    bureau.section.dingtalk_webhook = robot.url
    bureau.section.dingtalk_secret = SECRET
    row = unit_row(db_session, bureau.section)
    db_session.commit()
    robot.errcode = 130101  # "send too fast"

    assert dispatch_due(db_session, T0)["retry"] == 1
    db_session.refresh(row)
    backoff = timedelta(seconds=app.config["TRACKER_DISPATCH_BACKOFF_SECONDS"])
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert "errcode 130101" in row.last_error and row.next_attempt_at == T0 + backoff

    robot.errcode = 0
    assert dispatch_due(db_session, T0 + backoff)["sent"] == 1
    assert dispatch_due(db_session, T0 + timedelta(days=1))["claimed"] == 0
    assert len(robot.posts) == 1
    db_session.refresh(row)
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)


def test_a_robot_that_is_down_is_retried(app, db_session, bureau, monkeypatch):
    monkeypatch.setitem(app.config, "TRACKER_DINGTALK_ALLOW_HTTP", True)
    with RobotServer(SECRET) as gone:
        url = gone.url
    bureau.section.dingtalk_webhook = url
    row = unit_row(db_session, bureau.section)
    db_session.commit()

    assert dispatch_due(db_session, T0)["retry"] == 1
    db_session.refresh(row)
    assert row.status == NotificationStatus.PENDING and row.last_error.startswith("DingTalk")


def test_plain_http_webhooks_are_refused_unless_allowed(app, db_session, bureau):
    assert app.config.get("TRACKER_DINGTALK_ALLOW_HTTP", False) is False
    with pytest.raises(PermanentSendError):
        dingtalk.send_markdown(webhook="http://127.0.0.1:9/robot", secret=None, title="t", text="x")
    bureau.section.dingtalk_webhook = "http://127.0.0.1:9/robot/send?access_token=x"
    row = unit_row(db_session, bureau.section)
    db_session.commit()

    assert dispatch_due(db_session, T0)["failed"] == 1
    db_session.refresh(row)
    assert row.status == NotificationStatus.FAILED and "https" in row.last_error
