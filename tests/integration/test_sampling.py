"""Random-sample re-audits: the same seed and filters draw the same sample; the draw is recorded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.factories import T0, make_item, make_requirement
from tracker.models import (
    AuditEvent,
    AuditSampleItem,
    ItemStatus,
    Review,
    ReviewDecision,
    SampleResult,
    Submission,
)
from tracker.services import sampling
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed


@pytest.fixture
def approved(db_session, bureau):
    """40 approved items: 30 of the section (publicity), 10 of the station (recording)."""
    items = []
    publicity = make_requirement(db_session, "GS-95", cadence="quarterly", owners=["SEC", "STA"])
    recording = make_requirement(
        db_session, "JL-95", family="recording", cadence="monthly", owners=["STA"]
    )
    for n in range(30):
        items.append(
            make_item(
                db_session,
                unit=bureau.section,
                requirement=publicity,
                period=f"2026-Q{n % 4 + 1}",
                status=ItemStatus.APPROVED,
                scope_key=f"k{n}",  # many items per quarter, as many units would have
            )
        )
    for n in range(10):
        items.append(
            make_item(
                db_session,
                unit=bureau.station,
                requirement=recording,
                period=f"2026-{n + 1:02d}",
                status=ItemStatus.APPROVED,
            )
        )
    make_item(db_session, unit=bureau.section, requirement=publicity, period="2025-Q1")  # open
    db_session.commit()
    return items


def sample_ids(session, sample) -> list[int]:
    return list(
        session.scalars(
            select(AuditSampleItem.item_id)
            .where(AuditSampleItem.sample_id == sample.id)
            .order_by(AuditSampleItem.position)
        )
    )


def test_same_seed_and_filters_draw_the_same_sample(db_session, bureau, approved):
    inspector = bureau.user("inspector")
    first = sampling.draw_sample(db_session, actor=inspector, now=T0, size=8, seed="2026-双随机-1")
    second = sampling.draw_sample(db_session, actor=inspector, now=T0, size=8, seed="2026-双随机-1")
    assert sample_ids(db_session, first) == sample_ids(db_session, second)
    assert len(set(sample_ids(db_session, first))) == 8
    assert first.population == 40 and first.population_hash == second.population_hash
    other = sampling.draw_sample(db_session, actor=inspector, now=T0, size=8, seed="another seed")
    assert sample_ids(db_session, other) != sample_ids(db_session, first)
    # The recorded sample redraws to itself while the population is unchanged.
    assert sampling.redraw(db_session, first) == (sample_ids(db_session, first), True)


def test_filters_and_percentage(db_session, bureau, approved):
    inspector = bureau.user("inspector")
    station = sampling.draw_sample(
        db_session, actor=inspector, now=T0, percent=Decimal("25"), unit_id=bureau.station.id
    )
    ids = sample_ids(db_session, station)
    assert len(ids) == 3  # ceil(10 × 25 %)
    station_ids = {i.id for i in approved if i.unit_id == bureau.station.id}
    assert set(ids) <= station_ids
    recording = sampling.draw_sample(
        db_session, actor=inspector, now=T0, size=100, family="recording"
    )
    assert set(sample_ids(db_session, recording)) == station_ids  # the whole population
    q1 = sampling.draw_sample(db_session, actor=inspector, now=T0, size=50, period="2026-Q1")
    assert len(sample_ids(db_session, q1)) == 8  # open items are never drawn
    assert len(station.seed) == 16  # generated when none is given


def test_the_draw_is_in_the_audit_log(db_session, bureau, approved):
    sample = sampling.draw_sample(
        db_session, actor=bureau.user("inspector"), now=T0, size=5, seed="s"
    )
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "sample.drawn"))
    assert event.object_id == str(sample.id)
    assert event.data["seed"] == "s" and event.data["items"] == sample_ids(db_session, sample)
    assert event.data["population_hash"] == sample.population_hash


def test_refusals(db_session, bureau, approved):
    inspector = bureau.user("inspector")
    with pytest.raises(PermissionDenied):
        sampling.draw_sample(db_session, actor=bureau.user("chief"), now=T0, size=5)
    for kwargs in (
        {},
        {"size": 5, "percent": Decimal(5)},
        {"size": 0},
        {"percent": Decimal(0)},
        {"percent": Decimal(101)},
        {"size": 5, "seed": "x" * 65},
        {"size": 5, "family": "nonsense"},
        {"size": 5, "unit_id": bureau.legal.id},  # nothing approved there
    ):
        with pytest.raises(ValidationFailed):
            sampling.draw_sample(db_session, actor=inspector, now=T0, **kwargs)


def _make_submitted_round(session, item, submitter) -> None:
    session.add(Submission(item_id=item.id, round=1, submitted_by_id=submitter.id, submitted_at=T0))
    item.last_submitted_at = T0  # as the submit service keeps it
    session.flush()


def test_results_confirmed_and_problem_reopens_the_item(db_session, bureau, approved):
    inspector = bureau.user("inspector")
    for item in approved:
        _make_submitted_round(db_session, item, bureau.user("chief"))
    sample = sampling.draw_sample(db_session, actor=inspector, now=T0, size=2, seed="r")
    first, second = db_session.scalars(
        select(AuditSampleItem)
        .where(AuditSampleItem.sample_id == sample.id)
        .order_by(AuditSampleItem.position)
    ).all()
    sampling.record_result(db_session, actor=inspector, entry=first, result="confirmed", now=T0)
    assert first.result == SampleResult.CONFIRMED and first.item.status == ItemStatus.APPROVED
    with pytest.raises(ValidationFailed):
        sampling.record_result(db_session, actor=inspector, entry=second, result="problem", now=T0)
    sampling.record_result(
        db_session, actor=inspector, entry=second, result="problem", note="照片缺少日期", now=T0
    )
    assert second.item.status == ItemStatus.RETURNED
    reopen = db_session.scalar(select(Review).where(Review.item_id == second.item_id))
    assert reopen.decision == ReviewDecision.REOPEN and reopen.comment == "照片缺少日期"
    with pytest.raises(InvalidTransition):
        sampling.record_result(
            db_session, actor=inspector, entry=first, result="problem", note="x", now=T0
        )
    with pytest.raises(PermissionDenied):
        sampling.record_result(
            db_session, actor=bureau.user("chief"), entry=second, result="confirmed", now=T0
        )
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.in_(["sample.checked", "item.reopened"]))
    ).all()
    assert sorted(actions) == ["item.reopened", "sample.checked", "sample.checked"]
