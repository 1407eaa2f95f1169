"""The latest round's time is kept on the item by the submit service (migration 0011): the review
queue orders by it and "on time" compares it with the due date."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from tests.factories import make_item, seed_official_holidays
from tests.integration.test_submissions import add_evidence
from tracker.models import ChecklistItem
from tracker.services import reviews, submissions
from tracker.services.ledger import on_time_condition


def on_time_count(session, item) -> int:
    return session.scalar(
        select(func.count())
        .select_from(ChecklistItem)
        .where(ChecklistItem.id == item.id, on_time_condition("Asia/Shanghai"))
    )


def test_each_round_keeps_its_time_and_on_time_reads_the_approved_one(db_session, bureau):
    seed_official_holidays(db_session)
    item = make_item(db_session, unit=bureau.section, period="2026")
    chief, inspector = bureau.user("chief"), bureau.user("inspector")
    before_due = datetime.combine(item.due_date, datetime.min.time(), tzinfo=UTC)
    after_due = datetime(item.due_date.year + 1, 2, 1, 2, tzinfo=UTC)
    assert item.last_submitted_at is None

    add_evidence(db_session, item, chief)
    first = submissions.submit(db_session, actor=chief, item=item, now=before_due)
    assert item.last_submitted_at == first.submitted_at
    assert on_time_count(db_session, item) == 0  # submitted, not approved yet
    reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=before_due)
    assert on_time_count(db_session, item) == 1

    reviews.reopen(db_session, actor=inspector, item=item, reason="补充材料", now=after_due)
    assert on_time_count(db_session, item) == 0

    # Approved again, on a round sent after the deadline: approved, but late.
    second = submissions.submit(db_session, actor=chief, item=item, now=after_due)
    assert item.last_submitted_at == second.submitted_at
    reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=after_due)
    assert on_time_count(db_session, item) == 0


def test_a_returned_round_is_not_on_time(db_session, bureau):
    seed_official_holidays(db_session)
    item = make_item(db_session, unit=bureau.section, period="2026")
    chief, inspector = bureau.user("chief"), bureau.user("inspector")
    at = datetime.combine(item.due_date, datetime.min.time(), tzinfo=UTC)
    add_evidence(db_session, item, chief)
    submissions.submit(db_session, actor=chief, item=item, now=at)
    reviews.decide(
        db_session, actor=inspector, item=item, decision="return", comment="缺少签字页", now=at
    )
    assert item.last_submitted_at is not None
    assert on_time_count(db_session, item) == 0
