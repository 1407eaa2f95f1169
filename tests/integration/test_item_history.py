"""An item's history gathers the events of the item and of its evidence, newest first."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import T0, make_item
from tests.helpers import page
from tracker.services import assignment, evidence, submissions


def test_history_shows_assignment_evidence_and_submission(chief_client, db_session, bureau, clock):
    chief = bureau.user("chief")
    item = make_item(db_session, unit=bureau.section)
    other = make_item(db_session, unit=bureau.section)
    assignment.assign(db_session, actor=chief, item=item, assignee=bureau.user("staff"), now=T0)
    link = evidence.add_link(
        db_session,
        actor=chief,
        item=item,
        url="https://gsxt.example.org/notice/1",
        title="公示页面",
        now=T0 + timedelta(minutes=1),
    )
    evidence.add_link(  # on another item: not in this item's history
        db_session, actor=chief, item=other, url="https://example.org/o", title="o", now=T0
    )
    evidence.withdraw(db_session, actor=chief, evidence=link, now=T0 + timedelta(minutes=2))
    evidence.add_link(
        db_session, actor=chief, item=item, url="https://example.org/2", title="2", now=T0
    )
    submissions.submit(db_session, actor=chief, item=item, now=T0 + timedelta(minutes=3))
    db_session.commit()

    entries = page(chief_client.get(f"/items/{item.id}")).select("#history li")
    actions = [li["data-action"] for li in entries]
    assert actions == [
        "item.submitted",
        "evidence.added",
        "evidence.withdrawn",
        "evidence.added",
        "item.assigned",
    ]
    labels = [li.select_one("[data-label]").get_text() for li in entries]
    assert labels[1] == "上传佐证"
