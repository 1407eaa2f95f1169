"""Reopening approved items, and inspectors excluded from reviewing a unit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import T0, make_item
from tests.integration.test_submissions import add_evidence
from tracker.models import AuditEvent, InspectorExclusion, ItemStatus, Review, ReviewDecision
from tracker.services import reviews, submissions
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed


@pytest.fixture
def submitted(db_session, bureau):
    item = make_item(db_session, unit=bureau.section)
    add_evidence(db_session, item, bureau.user("chief"))
    submissions.submit(db_session, actor=bureau.user("chief"), item=item, now=T0)
    db_session.commit()
    return item


def test_reopen_an_approved_item_with_a_reason(db_session, bureau, submitted):
    inspector = bureau.user("inspector")
    with pytest.raises(InvalidTransition):
        reviews.reopen(db_session, actor=inspector, item=submitted, reason="x", now=T0)
    reviews.decide(db_session, actor=inspector, item=submitted, decision="approve", now=T0)
    with pytest.raises(ValidationFailed):
        reviews.reopen(db_session, actor=inspector, item=submitted, reason="  ", now=T0)
    with pytest.raises(PermissionDenied):
        reviews.reopen(db_session, actor=bureau.user("chief"), item=submitted, reason="x", now=T0)
    reviews.reopen(
        db_session, actor=bureau.user("admin"), item=submitted, reason="照片不清", now=T0
    )
    assert submitted.status == ItemStatus.RETURNED
    decisions = db_session.scalars(
        select(Review.decision).where(Review.item_id == submitted.id).order_by(Review.id)
    ).all()
    assert decisions == [ReviewDecision.APPROVE, ReviewDecision.REOPEN]
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "item.reopened"))
    assert event.data["reason"] == "照片不清" and event.object_id == str(submitted.id)
    # The unit can submit again: round 2.
    assert (
        submissions.submit(db_session, actor=bureau.user("chief"), item=submitted, now=T0).round
        == 2
    )


def test_an_excluded_inspector_cannot_review_that_unit(db_session, bureau, submitted):
    inspector = bureau.user("inspector")
    db_session.add(InspectorExclusion(inspector_id=inspector.id, unit_id=bureau.section.id))
    db_session.flush()
    assert reviews.duty_conflict(db_session, actor=inspector, item=submitted) is not None
    with pytest.raises(PermissionDenied):
        reviews.decide(db_session, actor=inspector, item=submitted, decision="approve", now=T0)
    assert submitted.status == ItemStatus.SUBMITTED
    # The admin, not excluded, may.
    reviews.decide(
        db_session, actor=bureau.user("admin"), item=submitted, decision="approve", now=T0
    )
    assert submitted.status == ItemStatus.APPROVED
