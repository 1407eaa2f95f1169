"""The item workflow at service level: submit, review (approve / return), resubmit, comments."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.factories import T0, make_item, make_requirement, make_user
from tracker.models import (
    AuditEvent,
    Blob,
    ChecklistItem,
    Comment,
    Evidence,
    EvidenceKind,
    ItemStatus,
    Review,
    ReviewDecision,
    Role,
    Submission,
)
from tracker.services import comments, reviews, submissions
from tracker.services.audit import verify_chain
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed

LATER = T0 + timedelta(hours=1)


def add_evidence(
    session,
    item: ChecklistItem,
    user,
    *,
    occurred_on: date | None = None,
    sha256: str | None = None,
    withdrawn: bool = False,
) -> Evidence:
    """Evidence inserted directly (the upload service is not under test here)."""
    if sha256 is not None:
        if session.get(Blob, sha256) is None:
            session.add(Blob(sha256=sha256, size=3, content_type="text/plain"))
        evidence = Evidence(
            kind=EvidenceKind.FILE,
            blob_sha256=sha256,
            original_filename="x.txt",
            safe_filename="x.txt",
            content_type="text/plain",
            size=3,
        )
    else:
        evidence = Evidence(kind=EvidenceKind.LINK, url="https://example.org/x", title="x")
    evidence.item_id = item.id
    evidence.uploaded_by_id = user.id
    evidence.uploaded_at = T0
    evidence.occurred_on = occurred_on
    if withdrawn:
        evidence.withdrawn_at = T0
        evidence.withdrawn_by_id = user.id
    session.add(evidence)
    session.flush()
    return evidence


def events(session, item: ChecklistItem, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "checklist_item",
                AuditEvent.object_id == str(item.id),
                AuditEvent.action == action,
            )
            .order_by(AuditEvent.seq)
        )
    )


@pytest.fixture
def staff(bureau):
    return bureau.user(Role.STAFF)


@pytest.fixture
def inspector(bureau):
    return bureau.user(Role.INSPECTOR)


@pytest.fixture
def item(db_session, bureau, staff):
    return make_item(db_session, unit=bureau.section, assignee_id=staff.id)


# ---------------------------------------------------------------- evidence rules


def test_a_task_without_evidence_cannot_be_submitted(db_session, item, staff):
    add_evidence(db_session, item, staff, withdrawn=True)  # withdrawn evidence does not count
    with pytest.raises(ValidationFailed) as refused:
        submissions.submit(db_session, actor=staff, item=item, now=T0)
    assert refused.value.field == "evidence"
    assert "至少上传一份佐证材料" in str(refused.value.message)
    assert item.status == ItemStatus.OPEN
    assert db_session.scalar(select(Submission).where(Submission.item_id == item.id)) is None


def test_a_count_item_needs_its_occurrences_on_distinct_dates(db_session, bureau, staff):
    requirement = make_requirement(
        db_session, "CT-01", cadence="annual", kind="count", target_count=2, owners=["SEC"]
    )
    item = make_item(db_session, unit=bureau.section, requirement=requirement, assignee_id=staff.id)
    add_evidence(db_session, item, staff, occurred_on=date(2026, 3, 1))
    add_evidence(db_session, item, staff, occurred_on=date(2026, 3, 1))  # the same occurrence
    add_evidence(db_session, item, staff, occurred_on=date(2026, 4, 1), withdrawn=True)
    with pytest.raises(ValidationFailed) as refused:
        submissions.submit(db_session, actor=staff, item=item, now=T0)
    assert "需要2次" in str(refused.value.message)
    assert "目前仅有1次" in str(refused.value.message)
    assert item.status == ItemStatus.OPEN

    add_evidence(db_session, item, staff, occurred_on=date(2026, 5, 1))
    submission = submissions.submit(db_session, actor=staff, item=item, now=T0)
    assert submission.value == Decimal(2) and submission.evidence_count == 3
    assert item.status == ItemStatus.SUBMITTED


def test_an_indicator_needs_its_value(db_session, bureau, staff):
    requirement = make_requirement(
        db_session,
        "IN-01",
        cadence="annual",
        kind="indicator",
        target_value=95,
        target_op=">=",
        target_unit="%",
        owners=["SEC"],
    )
    item = make_item(db_session, unit=bureau.section, requirement=requirement, assignee_id=staff.id)
    with pytest.raises(ValidationFailed) as refused:
        submissions.submit(db_session, actor=staff, item=item, now=T0)
    assert refused.value.field == "value"
    assert "实测值" in str(refused.value.message)

    item.value = Decimal("97.5")
    submission = submissions.submit(db_session, actor=staff, item=item, now=T0)
    assert submission.value == Decimal("97.5") and submission.round == 1


def test_submission_freezes_the_evidence_and_is_audited(db_session, item, staff):
    files = [add_evidence(db_session, item, staff, sha256=c * 64) for c in "ab"]
    link = add_evidence(db_session, item, staff)
    withdrawn = add_evidence(db_session, item, staff, withdrawn=True)
    submission = submissions.submit(db_session, actor=staff, item=item, note=" please ", now=T0)

    assert (submission.round, submission.evidence_count, submission.note) == (1, 3, "please")
    assert submission.submitted_by_id == staff.id
    db_session.expire_all()
    assert [e.submitted_round for e in (*files, link)] == [1, 1, 1]
    assert withdrawn.submitted_round is None
    (event,) = events(db_session, item, "item.submitted")
    assert event.actor_id == staff.id and event.occurred_at == T0
    assert event.data["round"] == 1
    assert event.data["sha256"] == ["a" * 64, "b" * 64]
    assert event.data["evidence_ids"] == [files[0].id, files[1].id, link.id]
    assert not verify_chain(db_session)


# ---------------------------------------------------------------- the cycle


def test_submit_return_resubmit_approve(db_session, item, staff, inspector):
    first = add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=T0)

    with pytest.raises(InvalidTransition):  # already waiting for review
        submissions.submit(db_session, actor=staff, item=item, now=T0)
    for empty in (None, "", "   "):
        with pytest.raises(ValidationFailed) as refused:
            reviews.decide(
                db_session, actor=inspector, item=item, decision="return", comment=empty, now=T0
            )
        assert refused.value.field == "comment"
    assert item.status == ItemStatus.SUBMITTED

    returned = reviews.decide(
        db_session,
        actor=inspector,
        item=item,
        decision=ReviewDecision.RETURN,
        comment="缺少公示截图",
        now=LATER,
    )
    assert item.status == ItemStatus.RETURNED
    assert returned.decision == ReviewDecision.RETURN and returned.comment == "缺少公示截图"
    (event,) = events(db_session, item, "item.returned")
    assert event.data["round"] == 1 and event.data["reason"] == "缺少公示截图"

    second = add_evidence(db_session, item, staff)
    resubmitted = submissions.submit(db_session, actor=staff, item=item, now=LATER)
    assert resubmitted.round == 2 and resubmitted.evidence_count == 2
    db_session.expire_all()
    assert (first.submitted_round, second.submitted_round) == (1, 2)

    approved = reviews.decide(
        db_session, actor=inspector, item=item, decision="approve", comment=None, now=LATER
    )
    assert item.status == ItemStatus.APPROVED
    assert approved.submission_id == resubmitted.id
    assert returned.submission_id != resubmitted.id
    (event,) = events(db_session, item, "item.approved")
    assert event.data["round"] == 2
    assert [e.data["round"] for e in events(db_session, item, "item.submitted")] == [1, 2]

    with pytest.raises(InvalidTransition):
        submissions.submit(db_session, actor=staff, item=item, now=LATER)
    with pytest.raises(InvalidTransition):
        reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=LATER)
    assert not verify_chain(db_session)


def test_only_a_submitted_item_is_reviewed_and_only_approve_or_return(
    db_session, item, staff, inspector
):
    with pytest.raises(InvalidTransition):
        reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=T0)
    add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=T0)
    for decision in ("reopen", "maybe", ""):
        with pytest.raises(ValidationFailed):
            reviews.decide(db_session, actor=inspector, item=item, decision=decision, now=T0)
    assert item.status == ItemStatus.SUBMITTED
    assert db_session.scalar(select(Review).where(Review.item_id == item.id)) is None


# ---------------------------------------------------------------- separation of duties


def test_an_inspector_who_uploaded_evidence_cannot_review(
    db_session, bureau, item, staff, inspector
):
    add_evidence(db_session, item, inspector, withdrawn=True)  # even withdrawn evidence counts
    add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=T0)
    with pytest.raises(PermissionDenied) as refused:
        reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=T0)
    assert "上传过佐证材料" in str(refused.value.message)
    assert item.status == ItemStatus.SUBMITTED

    colleague = make_user(db_session, unit=bureau.legal, role=Role.INSPECTOR)
    reviews.decide(db_session, actor=colleague, item=item, decision="approve", now=T0)
    assert item.status == ItemStatus.APPROVED


def test_whoever_submitted_any_round_cannot_review(db_session, bureau, item, staff):
    admin = bureau.user(Role.ADMIN)  # admins may both work and review items
    inspector = bureau.user(Role.INSPECTOR)
    add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=admin, item=item, now=T0)
    reviews.decide(
        db_session, actor=inspector, item=item, decision="return", comment="再补", now=T0
    )
    submissions.submit(db_session, actor=staff, item=item, now=T0)  # round 2 by someone else
    with pytest.raises(PermissionDenied) as refused:
        reviews.decide(db_session, actor=admin, item=item, decision="approve", now=T0)
    assert "此事项由您提交" in str(refused.value.message)
    reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=T0)


# ---------------------------------------------------------------- who may act


def test_who_may_submit_and_review(db_session, bureau, item, staff):
    add_evidence(db_session, item, staff)
    others = make_user(db_session, unit=bureau.section, role=Role.STAFF)
    for actor in (
        others,  # staff not assigned to the item
        bureau.user(Role.LEADER),
        bureau.user(Role.INSPECTOR),
        bureau.users["other_chief"],
    ):
        with pytest.raises(PermissionDenied):
            submissions.submit(db_session, actor=actor, item=item, now=T0)
    assert item.status == ItemStatus.OPEN

    submissions.submit(db_session, actor=bureau.user(Role.CHIEF), item=item, now=T0)
    for actor in (bureau.user(Role.LEADER), bureau.user(Role.CHIEF), staff):
        with pytest.raises(PermissionDenied):
            reviews.decide(db_session, actor=actor, item=item, decision="approve", now=T0)
    assert item.status == ItemStatus.SUBMITTED


# ---------------------------------------------------------------- comments


def test_comments(db_session, bureau, item, staff):
    comment = comments.add_comment(db_session, actor=staff, item=item, body="  已上传  ", now=T0)
    assert comment.body == "已上传" and comment.author_id == staff.id
    leader = comments.add_comment(
        db_session, actor=bureau.user(Role.LEADER), item=item, body="请抓紧", now=T0
    )
    assert leader.id != comment.id
    (event, _second) = events(db_session, item, "item.commented")
    assert event.data == {"comment_id": comment.id, "body": "已上传"}

    for body in ("", "   ", "长" * 2001):
        with pytest.raises(ValidationFailed) as refused:
            comments.add_comment(db_session, actor=staff, item=item, body=body, now=T0)
        assert refused.value.field == "body"
    assert comments.add_comment(db_session, actor=staff, item=item, body="长" * 2000, now=T0)

    with pytest.raises(PermissionDenied):  # the station's chief does not see the section
        comments.add_comment(
            db_session, actor=bureau.users["other_chief"], item=item, body="x", now=T0
        )
    staff.active = False
    with pytest.raises(PermissionDenied):
        comments.add_comment(db_session, actor=staff, item=item, body="x", now=T0)
    assert len(db_session.scalars(select(Comment).where(Comment.item_id == item.id)).all()) == 3
