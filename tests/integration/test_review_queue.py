"""The review queue: oldest submission first, filters, exclusions, the nav count, next item."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import make_item, make_requirement, seed_official_holidays
from tests.helpers import count_statements, page, post_form
from tests.integration.test_submissions import add_evidence
from tracker.models import InspectorExclusion, ItemStatus
from tracker.services import submissions


def submit_at(session, item, user, when: datetime) -> None:
    add_evidence(session, item, user)
    submissions.submit(session, actor=user, item=item, now=when)


@pytest.fixture
def waiting(db_session, bureau, clock):
    """Three submitted items: station (oldest), section, section (newest); one open item."""
    seed_official_holidays(db_session)
    clock.freeze(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    recording = make_requirement(db_session, "JL-98", family="recording", cadence="annual")
    station = make_item(db_session, unit=bureau.station)
    section_a = make_item(db_session, unit=bureau.section, requirement=recording)
    section_b = make_item(db_session, unit=bureau.section)
    make_item(db_session, unit=bureau.section)  # open: not in the queue
    submit_at(
        db_session, station, bureau.users["other_chief"], datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    )
    submit_at(db_session, section_a, bureau.user("chief"), datetime(2026, 11, 16, 2, 0, tzinfo=UTC))
    submit_at(db_session, section_b, bureau.user("chief"), datetime(2026, 11, 19, 2, 0, tzinfo=UTC))
    db_session.commit()
    return {"station": station, "section_a": section_a, "section_b": section_b}


def queue_ids(response) -> list[int]:
    return [int(row["data-item"]) for row in page(response).select("#queue tbody tr")]


def test_oldest_first_with_waiting_days_and_the_nav_count(inspector_client, waiting):
    response = inspector_client.get("/review/")
    ids = [waiting[k].id for k in ("station", "section_a", "section_b")]
    assert queue_ids(response) == ids
    waited = [row.select("td")[-1].get_text() for row in page(response).select("#queue tbody tr")]
    assert waited == ["14", "4", "1"]  # working days from the submission day to 2026-11-20
    assert page(response).select_one("#review-waiting").get_text() == "3"


def test_filters(inspector_client, bureau, waiting):
    def ids(query: str) -> set[int]:
        return set(queue_ids(inspector_client.get(f"/review/?{query}")))

    assert ids(f"unit={bureau.station.id}") == {waiting["station"].id}
    assert ids("family=recording") == {waiting["section_a"].id}
    assert ids("waiting=3") == {waiting["station"].id, waiting["section_a"].id}
    assert ids("waiting=10") == {waiting["station"].id}
    assert ids("period=2025") == set()
    assert ids("waiting=-1&family=bogus") == {w.id for w in waiting.values()}


def test_excluded_units_leave_the_queue(inspector_client, db_session, bureau, waiting):
    db_session.add(
        InspectorExclusion(inspector_id=bureau.user("inspector").id, unit_id=bureau.section.id)
    )
    db_session.commit()
    response = inspector_client.get("/review/")
    assert queue_ids(response) == [waiting["station"].id]
    assert page(response).select_one("#review-waiting").get_text() == "1"


def test_after_a_decision_the_next_item_opens(inspector_client, db_session, waiting):
    first, second, third = (waiting[k] for k in ("station", "section_a", "section_b"))
    response = post_form(
        inspector_client,
        f"/items/{first.id}/review",
        {"decision": "approve", "comment": ""},
        form_url=f"/items/{first.id}",
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/items/{second.id}")
    db_session.expire_all()
    assert first.status == ItemStatus.APPROVED
    for item in (second, third):
        response = post_form(
            inspector_client,
            f"/items/{item.id}/review",
            {"decision": "return", "comment": "缺少签字页"},
            form_url=f"/items/{item.id}",
        )
    assert response.headers["Location"].endswith("/review/")
    assert not page(inspector_client.get("/review/")).select("#review-waiting")


def test_only_reviewers_see_it(chief_client, leader_client, staff_client, admin_client, waiting):
    for client in (chief_client, leader_client, staff_client):
        assert client.get("/review/").status_code == 403
    assert admin_client.get("/review/").status_code == 200


def test_the_queue_costs_a_fixed_number_of_statements(
    inspector_client, db_session, bureau, waiting
):
    def cost() -> int:
        inspector_client.get("/review/")
        with count_statements() as counter:
            assert inspector_client.get("/review/").status_code == 200
        return counter.count

    small = cost()
    for n in range(30):
        item = make_item(db_session, unit=bureau.station, scope_key=f"q{n}")
        submit_at(
            db_session, item, bureau.users["other_chief"], datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
        )
    db_session.commit()
    assert cost() == small


def test_the_unfiltered_queue_counts_its_items_once(inspector_client, waiting):
    """The menu's waiting count is the unfiltered queue's total: one count for both."""
    with count_statements() as counter:
        body = page(inspector_client.get("/review/"))
    counts = [s for s in counter.statements if "count(" in s.lower()]
    assert len(counts) == 1
    waiting_badge = body.select_one("#review-waiting")
    assert waiting_badge is not None and waiting_badge.get_text(strip=True) == str(len(waiting))
    with count_statements() as counter:
        page(inspector_client.get("/review/?family=publicity"))
    assert len([s for s in counter.statements if "count(" in s.lower()]) == 2
