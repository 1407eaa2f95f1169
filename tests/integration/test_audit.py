"""The audit chain: every change is recorded; an edited or deleted row is named exactly."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from tests.factories import T0, make_unit
from tracker.models import AuditEvent
from tracker.services import audit


def _append(db_session, n: int) -> list[AuditEvent]:
    return [
        audit.record(
            db_session,
            actor=None,
            action="test.event",
            object_type="test",
            object_id=i,
            data={"i": i, "text": "中文"},
            at=T0,
        )
        for i in range(n)
    ]


def test_clean_chain_verifies(db_session, bureau):
    _append(db_session, 5)
    db_session.commit()
    assert audit.verify_chain(db_session) == []


def test_edited_row_is_reported_exactly(db_session, bureau):
    events = _append(db_session, 6)
    db_session.commit()
    target = events[3]
    db_session.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(data={"i": 999}))
    db_session.expire_all()
    problems = audit.verify_chain(db_session)
    assert [(p.kind, p.event_id) for p in problems] == [("altered", target.id)]
    assert f"id={target.id}" in problems[0].describe()


def test_edited_row_with_recomputed_hash_breaks_the_next_link(db_session, bureau):
    events = _append(db_session, 4)
    db_session.commit()
    target, following = events[1], events[2]
    target.actor_label = "someone-else"
    target.hash = audit.event_hash(target)  # a forger who recomputes the row's own hash
    db_session.commit()
    problems = audit.verify_chain(db_session)
    assert [(p.kind, p.event_id) for p in problems] == [("broken_link", following.id)]


def test_deleted_row_is_reported(db_session, bureau):
    events = _append(db_session, 5)
    db_session.commit()
    gone = events[2]
    db_session.execute(delete(AuditEvent).where(AuditEvent.id == gone.id))
    db_session.expire_all()
    problems = audit.verify_chain(db_session)
    assert [(p.kind, p.seq) for p in problems] == [("missing", gone.seq + 1)]
    assert f"rows {gone.seq}..{gone.seq}" in problems[0].found


def test_deleted_last_row_is_reported_against_the_head(db_session, bureau):
    events = _append(db_session, 3)
    db_session.commit()
    db_session.execute(delete(AuditEvent).where(AuditEvent.id == events[-1].id))
    db_session.expire_all()
    assert [p.kind for p in audit.verify_chain(db_session)] == ["head_mismatch"]


def test_unit_and_user_changes_are_audited(db_session, bureau):
    make_unit(db_session, parent=bureau.root, code="NEWU")
    db_session.commit()
    actions = set(db_session.scalars(select(AuditEvent.action)))
    assert {"unit.created", "user.created"} <= actions


def test_chain_sequence_is_gapless_after_a_rollback(db_session, bureau):
    before = db_session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    nested = db_session.begin_nested()
    _append(db_session, 2)
    nested.rollback()
    _append(db_session, 1)
    db_session.commit()
    last = db_session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    assert last == before + 1
    assert audit.verify_chain(db_session) == []
