"""The daily reminder pass: who is reminded of what, on which working days, exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from tests.conftest import signed_in_client
from tests.factories import make_item, make_user, seed_official_holidays
from tests.helpers import CJK, count_statements, flashes, page, post_form, visible_text
from tracker import jobs
from tracker.models import (
    AuditEvent,
    InspectorExclusion,
    ItemStatus,
    Notification,
    NotificationPreference,
    ReminderPolicy,
    Role,
    Submission,
)
from tracker.services import reminders
from tracker.services.reminders import rendering as reminder_rendering

CST = timedelta(hours=8)


def at_nine(day: date) -> datetime:
    """09:00 in Asia/Shanghai on that day, as an aware UTC instant."""
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC) - CST


def run(db_session, day: date) -> dict:
    result = reminders.run_reminder_pass(db_session, now=at_nine(day))
    db_session.commit()
    return result


def outbox(db_session, *, channel: str = "email") -> set[tuple[str, str, str, tuple[int, ...]]]:
    rows = db_session.scalars(select(Notification).where(Notification.channel == channel))
    return {
        (n.recipient_key, n.digest_date.isoformat(), str(n.kind), tuple(n.item_ids)) for n in rows
    }


def message(db_session, recipient, kind: str, day: date) -> Notification:
    return db_session.scalar(
        select(Notification).where(
            Notification.recipient_key == f"user:{recipient.id}",
            Notification.kind == kind,
            Notification.digest_date == day,
        )
    )


def submit(db_session, item, by, when: datetime) -> None:
    item.status = ItemStatus.SUBMITTED
    db_session.add(Submission(item_id=item.id, round=1, submitted_by_id=by.id, submitted_at=when))
    item.last_submitted_at = when  # as the submit service keeps it
    db_session.flush()


@pytest.fixture
def holidays(db_session):
    seed_official_holidays(db_session)
    db_session.commit()


# ---------------------------------------------------------------- (a) the timeline


@pytest.fixture
def timeline(app, db_session, bureau, holidays):
    """Items around National Day 2026 (10-01..10-07 rest, Saturday 10-10 a make-up working day;
    Mid-Autumn 09-25 is a rest day too)."""
    staff, inspector = bureau.user(Role.STAFF), bureau.user(Role.INSPECTOR)
    items = {
        # Assigned to the officer; due Tuesday 10-13.
        "A": make_item(
            db_session, unit=bureau.section, due_date=date(2026, 10, 13), assignee_id=staff.id
        ),
        # Unassigned: goes to the section chief; due Wednesday 10-14.
        "B": make_item(db_session, unit=bureau.section, due_date=date(2026, 10, 14)),
        # Overdue since Friday 09-18, unassigned: 6 working days late on 09-28 (Sunday 09-20
        # was a make-up working day, Friday 09-25 the Mid-Autumn rest day).
        "C": make_item(db_session, unit=bureau.station, due_date=date(2026, 9, 18)),
        # Submitted on 09-29: waits for review.
        "D": make_item(
            db_session, unit=bureau.section, due_date=date(2026, 10, 30), assignee_id=staff.id
        ),
        # Approved: never reminded.
        "E": make_item(
            db_session,
            unit=bureau.section,
            due_date=date(2026, 10, 13),
            status=ItemStatus.APPROVED,
        ),
        # Returned, due Friday 10-09, assigned to the officer: overdue from the make-up Saturday.
        "F": make_item(
            db_session,
            unit=bureau.section,
            due_date=date(2026, 10, 9),
            assignee_id=staff.id,
            status=ItemStatus.RETURNED,
        ),
    }
    submit(db_session, items["D"], staff, datetime(2026, 9, 29, 2, 0, tzinfo=UTC))
    db_session.commit()
    assert inspector.active
    return items


def _expected(bureau, items) -> set[tuple[str, str, str, tuple[int, ...]]]:
    """Worked out by hand from the 2026 official calendar and the default rules."""
    u = {key: f"user:{user.id}" for key, user in bureau.users.items()}
    i = {key: item.id for key, item in items.items()}
    digest, chief, leaders, review = (
        "digest",
        "escalation_chief",
        "escalation_leaders",
        "review_waiting",
    )
    rows = [
        # Officer: A 7 WD before (09-28), 3 (10-09), 1 (10-12), on the day (10-13), 2 WD late
        # (10-15); F 3 before (09-29), 1 (10-08), on the day (10-09), 2/4/6 late (10-12/14/16).
        # 10-09 and 10-12 carry both items in one digest, F (overdue) first on 10-12.
        (u["staff"], "2026-09-28", digest, (i["A"],)),
        (u["staff"], "2026-09-29", digest, (i["F"],)),
        (u["staff"], "2026-10-08", digest, (i["F"],)),
        (u["staff"], "2026-10-09", digest, (i["F"], i["A"])),
        (u["staff"], "2026-10-12", digest, (i["F"], i["A"])),
        (u["staff"], "2026-10-13", digest, (i["A"],)),
        (u["staff"], "2026-10-14", digest, (i["F"],)),
        (u["staff"], "2026-10-15", digest, (i["A"],)),
        (u["staff"], "2026-10-16", digest, (i["F"],)),
        # Section chief, for unassigned B: 7 before (09-29), 3 before on the make-up Saturday
        # (10-10), 1 (10-13), on the day (10-14), 2 late (10-16).
        (u["chief"], "2026-09-29", digest, (i["B"],)),
        (u["chief"], "2026-10-10", digest, (i["B"],)),
        (u["chief"], "2026-10-13", digest, (i["B"],)),
        (u["chief"], "2026-10-14", digest, (i["B"],)),
        (u["chief"], "2026-10-16", digest, (i["B"],)),
        # ... and F escalated once it is more than 3 working days late (4 on 10-14), daily.
        (u["chief"], "2026-10-14", chief, (i["F"],)),
        (u["chief"], "2026-10-15", chief, (i["F"],)),
        (u["chief"], "2026-10-16", chief, (i["F"],)),
        # Station chief, for unassigned C: digests on even lateness.
        (u["other_chief"], "2026-09-28", digest, (i["C"],)),  # 6
        (u["other_chief"], "2026-09-30", digest, (i["C"],)),  # 8
        (u["other_chief"], "2026-10-09", digest, (i["C"],)),  # 10
        (u["other_chief"], "2026-10-12", digest, (i["C"],)),  # 12
        (u["other_chief"], "2026-10-14", digest, (i["C"],)),  # 14
        (u["other_chief"], "2026-10-16", digest, (i["C"],)),  # 16
        # Inspector: D submitted 09-29, more than 3 working days waiting from 10-10 on.
        *[
            (u["inspector"], d, review, (i["D"],))
            for d in ("2026-10-10", "2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15")
        ],
        (u["inspector"], "2026-10-16", review, (i["D"],)),
    ]
    working_days = [
        "2026-09-28",
        "2026-09-29",
        "2026-09-30",
        "2026-10-08",
        "2026-10-09",
        "2026-10-10",
        "2026-10-12",
        "2026-10-13",
        "2026-10-14",
        "2026-10-15",
        "2026-10-16",
    ]
    # C is escalated to its chief every working day (more than 3 late all along), and to the
    # admin and the leader from lateness 11 on (the make-up Saturday 10-10).
    rows += [(u["other_chief"], d, chief, (i["C"],)) for d in working_days]
    rows += [
        (u[who], d, leaders, (i["C"],))
        for who in ("admin", "leader")
        for d in working_days
        if d >= "2026-10-10"
    ]
    return set(rows)


REST_DAYS = {
    "2026-09-26",
    "2026-09-27",
    *(f"2026-10-0{n}" for n in range(1, 8)),
    "2026-10-11",
    "2026-10-17",
    "2026-10-18",
}


def test_timeline_across_national_day_via_tick(app, db_session, bureau, timeline, monkeypatch):
    every_job = jobs.job_table
    # Only the reminder pass: generating the year's items would add items to the bureau, and
    # sending is the dispatcher's own test.
    monkeypatch.setattr(
        jobs, "job_table", lambda: [j for j in every_job() if j.name == "reminders"]
    )
    runner = app.test_cli_runner()
    day = date(2026, 9, 26)
    while day <= date(2026, 10, 18):
        early = runner.invoke(args=["tracker", "tick", "--now", f"{day.isoformat()}T08:59"])
        assert "nothing due" in early.output  # before the reminder hour
        result = runner.invoke(args=["tracker", "tick", "--now", f"{day.isoformat()}T09:00"])
        assert result.exit_code == 0, result.output
        assert f"reminders [{day.isoformat()}]: done" in result.output
        if day.isoformat() in REST_DAYS:
            assert "skipped=rest day" in result.output
        # A later tick the same day (another scheduler, a restart) runs nothing again.
        again = runner.invoke(args=["tracker", "tick", "--now", f"{day.isoformat()}T15:00"])
        assert f"reminders [{day.isoformat()}]: skipped" in again.output
        day += timedelta(days=1)

    written = outbox(db_session)
    expected = _expected(bureau, timeline)
    assert written - expected == set(), "unexpected messages"
    assert expected - written == set(), "missing messages"
    assert not {d for _r, d, _k, _i in written} & REST_DAYS
    assert "2026-10-10" in {d for _r, d, _k, _i in written}  # the make-up Saturday counts
    # One message per recipient, day and kind.
    keys = [(r, d, k) for r, d, k, _i in written]
    assert len(keys) == len(set(keys))
    # Nothing ever for the approved item or on the DingTalk channel (no group configured).
    assert all(timeline["E"].id not in ids for *_rest, ids in written)
    assert outbox(db_session, channel="dingtalk") == set()


# ---------------------------------------------------------------- (b) idempotence


def test_a_second_pass_for_the_same_day_writes_nothing(app, db_session, bureau, timeline):
    first = run(db_session, date(2026, 10, 12))
    count = db_session.scalar(select(func.count()).select_from(Notification))
    assert first["written"] and count == sum(first["written"].values())
    second = run(db_session, date(2026, 10, 12))
    assert second["written"] == {} and second["existing"] == count
    assert db_session.scalar(select(func.count()).select_from(Notification)) == count


def test_a_concurrent_insert_is_skipped_row_by_row(app, db_session, bureau, timeline, monkeypatch):
    """Another pass wrote one key between our check and our insert: the rest still goes in."""
    day = date(2026, 10, 12)
    run(db_session, day)
    rows = db_session.scalars(select(Notification)).all()
    lost = next(n for n in rows if n.kind == "review_waiting")
    total = len(rows)
    for n in rows:
        if n is not lost:
            db_session.delete(n)
    db_session.commit()
    # Hide the surviving row from the "already written" query, as if inserted concurrently.
    original = db_session.execute

    def blind_execute(statement, *args, **kwargs):
        result = original(statement, *args, **kwargs)
        if "notification.recipient_key" in str(statement) and "digest_date" in str(statement):
            return original(statement.where(Notification.id != lost.id), *args, **kwargs)
        return result

    monkeypatch.setattr(db_session, "execute", blind_execute)
    result = reminders.run_reminder_pass(db_session, now=at_nine(day))
    monkeypatch.undo()
    db_session.commit()
    assert sum(result["written"].values()) == total - 1
    assert db_session.scalar(select(func.count()).select_from(Notification)) == total


# ---------------------------------------------------------------- (c) preferences


def test_preferences_are_respected_but_escalations_are_not_optional(
    app, db_session, bureau, timeline
):
    staff, chief = bureau.user(Role.STAFF), bureau.user(Role.CHIEF)
    inspector = bureau.user(Role.INSPECTOR)
    now = at_nine(date(2026, 10, 1))
    reminders.update_preferences(
        db_session, user=staff, before_due=False, overdue=True, review_waiting=True, now=now
    )
    for user in (chief, inspector):
        reminders.update_preferences(
            db_session, user=user, before_due=False, overdue=False, review_waiting=False, now=now
        )
    db_session.commit()
    run(db_session, date(2026, 10, 12))  # A due in 1 WD, F 2 WD late: only F for the officer
    run(db_session, date(2026, 10, 14))  # B due today for the chief; F escalated to him
    written = outbox(db_session)
    a, f = timeline["A"].id, timeline["F"].id
    assert (f"user:{staff.id}", "2026-10-12", "digest", (f,)) in written
    assert not any(r == f"user:{staff.id}" and a in ids for r, _d, _k, ids in written)
    assert not any(r == f"user:{chief.id}" and k == "digest" for r, _d, k, _i in written)
    assert (f"user:{chief.id}", "2026-10-14", "escalation_chief", (f,)) in written
    assert not any(r == f"user:{inspector.id}" for r, *_rest in written)


def test_an_inactive_assignee_is_replaced_by_the_chief(app, db_session, bureau, timeline):
    staff, chief = bureau.user(Role.STAFF), bureau.user(Role.CHIEF)
    staff.active = False
    db_session.commit()
    run(db_session, date(2026, 10, 13))
    written = outbox(db_session)
    assert not any(r == f"user:{staff.id}" for r, *_rest in written)
    ids = {i for r, _d, k, ids in written if r == f"user:{chief.id}" and k == "digest" for i in ids}
    assert {timeline["A"].id, timeline["B"].id} <= ids


# ---------------------------------------------------------------- (d) content and language


def test_digest_content_in_chinese(app, db_session, bureau, timeline):
    staff = bureau.user(Role.STAFF)
    run(db_session, date(2026, 10, 12))
    msg = message(db_session, staff, "digest", date(2026, 10, 12))
    a, f = timeline["A"], timeline["F"]
    assert msg.channel == "email" and msg.locale == "zh_CN" and msg.address == staff.email
    assert msg.recipient_id == staff.id and msg.status == "pending"
    assert msg.item_ids == [f.id, a.id]  # overdue first
    html = page_of(msg.body_html)
    rows = [tr["data-item-id"] for tr in html.select("tr[data-item-id]")]
    assert rows == [str(f.id), str(a.id)]
    sections = [h["data-section"] for h in html.select("h3[data-section]")]
    assert sections == ["overdue", "due_soon"]
    with force_locale("zh_CN"):
        overdue, soon, returned, opened = (
            gettext("Overdue"),
            gettext("Due soon"),
            gettext("Returned"),
            gettext("Open"),
        )
    assert overdue == "逾期" and soon == "即将到期"
    base = app.config["TRACKER_BASE_URL"].rstrip("/")
    for body in (msg.body_text, msg.body_html):
        assert f"{base}/items/{a.id}" in body and f"{base}/items/{f.id}" in body
        assert f"{base}/account/notifications" in body
        assert "2026年10月9日" in body and "2026年10月13日" in body  # due dates
        assert returned in body and opened in body
        assert a.requirement.code in body and a.requirement.title_zh in body
        assert bureau.section.name in body
    text = msg.body_text
    assert text.index(overdue) < text.index(soon)
    assert text.index(f.requirement.code) < text.index(a.requirement.code)
    link = html.select_one("a[data-preferences-link]")
    assert link["href"] == f"{base}/account/notifications"
    assert msg.subject.startswith("[合规台账]")


def test_digest_content_in_english(app, db_session, bureau, timeline):
    staff = bureau.user(Role.STAFF)
    staff.locale = "en"
    db_session.commit()
    run(db_session, date(2026, 10, 12))
    msg = message(db_session, staff, "digest", date(2026, 10, 12))
    assert msg.locale == "en"
    assert msg.subject == "[Compliance Ledger] Reminder: 1 overdue, 1 due soon"
    text = msg.body_text
    assert "Overdue by 2 working days" in text and "(Due in 1 working day)" in text
    assert "Due date: 2026-10-13" in text and "Status: Returned" in text
    assert timeline["A"].requirement.title_en in text
    # Only data (people's names) may be Chinese in an English message.
    for body in (msg.body_text, page_of(msg.body_html).get_text(" ")):
        assert not CJK.search(body.replace(staff.name, "")), CJK.findall(body)


def test_markup_in_titles_and_names_is_escaped_in_html_and_kept_in_text(
    app, db_session, bureau, timeline
):
    chief, staff = bureau.user(Role.CHIEF), bureau.user(Role.STAFF)
    title = '<script>alert("x")</script> & <b>法制审核</b>'
    timeline["F"].requirement.title_zh = title  # F: the staff's, 4 working days late on 10-14
    staff.name = "<i>李四</i> & co"
    db_session.commit()
    run(db_session, date(2026, 10, 14))
    msg = message(db_session, chief, "escalation_chief", date(2026, 10, 14))
    assert title in msg.body_text and staff.name in msg.body_text
    assert "<script>" not in msg.body_html and "<i>李四" not in msg.body_html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in msg.body_html
    cells = [td.get_text() for td in page_of(msg.body_html).select("tr[data-item-id] td")]
    assert any(title in cell for cell in cells) and staff.name in cells


def test_escalation_lists_assignees(app, db_session, bureau, timeline):
    chief, staff = bureau.user(Role.CHIEF), bureau.user(Role.STAFF)
    chief.locale = "en"
    db_session.commit()
    run(db_session, date(2026, 10, 14))
    msg = message(db_session, chief, "escalation_chief", date(2026, 10, 14))
    assert msg.subject.endswith("1 item of your unit overdue more than 3 working days")
    assert f"Assigned to: {staff.name}" in msg.body_text
    assert "Overdue by 4 working days" in msg.body_text


def page_of(html: str):
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "html.parser")


# ---------------------------------------------------------------- (e) review waiting


def test_review_waiting_respects_exclusions(app, db_session, bureau, holidays):
    inspector = bureau.user(Role.INSPECTOR)
    second = make_user(db_session, unit=bureau.legal, role=Role.INSPECTOR)
    db_session.add(InspectorExclusion(inspector_id=second.id, unit_id=bureau.section.id))
    staff, other = bureau.user(Role.STAFF), bureau.users["other_chief"]
    in_section = make_item(db_session, unit=bureau.section, due_date=date(2026, 11, 30))
    in_station = make_item(db_session, unit=bureau.station, due_date=date(2026, 11, 30))
    recent = make_item(db_session, unit=bureau.station, due_date=date(2026, 11, 30))
    # Monday 11-02 09:00: 4 working days before Friday 11-06 -> waiting more than 3 then.
    submit(db_session, in_section, staff, datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    submit(db_session, in_station, other, datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    submit(db_session, recent, other, datetime(2026, 11, 3, 1, 0, tzinfo=UTC))
    db_session.commit()
    run(db_session, date(2026, 11, 5))  # 3 working days waited: not yet
    assert outbox(db_session) == set()
    run(db_session, date(2026, 11, 6))
    assert outbox(db_session) == {
        (f"user:{inspector.id}", "2026-11-06", "review_waiting", (in_section.id, in_station.id)),
        (f"user:{second.id}", "2026-11-06", "review_waiting", (in_station.id,)),
    }
    msg = message(db_session, inspector, "review_waiting", date(2026, 11, 6))
    assert "2026年11月2日" in msg.body_text  # the submission date


# ---------------------------------------------------------------- (f) DingTalk group digest


def test_unit_digest_for_a_unit_with_a_robot(app, db_session, bureau, timeline):
    bureau.section.dingtalk_webhook = "https://oapi.dingtalk.com/robot/send?access_token=t"
    bureau.section.dingtalk_secret = "SEC123"
    bureau.station.dingtalk_webhook = "   "  # blank: no robot
    db_session.commit()
    run(db_session, date(2026, 10, 12))
    groups = db_session.scalars(select(Notification).where(Notification.channel == "dingtalk"))
    (msg,) = list(groups)
    a, f = timeline["A"], timeline["F"]
    assert msg.kind == "unit_digest" and msg.recipient_key == f"unit:{bureau.section.id}"
    assert msg.unit_id == bureau.section.id and msg.recipient_id is None and msg.address is None
    assert msg.item_ids == [f.id, a.id] and msg.body_html is None and msg.locale == "zh_CN"
    body = msg.body_text
    assert body.startswith("### ") and "#### 逾期" in body and "#### 即将到期" in body
    base = app.config["TRACKER_BASE_URL"].rstrip("/")
    assert f"]({base}/items/{f.id})" in body and f"]({base}/items/{a.id})" in body
    assert body.index(f"/items/{f.id}") < body.index(f"/items/{a.id}")
    assert "2026年10月13日" in body
    # Same day again: nothing new on either channel.
    assert run(db_session, date(2026, 10, 12))["written"] == {}


# ---------------------------------------------------------------- (g) pages


def test_admin_edits_the_policy(app, db_session, bureau, admin_client):
    response = admin_client.get("/admin/reminders")
    assert response.status_code == 200
    form = page(response)
    assert form.find("input", {"name": "before_due_working_days"})["value"] == "7, 3, 1, 0"
    assert form.find("input", {"name": "escalate_leaders_after"})["value"] == "10"
    data = {
        "before_due_working_days": "5，2、0",
        "overdue_every_working_days": "1",
        "escalate_chief_after": "2",
        "escalate_leaders_after": "8",
        "review_waiting_after": "4",
    }
    response = post_form(admin_client, "/admin/reminders", data, follow_redirects=True)
    assert response.status_code == 200 and flashes(response)
    policy = reminders.get_policy(db_session)
    assert policy.before_due_working_days == [5, 2, 0]
    assert (policy.overdue_every_working_days, policy.escalate_chief_after) == (1, 2)
    assert (policy.escalate_leaders_after, policy.review_waiting_after) == (8, 4)
    assert policy.updated_by_id == bureau.user(Role.ADMIN).id
    event = db_session.scalar(
        select(AuditEvent).where(AuditEvent.action == "reminder_policy.updated")
    )
    assert event.actor_id == bureau.user(Role.ADMIN).id
    assert event.data["changed"]["before_due_working_days"] == [[7, 3, 1, 0], [5, 2, 0]]
    # Saving the same values again changes nothing and records nothing.
    post_form(admin_client, "/admin/reminders", data)
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "reminder_policy.updated")
        )
        == 1
    )


@pytest.mark.parametrize(
    ("field", "value", "message_en"),
    [
        ("before_due_working_days", "7, x", "Enter whole numbers separated by commas"),
        ("before_due_working_days", "31, 1", "Each day must be a whole number from 0 to 30."),
        ("before_due_working_days", "3, 3", "Each day may be given only once."),
        ("before_due_working_days", "", "Give at least one day"),
        ("overdue_every_working_days", "0", "Enter a whole number of working days from 1"),
        ("escalate_chief_after", "", "Enter a whole number of working days from 1"),
    ],
)
def test_policy_validation(app, db_session, bureau, admin_client, field, value, message_en):
    admin = bureau.user(Role.ADMIN)
    admin.locale = "en"
    db_session.commit()
    data = {
        "before_due_working_days": "7, 3, 1, 0",
        "overdue_every_working_days": "2",
        "escalate_chief_after": "3",
        "escalate_leaders_after": "10",
        "review_waiting_after": "3",
        field: value,
    }
    response = post_form(admin_client, "/admin/reminders", data)
    assert response.status_code == 400
    error = page(response).select_one(f"#{field}-error")
    assert error is not None and message_en in error.get_text()
    assert db_session.get(ReminderPolicy, 1) is None


def test_policy_validation_message_in_chinese(app, db_session, bureau, admin_client):
    data = {
        "before_due_working_days": "3, 3",
        "overdue_every_working_days": "2",
        "escalate_chief_after": "3",
        "escalate_leaders_after": "10",
        "review_waiting_after": "3",
    }
    response = post_form(admin_client, "/admin/reminders", data)
    assert response.status_code == 400
    with force_locale("zh_CN"):
        expected = gettext("Each day may be given only once.")
    assert expected in page(response).select_one("#before_due_working_days-error").get_text()


@pytest.mark.parametrize("role", [Role.LEADER, Role.INSPECTOR, Role.CHIEF, Role.STAFF])
def test_policy_page_is_for_admins_only(app, bureau, role):
    client = signed_in_client(app, bureau.user(role))
    assert client.get("/admin/reminders").status_code == 403
    response = post_form(client, "/admin/reminders", {}, form_url="/account/notifications")
    assert response.status_code == 403


def test_a_changed_policy_changes_the_pass(app, db_session, bureau, timeline):
    db_session.add(
        ReminderPolicy(
            id=1,
            before_due_working_days=[2],
            overdue_every_working_days=1,
            escalate_chief_after=3,
            escalate_leaders_after=10,
            review_waiting_after=3,
        )
    )
    db_session.commit()
    run(db_session, date(2026, 10, 13))
    staff = bureau.user(Role.STAFF)
    # A is due in 0 WD (no longer an offset); F is 3 WD late (every day now).
    assert (f"user:{staff.id}", "2026-10-13", "digest", (timeline["F"].id,)) in outbox(db_session)


def test_user_saves_notification_preferences(app, db_session, bureau, staff_client):
    staff = bureau.user(Role.STAFF)
    response = staff_client.get("/account/notifications")
    assert response.status_code == 200
    soup = page(response)
    assert soup.find("input", {"name": "before_due"}).has_attr("checked")
    assert soup.find("input", {"name": "review_waiting"}) is None  # not an inspector
    assert soup.select_one("#escalations-note") is not None
    # The user menu links to the page.
    assert soup.select_one('a.dropdown-item[href="/account/notifications"]') is not None
    response = post_form(
        staff_client, "/account/notifications", {"overdue": "y"}, follow_redirects=True
    )
    assert response.status_code == 200
    prefs = db_session.get(NotificationPreference, staff.id)
    assert (prefs.before_due, prefs.overdue, prefs.review_waiting) == (False, True, True)
    event = db_session.scalar(
        select(AuditEvent).where(AuditEvent.action == "notification_preferences.updated")
    )
    assert event.actor_id == staff.id and event.data["changed"] == {"before_due": [True, False]}


def test_inspector_can_turn_off_review_reminders(app, db_session, bureau, inspector_client):
    inspector = bureau.user(Role.INSPECTOR)
    response = post_form(
        inspector_client,
        "/account/notifications",
        {"before_due": "y", "overdue": "y"},
    )
    assert response.status_code == 303
    prefs = db_session.get(NotificationPreference, inspector.id)
    assert (prefs.before_due, prefs.overdue, prefs.review_waiting) == (True, True, False)


def test_preferences_page_needs_sign_in(client):
    response = client.get("/account/notifications")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ---------------------------------------------------------------- (h) bounded queries


def _bureau_items(db_session, bureau, n: int, start: int = 0) -> None:
    """n items reminded on 10-13 (due that day, or 13 WD late), across units and assignees."""
    staff = bureau.user(Role.STAFF)
    for k in range(start, start + n):
        unit = (bureau.section, bureau.station)[k % 2]
        due = date(2026, 10, 13) if k % 3 else date(2026, 9, 18)
        assignee = staff.id if unit is bureau.section and k % 4 == 0 else None
        item = make_item(
            db_session, unit=unit, due_date=due, assignee_id=assignee, scope_key=f"s{k}"
        )
        if k % 5 == 4:
            submit(db_session, item, staff, datetime(2026, 9, 29, 2, 0, tzinfo=UTC))
    db_session.commit()


def test_statement_count_of_the_pass_does_not_grow_with_items(app, db_session, bureau, holidays):
    counts = []
    for n in (5, 45):  # 5 items, then 50
        _bureau_items(db_session, bureau, n, start=len(counts) * 5)
        db_session.execute(Notification.__table__.delete())
        db_session.commit()
        with count_statements() as counter:
            result = reminders.run_reminder_pass(db_session, now=at_nine(date(2026, 10, 13)))
            db_session.flush()
        assert set(result["written"]) == {
            "digest",
            "escalation_chief",
            "escalation_leaders",
            "review_waiting",
        }
        # Reading: calendar (2), policy, users, preferences, robot units, items, waiting
        # submissions, exclusions, keys already written; then the messages in one INSERT.
        assert counter.count <= 11, counter.statements
        counts.append(sum(1 for s in counter.statements if s.lstrip().upper().startswith("SELECT")))
    # The same reads for 5 and 50 items, and one write whatever the number of messages.
    assert counts[0] == counts[1], counts


def test_reminder_pages_are_fully_english(app, db_session, bureau, admin_client):
    admin = bureau.user(Role.ADMIN)
    admin.locale = "en"
    db_session.commit()
    for url in ("/admin/reminders", "/account/notifications"):
        response = admin_client.get(url)
        assert response.status_code == 200
        text = visible_text(response)
        for user in bureau.users.values():
            text = text.replace(user.name, "")
        for unit in (bureau.root, bureau.legal, bureau.section, bureau.station):
            text = text.replace(unit.name, "")
        leftover = text.replace("中文", "")
        assert not CJK.search(leftover), (url, CJK.findall(leftover))


def test_long_sections_list_the_most_urgent_and_count_the_rest(
    app, db_session, bureau, timeline, monkeypatch
):
    # The cap is 50 lines per section; at 0 every line is "more", which the counts must show.
    monkeypatch.setattr(reminder_rendering, "MAX_ROWS_PER_SECTION", 0)
    staff = bureau.user(Role.STAFF)
    run(db_session, date(2026, 10, 12))
    msg = message(db_session, staff, "digest", date(2026, 10, 12))
    assert msg.item_ids == [timeline["F"].id, timeline["A"].id]  # every item stays recorded
    html = page_of(msg.body_html)
    assert html.select("tr[data-item-id]") == []
    assert [p["data-more"] for p in html.select("p[data-more]")] == ["1", "1"]
    assert all("(1)" in h.get_text() for h in html.select("h3[data-section]"))
    assert "/items/?status=overdue" in msg.body_text
