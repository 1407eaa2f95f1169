"""'On time' reads the approved round's submission time kept on the item (migration 0011)."""

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


def test_approval_keeps_its_round_time_and_reopening_clears_it(db_session, bureau):
    seed_official_holidays(db_session)
    item = make_item(db_session, unit=bureau.section, period="2026")
    chief, inspector = bureau.user("chief"), bureau.user("inspector")
    before_due = datetime.combine(item.due_date, datetime.min.time(), tzinfo=UTC)
    after_due = datetime(item.due_date.year + 1, 2, 1, 2, tzinfo=UTC)

    add_evidence(db_session, item, chief)
    first = submissions.submit(db_session, actor=chief, item=item, now=before_due)
    assert item.approved_round_submitted_at is None
    reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=before_due)
    assert item.approved_round_submitted_at == first.submitted_at
    assert on_time_count(db_session, item) == 1

    reviews.reopen(db_session, actor=inspector, item=item, reason="补充材料", now=after_due)
    assert item.approved_round_submitted_at is None
    assert on_time_count(db_session, item) == 0

    # Approved again, on a round sent after the deadline: approved, but late.
    second = submissions.submit(db_session, actor=chief, item=item, now=after_due)
    reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=after_due)
    assert item.approved_round_submitted_at == second.submitted_at
    assert on_time_count(db_session, item) == 0


def test_a_returned_round_is_not_kept(db_session, bureau):
    seed_official_holidays(db_session)
    item = make_item(db_session, unit=bureau.section, period="2026")
    chief, inspector = bureau.user("chief"), bureau.user("inspector")
    at = datetime.combine(item.due_date, datetime.min.time(), tzinfo=UTC)
    add_evidence(db_session, item, chief)
    submissions.submit(db_session, actor=chief, item=item, now=at)
    reviews.decide(
        db_session, actor=inspector, item=item, decision="return", comment="缺少签字页", now=at
    )
    assert item.approved_round_submitted_at is None
    assert on_time_count(db_session, item) == 0
