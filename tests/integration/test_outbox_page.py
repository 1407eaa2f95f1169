"""The admin outbox page, the retry of failed messages, and the units' DingTalk robot settings."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.helpers import count_statements, page, post_form
from tests.integration.outbox_support import T0, make_notification
from tracker.models import (
    AuditEvent,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    Role,
    Unit,
)


def last_event(db_session) -> AuditEvent:
    return db_session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))


def row_ids(response) -> list[int]:
    return [int(tr["data-id"]) for tr in page(response).select("#messages tbody tr")]


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("role", [Role.LEADER, Role.INSPECTOR, Role.CHIEF, Role.STAFF])
def test_only_admins_see_the_outbox(app, bureau, db_session, role):
    row = make_notification(db_session, status=NotificationStatus.FAILED)
    db_session.commit()
    client = signed_in_client(app, bureau.user(role))
    assert client.get("/admin/outbox").status_code == 403
    assert client.get(f"/admin/outbox/{row.id}").status_code == 403
    assert client.get("/admin/outbox/999999").status_code == 404  # 404 before 403
    response = post_form(client, f"/admin/outbox/{row.id}/retry", {}, form_url="/items/")
    assert response.status_code == 403
    db_session.refresh(row)
    assert row.status == NotificationStatus.FAILED


def test_admin_sees_the_outbox_in_the_navigation(admin_client):
    response = admin_client.get("/admin/outbox")
    assert response.status_code == 200
    assert page(response).select_one('nav [data-nav="admin.outbox"]') is not None


# ---------------------------------------------------------------- list


def test_list_is_newest_first_with_status_counts_and_filters(admin_client, db_session, bureau):
    sent = make_notification(db_session, status=NotificationStatus.SENT, sent_at=T0)
    failed = make_notification(db_session, status=NotificationStatus.FAILED, last_error="boom")
    robot = make_notification(
        db_session,
        channel=NotificationChannel.DINGTALK,
        kind=NotificationKind.UNIT_DIGEST,
        unit_id=bureau.section.id,
        address=None,
    )
    old = make_notification(db_session, digest_date=date(2026, 10, 9))
    db_session.commit()

    response = admin_client.get("/admin/outbox")
    assert row_ids(response) == [old.id, robot.id, failed.id, sent.id]
    counts = {a["data-status"]: int(a["data-count"]) for a in page(response).select("[data-count]")}
    assert counts == {"pending": 2, "sending": 0, "sent": 1, "failed": 1}

    assert row_ids(admin_client.get("/admin/outbox?status=failed")) == [failed.id]
    assert row_ids(admin_client.get("/admin/outbox?channel=dingtalk")) == [robot.id]
    assert row_ids(admin_client.get("/admin/outbox?kind=unit_digest")) == [robot.id]
    assert row_ids(admin_client.get("/admin/outbox?to=2026-10-31")) == [old.id]
    assert row_ids(admin_client.get("/admin/outbox?from=2026-11-01&status=pending")) == [robot.id]
    # Counts follow the other filters (not the status tab itself).
    response = admin_client.get("/admin/outbox?channel=email&status=sent")
    counts = {a["data-status"]: int(a["data-count"]) for a in page(response).select("[data-count]")}
    assert counts == {"pending": 1, "sending": 0, "sent": 1, "failed": 1}
    # Unknown filter values are ignored rather than failing.
    assert admin_client.get("/admin/outbox?status=nope&from=yesterday").status_code == 200


def test_banner_when_no_mail_server_is_configured(app, admin_client, db_session, monkeypatch):
    make_notification(db_session)
    db_session.commit()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    assert page(admin_client.get("/admin/outbox")).select_one("#no-mail-server") is not None
    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.example.org")
    assert page(admin_client.get("/admin/outbox")).select_one("#no-mail-server") is None


def test_statement_count_does_not_grow_with_the_rows(admin_client, db_session, bureau):
    staff = bureau.user(Role.STAFF)

    def statements() -> int:
        with count_statements() as counter:
            assert admin_client.get("/admin/outbox").status_code == 200
        return counter.count

    make_notification(db_session, recipient_id=staff.id)
    db_session.commit()
    one = statements()
    for n in range(49):
        if n % 2:
            make_notification(db_session, recipient_id=staff.id)
        else:
            make_notification(
                db_session,
                channel=NotificationChannel.DINGTALK,
                unit_id=bureau.station.id,
                address=None,
            )
    db_session.commit()
    assert statements() == one


# ---------------------------------------------------------------- one message


def test_message_page_shows_both_bodies_without_injecting_html(admin_client, db_session):
    html = '<p>待办</p><script>alert("x")</script><img src=x onerror="alert(1)">'
    row = make_notification(db_session, body_text="纯文本正文 <b>not bold</b>", body_html=html)
    db_session.commit()

    response = admin_client.get(f"/admin/outbox/{row.id}")
    assert response.status_code == 200
    soup = page(response)
    assert soup.select_one("#body-text").get_text() == "纯文本正文 <b>not bold</b>"
    frame = soup.select_one("iframe#body-html")
    assert frame.has_attr("sandbox") and not frame["sandbox"]  # sandboxed, nothing allowed
    assert frame["srcdoc"] == html
    assert soup.find("script", string=lambda s: s and "alert" in s) is None
    assert soup.find("img", src="x") is None
    assert soup.select_one("#retry-form") is None  # only failed messages can be retried


def test_retry_of_a_failed_message_is_audited(admin_client, db_session, bureau):
    row = make_notification(
        db_session,
        status=NotificationStatus.FAILED,
        attempts=6,
        last_error="SMTP: ConnectionRefusedError",
        next_attempt_at=T0 - timedelta(days=1),
    )
    db_session.commit()
    url = f"/admin/outbox/{row.id}"
    assert page(admin_client.get(url)).select_one("#retry-form") is not None

    response = post_form(admin_client, f"{url}/retry", {}, form_url=url)

    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    db_session.refresh(row)
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 0)
    event = last_event(db_session)
    assert (event.action, event.object_type, event.object_id) == (
        "notification.retried",
        "notification",
        str(row.id),
    )
    assert event.actor_id == bureau.user(Role.ADMIN).id and event.data["attempts"] == 6


def test_retry_of_a_message_that_is_not_failed_changes_nothing(admin_client, db_session):
    row = make_notification(db_session, status=NotificationStatus.SENT, attempts=1, sent_at=T0)
    db_session.commit()
    seq = last_event(db_session).seq if last_event(db_session) else 0
    url = f"/admin/outbox/{row.id}"

    response = post_form(admin_client, f"{url}/retry", {}, form_url=url, follow_redirects=True)

    assert response.status_code == 200 and page(response).select_one(".alert-danger")
    db_session.refresh(row)
    assert row.status == NotificationStatus.SENT
    assert (last_event(db_session).seq if last_event(db_session) else 0) == seq


def test_a_failed_message_shows_on_the_outbox_page(admin_client, db_session):
    row = make_notification(
        db_session, status=NotificationStatus.FAILED, attempts=6, last_error="SMTP: timed out"
    )
    db_session.commit()
    tr = page(admin_client.get("/admin/outbox?status=failed")).select_one(
        f'#messages tr[data-id="{row.id}"]'
    )
    assert tr["data-status"] == "failed" and "SMTP: timed out" in tr.get_text()


# ---------------------------------------------------------------- units' DingTalk robot

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=abc123token"
SECRET = "SECdeadbeefdeadbeefdeadbeef"


def unit_form(unit: Unit, **values) -> dict:
    return {
        "code": unit.code,
        "name": unit.name,
        "name_en": unit.name_en or "",
        "kind": "section",
        "parent_id": unit.parent_id or 0,
        **values,
    }


def test_new_unit_with_a_robot(admin_client, db_session, bureau):
    response = post_form(
        admin_client,
        "/admin/units/new",
        {
            "code": "ROBOT",
            "name": "机器人科",
            "kind": "section",
            "parent_id": bureau.root.id,
            "dingtalk_webhook": WEBHOOK,
            "dingtalk_secret": SECRET,
        },
    )
    assert response.status_code == 302
    unit = db_session.scalar(select(Unit).where(Unit.code == "ROBOT"))
    assert (unit.dingtalk_webhook, unit.dingtalk_secret) == (WEBHOOK, SECRET)
    event = last_event(db_session)
    stored = json.dumps(event.data, ensure_ascii=False)
    assert event.action == "unit.created" and SECRET not in stored and "abc123token" not in stored
    assert event.data["dingtalk_secret"] == "***"


def test_the_secret_is_never_shown_and_kept_unless_changed(admin_client, db_session, bureau):
    unit = bureau.section
    unit.dingtalk_webhook, unit.dingtalk_secret = WEBHOOK, SECRET
    db_session.commit()
    url = f"/admin/units/{unit.id}/edit"

    response = admin_client.get(url)
    assert SECRET not in response.get_data(as_text=True)
    soup = page(response)
    assert soup.select_one("#dingtalk_secret")["type"] == "password"
    assert not soup.select_one("#dingtalk_secret").get("value")
    assert soup.select_one("#dingtalk_secret_clear") is not None  # a secret is set

    # An empty field keeps the stored secret; a change of the webhook is audited masked.
    new_webhook = WEBHOOK.replace("abc123token", "zzz999token")
    response = post_form(admin_client, url, unit_form(unit, dingtalk_webhook=new_webhook))
    assert response.status_code == 302
    db_session.refresh(unit)
    assert (unit.dingtalk_webhook, unit.dingtalk_secret) == (new_webhook, SECRET)
    event = last_event(db_session)
    assert event.action == "unit.updated"
    assert set(event.data["changes"]) == {"dingtalk_webhook"}
    assert "token" not in json.dumps(event.data)

    # A new secret replaces it: the audit says only that it changed.
    response = post_form(
        admin_client, url, unit_form(unit, dingtalk_webhook=new_webhook, dingtalk_secret="SECnew")
    )
    db_session.refresh(unit)
    assert unit.dingtalk_secret == "SECnew"
    event = last_event(db_session)
    assert event.data["changes"] == {"dingtalk_secret": ["***", "***"]}
    assert "SECnew" not in json.dumps(event.data) and SECRET not in json.dumps(event.data)

    # "Remove" clears it.
    post_form(
        admin_client,
        url,
        unit_form(unit, dingtalk_webhook=new_webhook, dingtalk_secret_clear="y"),
    )
    db_session.refresh(unit)
    assert unit.dingtalk_secret is None
    assert last_event(db_session).data["changes"] == {"dingtalk_secret": ["***", None]}
    assert page(admin_client.get(url)).select_one("#dingtalk_secret_clear") is None


def test_webhook_must_be_https(app, admin_client, db_session, bureau, monkeypatch):
    unit = bureau.section
    url = f"/admin/units/{unit.id}/edit"
    insecure = "http://oapi.dingtalk.com/robot/send?access_token=x"
    response = post_form(admin_client, url, unit_form(unit, dingtalk_webhook=insecure))
    assert response.status_code == 200
    assert page(response).select_one("#dingtalk_webhook-error") is not None
    db_session.refresh(unit)
    assert unit.dingtalk_webhook is None

    response = post_form(admin_client, url, unit_form(unit, dingtalk_webhook="not a url"))
    assert page(response).select_one("#dingtalk_webhook-error") is not None

    monkeypatch.setitem(app.config, "TRACKER_DINGTALK_ALLOW_HTTP", True)
    assert (
        post_form(admin_client, url, unit_form(unit, dingtalk_webhook=insecure)).status_code == 302
    )
    db_session.refresh(unit)
    assert unit.dingtalk_webhook == insecure
