"""The item tally (migration 0012) follows every change of the items, whoever makes it."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import delete, select, update

from tests.factories import T0, make_case, make_item, make_requirement
from tests.integration.test_submissions import add_evidence
from tracker.models import ChecklistItem, ItemStatus, ItemTally, Role, UnitFamilyTally
from tracker.services import cases, reviews, submissions, tally, verification
from tracker.services.item_filters import ItemFilters


def kept(session, **where) -> dict[str, tuple[int, int]]:
    """(items, on time) per status of the tally rows matching `where`, zero rows left out."""
    rows = session.execute(
        select(ItemTally.status, ItemTally.items, ItemTally.on_time).filter_by(**where)
    )
    return {ItemStatus(s).value: (n, o) for s, n, o in rows if n or o}


def assert_consistent(session) -> None:
    session.flush()
    assert list(tally.iter_problems(session)) == []


def test_the_workflow_moves_an_item_between_statuses(db_session, bureau):
    staff, inspector = bureau.user(Role.STAFF), bureau.user(Role.INSPECTOR)
    item = make_item(db_session, unit=bureau.section, period="2026-Q1", assignee_id=staff.id)
    assert kept(db_session, year=2026, unit_id=bureau.section.id) == {"open": (1, 0)}

    add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=T0)
    assert kept(db_session, year=2026, unit_id=bureau.section.id) == {"submitted": (1, 0)}
    reviews.decide(
        db_session, actor=inspector, item=item, decision="return", comment="再补", now=T0
    )
    assert kept(db_session, year=2026, unit_id=bureau.section.id) == {"returned": (1, 0)}

    # Sent again after its due date: approved, but late.
    late = datetime_after(item.due_date)
    add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=late)
    reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=late)
    assert item.last_submitted_on == item.due_date + timedelta(days=1)
    assert kept(db_session, year=2026, unit_id=bureau.section.id) == {"approved": (1, 0)}

    # A later deadline (a recomputation, a holiday change) makes the same round on time.
    item.due_date = item.due_date + timedelta(days=5)
    db_session.flush()
    assert kept(db_session, year=2026, unit_id=bureau.section.id) == {"approved": (1, 1)}
    assert_consistent(db_session)


def datetime_after(day: date):
    """02:00 Beijing time on the day after `day` (18:00 UTC on `day`)."""
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(18), tzinfo=UTC)


def test_case_items_follow_their_decision_year(db_session, bureau):
    make_requirement(db_session)  # an event requirement of the case's unit
    case = make_case(db_session, unit=bureau.section, decided_on=date(2025, 12, 30)).case
    items = cases.case_items(db_session, case)
    assert items and {i.year for i in items} == {2025}
    assert sum(n for n, _ in kept(db_session, year=2025).values()) == len(items)

    cases.update_case(
        db_session,
        actor=None,
        case=case,
        decided_on=date(2026, 1, 5),
        served_on=None,
        closed_on=None,
        registered_on=None,
        major=case.major,
        party=case.party,
        now=T0,
    )
    db_session.expire_all()
    assert {i.year for i in cases.case_items(db_session, case)} == {2026}
    assert kept(db_session, year=2025) == {}
    assert_consistent(db_session)


def test_bulk_statements_and_deletes_are_counted_too(db_session, bureau):
    requirement = make_requirement(db_session, cadence="quarterly", owners=[bureau.section.code])
    items = [
        make_item(db_session, unit=bureau.section, requirement=requirement, period=f"2026-Q{q}")
        for q in (1, 2, 3)
    ]
    # A hand-written UPDATE (as an admin's repair script would run) and a DELETE.
    db_session.execute(
        update(ChecklistItem)
        .where(ChecklistItem.id.in_([items[0].id, items[1].id]))
        .values(status=ItemStatus.SUBMITTED)
    )
    db_session.execute(delete(ChecklistItem).where(ChecklistItem.id == items[2].id))
    assert kept(db_session, year=2026, requirement_id=requirement.id) == {"submitted": (2, 0)}
    assert_consistent(db_session)


def test_the_list_counts_read_the_tally_or_count_the_items(db_session, bureau):
    today = date(2026, 11, 2)
    for q in (1, 2, 3, 4):
        make_item(db_session, unit=bureau.section, period=f"2026-Q{q}")
    make_item(db_session, unit=bureau.section, period="2025-Q4")
    admin = bureau.user(Role.ADMIN)

    def counts(filters: ItemFilters) -> dict[str, int]:
        from tracker.services import item_filters

        conds = item_filters.conditions(
            db_session, filters, user=admin, today=today, with_status=False
        )
        return tally.list_counts(
            db_session, filters, user=admin, item_conditions=conds, today=today
        )

    from_tally = counts(ItemFilters(year=2026))
    assert tally.readable(ItemFilters(year=2026))
    assert from_tally == {"open": 4, "submitted": 0, "returned": 0, "approved": 0, "overdue": 3}
    counted = counts(ItemFilters(year=2026, period="2026-Q1"))  # not kept: the items are counted
    assert not tally.readable(ItemFilters(period="2026-Q1"))
    assert counted == {"open": 1, "submitted": 0, "returned": 0, "approved": 0, "overdue": 1}
    assert tally.listed_total(from_tally, "") == 4
    assert tally.listed_total(from_tally, "overdue") == 3


def test_verify_reports_a_tally_that_drifted(db_session, bureau, app):
    item = make_item(db_session, unit=bureau.section, period="2026-Q1")
    # The item tally drifts, and the unit x family tally follows it (its triggers): both are
    # wrong against the items.
    db_session.execute(update(ItemTally).values(items=ItemTally.items + 1))
    problems = list(tally.iter_problems(db_session))
    assert [p.describe() for p in problems] == [
        f"item tally: year 2026, unit {bureau.section.id}, requirement {item.requirement_id}, "
        "open: expected 1 items (0 on time, publicity), found 2 (0, publicity)",
        f"unit family tally: year 2026, unit {bureau.section.id}, publicity, open: "
        "expected 1 items (0 on time), found 2 (0)",
    ]
    from tracker.storage import storage_from_config

    report = verification.verify(db_session, storage_from_config(app.config))
    assert not report.ok and report.tally_problems == problems


def test_verify_reports_a_unit_family_tally_that_drifted(db_session, bureau):
    make_item(db_session, unit=bureau.section, period="2026-Q1")
    db_session.execute(update(UnitFamilyTally).values(on_time=UnitFamilyTally.on_time + 1))
    problems = list(tally.iter_problems(db_session))
    assert [p.describe() for p in problems] == [
        f"unit family tally: year 2026, unit {bureau.section.id}, publicity, open: "
        "expected 1 items (0 on time), found 1 (1)",
    ]


def test_the_unit_family_tally_sums_the_item_tally(db_session, bureau):
    """Items of two requirements of one family, in two units and statuses: one row per (year,
    unit, family, status) with their sum, whichever way the item tally moved."""
    first, second = (
        make_requirement(db_session, c, cadence="quarterly") for c in ("UF-01", "UF-02")
    )
    for requirement in (first, second):
        for unit in (bureau.section, bureau.station):
            make_item(db_session, unit=unit, requirement=requirement, period="2026-Q1")
    make_item(
        db_session,
        unit=bureau.section,
        requirement=second,
        period="2026-Q2",
        status=ItemStatus.SUBMITTED,
    )
    db_session.flush()
    rows = db_session.execute(
        select(UnitFamilyTally.unit_id, UnitFamilyTally.status, UnitFamilyTally.items).where(
            UnitFamilyTally.year == 2026
        )
    ).all()
    assert sorted((u, ItemStatus(s).value, n) for u, s, n in rows if n) == sorted(
        [
            (bureau.section.id, "open", 2),
            (bureau.section.id, "submitted", 1),
            (bureau.station.id, "open", 2),
        ]
    )
    assert_consistent(db_session)


def test_a_requirement_moved_to_another_family_takes_its_counts_along(db_session, bureau):
    from tracker.models import Requirement
    from tracker.models.catalogue import Family

    item = make_item(db_session, unit=bureau.section, period="2026-Q1")
    requirement = db_session.get(Requirement, item.requirement_id)
    requirement.family = Family.LAW_STUDY
    db_session.flush()
    family = db_session.scalar(
        select(ItemTally.family).where(ItemTally.requirement_id == requirement.id)
    )
    assert Family(family) == Family.LAW_STUDY
    assert_consistent(db_session)


def test_rebuild_recounts_both_tallies_from_the_items(db_session, bureau):
    """What a bulk loader runs after writing items with the tally triggers disabled."""
    requirement = make_requirement(db_session, cadence="quarterly")
    for q in (1, 2, 3):
        make_item(db_session, unit=bureau.section, requirement=requirement, period=f"2026-Q{q}")
    db_session.execute(update(ItemTally).values(items=ItemTally.items + 5))
    db_session.execute(update(UnitFamilyTally).values(on_time=UnitFamilyTally.on_time + 1))
    assert list(tally.iter_problems(db_session))
    tally.rebuild(db_session)
    assert kept(db_session, year=2026, requirement_id=requirement.id) == {"open": (3, 0)}
    assert_consistent(db_session)
