"""The personal iCalendar feed: valid iCalendar of the user's owed items; revocable; audited."""

from __future__ import annotations

from datetime import date

import pytest
from icalendar import Calendar
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.factories import make_item, make_requirement
from tests.helpers import page, post_form
from tracker.models import AuditEvent, CalendarFeed, ItemStatus

FEED = "/reports/feed"


@pytest.fixture
def items(db_session, bureau, clock):
    staff = bureau.user("staff")
    req = make_requirement(
        db_session, "GS-61", cadence="annual", owners=["SEC"], title_en="Publish"
    )
    other = make_requirement(db_session, "JL-61", family="recording", cadence="annual")
    made = {
        "mine_open": make_item(
            db_session,
            unit=bureau.section,
            requirement=req,
            assignee_id=staff.id,
            due_date=date(2026, 11, 20),
        ),
        "mine_returned": make_item(
            db_session,
            unit=bureau.section,
            requirement=other,
            assignee_id=staff.id,
            due_date=date(2026, 10, 1),
            status=ItemStatus.RETURNED,
        ),
        "mine_submitted": make_item(
            db_session,
            unit=bureau.section,
            requirement=req,
            period="2026-H2",
            assignee_id=staff.id,
            due_date=date(2026, 12, 1),
            status=ItemStatus.SUBMITTED,
        ),
        "mine_approved": make_item(
            db_session,
            unit=bureau.section,
            requirement=other,
            period="2026-H2",
            assignee_id=staff.id,
            due_date=date(2026, 12, 2),
            status=ItemStatus.APPROVED,
        ),
        "section_unassigned": make_item(
            db_session,
            unit=bureau.section,
            requirement=req,
            period="2026-Q4",
            due_date=date(2026, 12, 15),
        ),
        "station": make_item(
            db_session, unit=bureau.station, requirement=req, due_date=date(2026, 12, 16)
        ),
    }
    db_session.commit()
    return made


def create_feed(client) -> str:
    response = post_form(client, FEED, {"action": "create"})
    assert response.status_code == 200
    url_input = page(response).select_one("#feed-url")
    assert url_input is not None
    return url_input["value"]


def events(client, url: str):
    path = url.split("localhost", 1)[1]
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_feed_lists_the_users_open_items_with_their_due_dates(app, bureau, items, client):
    staff = signed_in_client(app, bureau.user("staff"))
    url = create_feed(staff)
    assert "/reports/feed/" in url and url.endswith(".ics")
    found = events(client, url)  # an anonymous calendar app
    expected = {items["mine_open"], items["mine_returned"]}
    assert set(found) == {f"checklist-item-{i.id}@hegui-taizhang" for i in expected}
    for item in expected:
        event = found[f"checklist-item-{item.id}@hegui-taizhang"]
        assert event.decoded("dtstart") == item.due_date  # an all-day event on the due date
        assert str(event["summary"]).startswith(item.requirement.code + " ")
        assert str(event["summary"]).endswith(item.requirement.title_zh)
        assert str(event["url"]).endswith(f"/items/{item.id}")
    # Fetched again: the same UIDs (calendar apps update rather than duplicate).
    assert set(events(client, url)) == set(found)


def test_feed_uses_the_users_language(app, bureau, items, client, db_session):
    staff = bureau.user("staff")
    staff.locale = "en"
    db_session.commit()
    url = create_feed(signed_in_client(app, staff))
    found = events(client, url)
    summary = str(found[f"checklist-item-{items['mine_open'].id}@hegui-taizhang"]["summary"])
    assert summary == "GS-61 Publish"


def test_a_chief_sees_his_units_owed_items(app, bureau, items, client):
    url = create_feed(signed_in_client(app, bureau.user("chief")))
    found = events(client, url)
    ids = {int(uid.split("-")[2].split("@")[0]) for uid in found}
    assert ids == {
        items["mine_open"].id,
        items["mine_returned"].id,
        items["section_unassigned"].id,
    }


def test_the_url_is_shown_once_and_only_its_hash_is_stored(app, bureau, items, db_session):
    staff = signed_in_client(app, bureau.user("staff"))
    url = create_feed(staff)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    again = page(staff.get(FEED))
    assert again.select_one("#feed-url") is None
    assert token not in str(again)
    feed = db_session.scalar(select(CalendarFeed))
    assert feed.token_hash != token and len(feed.token_hash) == 64


def test_revoked_replaced_and_unknown_feeds_are_404(app, bureau, items, client, db_session):
    staff = signed_in_client(app, bureau.user("staff"))
    first = create_feed(staff)
    second = create_feed(staff)  # replaces the first
    assert client.get(first.split("localhost", 1)[1]).status_code == 404
    assert client.get(second.split("localhost", 1)[1]).status_code == 200
    response = post_form(staff, FEED, {"action": "revoke"}, follow_redirects=True)
    assert response.status_code == 200
    assert client.get(second.split("localhost", 1)[1]).status_code == 404
    assert client.get("/reports/feed/not-a-token.ics").status_code == 404
    actions = [
        e.action
        for e in db_session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "calendar_feed")
            .order_by(AuditEvent.seq)
        )
    ]
    assert actions == [
        "calendar_feed.created",
        "calendar_feed.revoked",
        "calendar_feed.created",
        "calendar_feed.revoked",
    ]


def test_a_deactivated_users_feed_is_404(app, bureau, items, client, db_session):
    staff = bureau.user("staff")
    url = create_feed(signed_in_client(app, staff))
    staff.active = False
    db_session.commit()
    assert client.get(url.split("localhost", 1)[1]).status_code == 404


def test_feed_settings_need_sign_in_and_csrf(app, bureau, client):
    assert client.get(FEED).status_code == 302
    staff = signed_in_client(app, bureau.user("staff"))
    assert staff.post(FEED, data={"action": "create"}).status_code == 400
    assert page(staff.get(FEED)).select_one("#feed-status") is not None
