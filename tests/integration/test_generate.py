"""Yearly generation of periodic items: every requirement and owner unit, idempotent, fast."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
import yaml
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from tests.factories import T0, make_requirement, make_unit, seed_official_holidays
from tests.helpers import count_statements
from tracker.models import ChecklistItem, ItemStatus, Requirement, Unit, UnitKind
from tracker.services import checklist, holidays
from tracker.services.catalogue import DEFAULT_CATALOGUE

PERIODS_PER_YEAR = {"annual": 1, "once": 1, "semiannual": 2, "quarterly": 4, "monthly": 12}


def run(app, *args):
    return app.test_cli_runner().invoke(args=["tracker", *args])


def expected_from_catalogue(session) -> tuple[int, int]:
    """(items of the recurring requirements, items of the `once` ones), from the file and units."""
    units = session.execute(select(Unit.id, Unit.code, Unit.kind).where(Unit.active)).all()
    recurring = once = 0
    for entry in yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["requirements"]:
        if entry["cadence"] == "event" or not entry.get("active", True):
            continue
        owners = set()
        for owner in entry["owners"]:
            if owner.startswith("kind:"):
                owners |= {uid for uid, _code, kind in units if kind == owner[5:]}
            else:
                owners |= {uid for uid, code, _kind in units if code == owner}
        n = len(owners) * PERIODS_PER_YEAR[entry["cadence"]]
        if entry["cadence"] == "once":
            once += n
        else:
            recurring += n
    return recurring, once


def items_of_year(session, year: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(ChecklistItem)
        .where(ChecklistItem.period.in_(checklist.year_period_codes(year)))
    )


def test_generate_on_the_demo_bureau_creates_every_item_once(app, db_session, clock):
    # Bootstrapped in 2025, the demo generates 2025 (and its one-off tasks) by itself.
    clock.freeze(datetime(2025, 11, 2, 9, 0, tzinfo=UTC))
    boot = run(app, "bootstrap", "--demo")
    assert boot.exit_code == 0, boot.output
    assert items_of_year(db_session, 2026) == 0
    recurring, once = expected_from_catalogue(db_session)
    assert recurring > 200 and once > 0

    first = run(app, "generate", "--year", "2026")
    assert first.exit_code == 0, first.output
    assert f"Year 2026: created {recurring} items, {once} already present." in first.output
    assert items_of_year(db_session, 2026) == recurring
    # One-off tasks were done in 2025: not generated again.
    once_codes = select(Requirement.id).where(Requirement.cadence == "once")
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(ChecklistItem)
            .where(ChecklistItem.requirement_id.in_(once_codes))
        )
        == once
    )

    second = run(app, "generate", "--year", "2026", "--verbose")
    assert second.exit_code == 0, second.output
    assert f"Year 2026: created 0 items, {recurring + once} already present." in second.output
    assert re.search(r"^  GS-01  created +0, already present +4$", second.output, re.M)
    assert items_of_year(db_session, 2026) == recurring


def test_generated_items_carry_period_owner_and_deadline(db_session, bureau):
    seed_official_holidays(db_session)
    monthly = make_requirement(
        db_session,
        cadence="monthly",
        owners=["kind:station", "LEGAL", "GONE"],
        deadline={"type": "period_end", "working_days": 5},
    )
    annual = make_requirement(
        db_session,
        cadence="annual",
        owners=["LEGAL"],
        deadline={"type": "fixed", "month": 4, "day": 1, "year_offset": 1, "exclusive": True},
    )
    closed = make_unit(db_session, parent=bureau.root, code="OLD", kind=UnitKind.STATION)
    closed.active = False
    result = checklist.generate_year(
        db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
    )
    assert result.per_requirement == {monthly.code: [24, 0], annual.code: [1, 0]}
    assert result.created == 25 and result.existing == 0
    assert result.skipped == [(monthly.code, "GONE", checklist.NO_SUCH_UNIT)]

    april = db_session.scalar(
        select(ChecklistItem).where(
            ChecklistItem.period == "2026-04", ChecklistItem.unit_id == bureau.legal.id
        )
    )
    # The catalogue documentation's example: skips Labour Day, counts Saturday 2026-05-09.
    assert april.due_date == date(2026, 5, 11)
    assert april.status == ItemStatus.OPEN and april.scope_key == "2026-04"
    assert april.case_id is None and april.requirement_version == 1
    assert "劳动节" in april.due_basis_zh and not april.due_provisional
    assert april.created_overdue is True  # generated on 2026-11-02, months after it was due
    report = db_session.scalar(select(ChecklistItem).where(ChecklistItem.period == "2026"))
    assert report.due_date == date(2027, 3, 31) and not report.due_provisional  # a hard date

    # Generating again creates nothing; a deactivated unit never gets items.
    again = checklist.generate_year(
        db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
    )
    assert (again.created, again.existing) == (0, 25)
    assert not db_session.scalar(select(ChecklistItem.id).where(ChecklistItem.unit_id == closed.id))


def test_items_generated_after_their_deadline_are_flagged(db_session, bureau):
    seed_official_holidays(db_session)
    make_requirement(db_session, cadence="quarterly", owners=["STA"])
    now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    checklist.generate_year(
        db_session, year=2026, now=now, calendar=holidays.load_calendar(db_session)
    )
    flags = dict(
        db_session.execute(select(ChecklistItem.period, ChecklistItem.created_overdue)).all()
    )
    assert flags == {"2026-Q1": True, "2026-Q2": True, "2026-Q3": True, "2026-Q4": False}


def test_overdue_is_derived_in_python_and_in_sql(db_session, bureau):
    seed_official_holidays(db_session)
    make_requirement(db_session, cadence="quarterly", owners=["STA"])
    checklist.generate_year(
        db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
    )
    items = {i.period: i for i in db_session.scalars(select(ChecklistItem))}
    items["2026-Q1"].status = ItemStatus.APPROVED
    items["2026-Q2"].status = ItemStatus.RETURNED
    db_session.flush()
    today = date(2026, 11, 2)
    in_python = {p for p, i in items.items() if i.is_overdue(today)}
    in_sql = set(
        db_session.scalars(select(ChecklistItem.period).where(ChecklistItem.is_overdue(today)))
    )
    assert in_python == in_sql == {"2026-Q2", "2026-Q3"}


def test_the_unique_constraint_backs_idempotence(db_session, bureau):
    seed_official_holidays(db_session)
    make_requirement(db_session, cadence="annual", owners=["STA"])
    checklist.generate_year(
        db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
    )
    item = db_session.scalar(select(ChecklistItem))
    row = {
        c.key: getattr(item, c.key) for c in ChecklistItem.__table__.columns if c.key not in ("id",)
    }
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(insert(ChecklistItem), [row])


def test_a_few_hundred_units_times_sixty_requirements_is_quick(db_session, bureau):
    seed_official_holidays(db_session)
    db_session.execute(
        insert(Unit),
        [
            {"code": f"S{i:03d}", "name": f"市场监管所{i}", "kind": UnitKind.STATION, "path": "/"}
            for i in range(300)
        ],
    )
    for n in range(60):
        make_requirement(
            db_session,
            f"PF-{n:02d}",
            cadence="quarterly" if n % 10 == 0 else "annual",
            owners=["kind:station"],
        )
    stations = 301  # the bureau fixture's station too
    expected = stations * (6 * 4 + 54)
    # Its duration is `make bench`'s business; here: every item made, in bulk, exactly once.
    with count_statements() as statements:
        result = checklist.generate_year(
            db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
        )
    assert result.created == expected
    assert statements.count < 100
    again = checklist.generate_year(
        db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
    )
    assert again.created == 0 and again.existing == expected
