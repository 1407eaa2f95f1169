"""The holiday calendar in the database: seed, CSV import, recomputing provisional deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, update

from tests.factories import T0, make_case, make_requirement, seed_official_holidays
from tests.helpers import count_statements
from tracker.models import AuditEvent, ChecklistItem, Holiday, HolidayYear, ItemStatus
from tracker.services import checklist, holidays
from tracker.services.calendar import DayKind, official_calendar, official_version, official_years
from tracker.services.holidays import CsvInvalid

DECEMBER = datetime(2026, 12, 21, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, the day after the decision


def run(app, *args):
    return app.test_cli_runner().invoke(args=["tracker", *args])


def nth_working_day(start: date, n: int, rest: set[date], work: set[date]) -> date:
    """A direct day-by-day count, independent of the engine."""
    d = start
    while n:
        d += timedelta(days=1)
        if d in work or (d.weekday() < 5 and d not in rest):
            n -= 1
    return d


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def publication_requirement(session):
    """Like GS-03: 20 working days from the decision, for stations."""
    return make_requirement(
        session,
        deadline={"type": "working_days", "days": 20},
        trigger="decided_on",
        owners=["kind:station", "JCDD"],
    )


def test_seeding_loads_the_official_table_once(db_session):
    result = holidays.seed_official(db_session, now=T0)
    assert result.years == list(official_years()) and result.days > 500
    assert holidays.seed_official(db_session, now=T0).years == []
    covered = db_session.scalars(select(HolidayYear).order_by(HolidayYear.year)).all()
    assert [y.year for y in covered] == list(official_years())
    assert {y.version for y in covered} == {official_version()}

    calendar = holidays.load_calendar(db_session)
    official = official_calendar()
    day = date(2025, 1, 1)
    while day <= date(2026, 12, 31):
        assert calendar.is_working_day(day) == official.is_working_day(day), day
        day += timedelta(days=1)
    assert calendar.version == f"{official_version()} [2004-2026]"
    assert not calendar.is_working_day(date(2026, 10, 1))  # 国庆节
    assert calendar.is_working_day(date(2026, 10, 10))  # a make-up Saturday


def test_deadline_into_2027_is_provisional_until_the_2027_table_is_imported(
    app, db_session, bureau, tmp_path
):
    seed_official_holidays(db_session)
    publication_requirement(db_session)
    result = make_case(db_session, unit=bureau.station, decided_on=date(2026, 12, 20), now=DECEMBER)
    (item,) = result.items
    expected_before = nth_working_day(date(2026, 12, 20), 20, set(), set())
    assert item.due_date == expected_before == date(2027, 1, 15)
    assert item.due_provisional is True
    assert "2027 年官方节假日安排未发布" in item.due_basis_zh
    assert "provisional" in item.due_basis_en and "2027" in item.due_basis_en
    assert item.calendar_version.startswith(official_version())
    db_session.commit()

    csv_file = tmp_path / "2027.csv"
    csv_file.write_text(
        "date,kind,name\n2027-01-01,rest,元旦\n2027-02-20,workday,春节\n", encoding="utf-8"
    )
    outcome = run(app, "holidays", "import", str(csv_file))
    assert outcome.exit_code == 0, outcome.output
    assert "Imported 2027: 2 special days" in outcome.output
    assert "Recomputed deadlines: 1 changed of 1 open items checked." in outcome.output

    db_session.expire_all()
    item = db_session.get(ChecklistItem, item.id)
    expected_after = nth_working_day(date(2026, 12, 20), 20, {date(2027, 1, 1)}, set())
    assert item.due_date == expected_after == date(2027, 1, 18)
    assert item.due_provisional is False
    assert "跳过元旦" in item.due_basis_zh and "New Year's Day" in item.due_basis_en
    assert "csv 2027.csv" in item.calendar_version
    event = db_session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "item.deadline_recomputed", AuditEvent.object_id == str(item.id)
        )
    )
    assert event.data["old"] == {"due": "2027-01-15", "provisional": True}
    assert event.data["new"] == {"due": "2027-01-18", "provisional": False}
    assert db_session.get(HolidayYear, 2027).source == "csv:2027.csv"


def test_import_recomputes_only_open_and_returned_provisional_items(db_session, bureau):
    seed_official_holidays(db_session)
    make_requirement(
        db_session, cadence="quarterly", owners=["kind:station", "kind:section"]
    )  # Q4 + 10 working days reaches into 2027
    checklist.generate_year(
        db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
    )
    q4 = db_session.scalars(
        select(ChecklistItem).where(ChecklistItem.period == "2026-Q4").order_by(ChecklistItem.id)
    ).all()
    assert len(q4) == 3 and all(i.due_provisional for i in q4)
    assert {i.due_date for i in q4} == {date(2027, 1, 14)}
    q4[1].status = ItemStatus.SUBMITTED
    q4[2].status = ItemStatus.RETURNED
    q3 = db_session.scalar(select(ChecklistItem).where(ChecklistItem.period == "2026-Q3"))
    q3_before = (q3.due_date, q3.calendar_version)
    db_session.flush()

    result = holidays.import_holiday_csv(
        db_session,
        data="2027-01-01,rest,元旦\n2027-01-04,rest,元旦调休\n".encode(),
        source="2027.csv",
        actor=bureau.user("admin"),
        now=T0,
    )
    assert (result.year, result.days, result.was_covered) == (2027, 2, False)
    assert (result.recompute.checked, result.recompute.moved) == (2, 2)
    db_session.expire_all()
    assert (q4[0].due_date, q4[0].due_provisional) == (date(2027, 1, 18), False)
    assert (q4[2].due_date, q4[2].due_provisional) == (date(2027, 1, 18), False)
    # Submitted work keeps the deadline it was submitted against.
    assert (q4[1].due_date, q4[1].due_provisional) == (date(2027, 1, 14), True)
    assert (q3.due_date, q3.calendar_version) == q3_before
    assert holidays.calendar_status(db_session, today=date(2026, 11, 2)).provisional_open == 0


def test_recomputation_walks_items_in_batches(db_session, bureau):
    seed_official_holidays(db_session)
    make_requirement(db_session, cadence="monthly", owners=["kind:station", "kind:section"])
    checklist.generate_year(
        db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
    )
    # Pretend 2026 had no table yet: every item provisional, then recompute 4 at a time.
    db_session.execute(ChecklistItem.__table__.update().values(due_provisional=True))
    result = checklist.recompute_owed_items(
        db_session,
        calendar=holidays.load_calendar(db_session),
        actor=None,
        now=T0,
        reason="test",
        provisional_only=True,
        batch_size=4,
    )
    total = count(db_session, ChecklistItem)
    assert total == 36
    assert result.checked == total
    # Only December's items really reach into 2027 (still uncovered) and stay provisional.
    assert count(db_session, ChecklistItem, ChecklistItem.due_provisional.is_(True)) == 3
    assert result.moved == total - 3


def test_replacing_a_covered_year_recomputes_items_due_in_it(db_session, bureau):
    seed_official_holidays(db_session)
    publication_requirement(db_session)
    (item,) = make_case(db_session, unit=bureau.station, decided_on=date(2026, 9, 30)).items
    assert item.due_date == date(2026, 11, 3) and not item.due_provisional  # over National Day
    # An admin reloads 2026 without the National Day week (say, a corrected draft).
    result = holidays.import_holiday_csv(
        db_session, data=b"2026-01-01,rest,New Year\n", source="2026.csv", actor=None, now=T0
    )
    assert result.was_covered and result.replaced > 30
    db_session.refresh(item)
    assert item.due_date == nth_working_day(date(2026, 9, 30), 20, {date(2026, 1, 1)}, set())
    assert (
        count(db_session, Holiday, Holiday.day.between(date(2026, 1, 1), date(2026, 12, 31))) == 1
    )


def test_csv_errors_are_reported_by_line_and_nothing_is_imported(db_session):
    seed_official_holidays(db_session)
    before = count(db_session, Holiday)
    data = (
        "\ufeffdate,kind,name\n"
        "2027-01-01,rest,元旦\n"
        "2027-13-01,rest,bad month\n"
        "2027-01-04,workday,weekday make-up\n"
        "2027-01-01,rest,again\n"
        "2028-01-01,rest,next year\n"
        "2027-02-06,holiday,春节\n"
        "2027-02-07,rest\n"
        "2027-02-08,rest,\n"
    ).encode()
    with pytest.raises(CsvInvalid) as caught:
        holidays.import_holiday_csv(db_session, data=data, source="bad.csv", actor=None, now=T0)
    located = [(e.line, e.field) for e in caught.value.errors]
    assert located == [
        (3, "date"),
        (4, "kind"),
        (5, "date"),
        (6, "date"),
        (7, "kind"),
        (8, None),
        (9, "name"),
    ]
    assert caught.value.lines()[0].startswith("bad.csv: line 3: date: ")
    assert count(db_session, Holiday) == before
    assert db_session.get(HolidayYear, 2027) is None


@pytest.mark.parametrize(
    "data",
    [
        "2027-01-01,rest,元旦\n".encode(),  # no header
        "\ufeffdate,kind,name\r\n2027-01-01,rest,元旦\r\n".encode(),  # BOM, CRLF
        "日期,类型,名称\n2027-01-01,rest,元旦\n".encode("gb18030"),  # Excel in China
        "date,kind,name\n\n# a comment\n2027/1/1,REST,元旦\n".encode(),
    ],
)
def test_csv_variants_are_accepted(db_session, data):
    result = holidays.import_holiday_csv(
        db_session, data=data, source="2027.csv", actor=None, now=T0
    )
    assert (result.year, result.days) == (2027, 1)
    holiday = db_session.scalar(select(Holiday).where(Holiday.day == date(2027, 1, 1)))
    assert (holiday.kind, holiday.name) == (DayKind.REST, "元旦")


def test_empty_csv_is_refused(db_session):
    with pytest.raises(CsvInvalid):
        holidays.import_holiday_csv(
            db_session, data=b"date,kind,name\n", source="empty.csv", actor=None, now=T0
        )


def test_status_command_lists_years_and_provisional_items(app, db_session, bureau, clock):
    seed_official_holidays(db_session)
    publication_requirement(db_session)
    make_case(db_session, unit=bureau.station, decided_on=date(2026, 12, 20), now=DECEMBER)
    db_session.commit()
    result = run(app, "holidays", "status")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    year_lines = [line for line in lines if line[:4].isdigit()]
    assert [line[:4] for line in year_lines] == [*map(str, official_years()), "2027"]
    line_2026 = next(line for line in year_lines if line.startswith("2026"))
    specials = count(db_session, Holiday, Holiday.day.between(date(2026, 1, 1), date(2026, 12, 31)))
    assert f"{specials} special days" in line_2026 and official_version() in line_2026
    assert "2027  not covered" in result.output
    assert lines[-1] == "Open items with a provisional deadline: 1"


def test_import_command_reports_errors_with_exit_code(app, db_session, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("2027-01-01,rest,元旦\n2027-01-02,sometimes,x\n", encoding="utf-8")
    result = run(app, "holidays", "import", str(bad))
    assert result.exit_code == 1
    assert f"{bad}: line 2: kind: " in result.output
    assert count(db_session, Holiday) == 0
    missing = run(app, "holidays", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code != 0


def test_editing_one_day_recomputes_open_deadlines(db_session, bureau):
    seed_official_holidays(db_session)
    publication_requirement(db_session)
    (item,) = make_case(db_session, unit=bureau.station, decided_on=date(2026, 11, 2)).items
    assert item.due_date == date(2026, 11, 30)
    holidays.set_day(
        db_session,
        actor=bureau.user("admin"),
        day=date(2026, 11, 20),
        kind=DayKind.REST,
        name="地方假日",
        now=T0,
    )
    db_session.refresh(item)
    assert item.due_date == date(2026, 12, 1) and "地方假日" in item.due_basis_zh
    assert "+edit" in item.calendar_version
    holidays.set_day(
        db_session, actor=bureau.user("admin"), day=date(2026, 11, 20), kind=None, now=T0
    )
    db_session.refresh(item)
    assert item.due_date == date(2026, 11, 30)


def test_the_calendar_is_built_again_only_when_a_covered_year_changes(db_session):
    seed_official_holidays(db_session)
    local_day = date(2026, 11, 20)  # a Friday
    first = holidays.load_calendar(db_session)
    with count_statements() as counter:
        assert holidays.load_calendar(db_session) is first
    assert len(counter.statements) == 1  # the covered years' revisions, not the ~700 days

    def revisions() -> dict[int, str]:
        return dict(
            db_session.execute(select(HolidayYear.year, HolidayYear.revision)).tuples().all()
        )

    before = revisions()
    # Written by hand, not through the service, and twice within one second: the triggers
    # renew the year's revision on each change, so neither leaves an outdated calendar.
    savepoint = db_session.begin_nested()
    db_session.execute(
        insert(Holiday).values(day=local_day, kind=DayKind.REST, name="地方假日", source="sql")
    )
    after_insert = revisions()
    assert after_insert[2026] != before[2026]
    assert {y: r for y, r in after_insert.items() if y != 2026} == {
        y: r for y, r in before.items() if y != 2026
    }
    assert not holidays.load_calendar(db_session).is_working_day(local_day)
    db_session.execute(update(Holiday).where(Holiday.day == local_day).values(kind=DayKind.WORKDAY))
    assert holidays.load_calendar(db_session).is_working_day(local_day)
    db_session.execute(delete(Holiday).where(Holiday.day == local_day))
    assert revisions()[2026] not in {before[2026], after_insert[2026]}
    assert holidays.load_calendar(db_session).is_working_day(local_day)

    # An edit rolled back leaves the tables, and so the calendar, as they were.
    savepoint.rollback()
    assert revisions() == before
    assert holidays.load_calendar(db_session) is first


def test_a_process_keeps_a_few_calendars(db_session, monkeypatch):
    monkeypatch.setattr(holidays, "_built_calendars", {})
    seed_official_holidays(db_session)
    built = []
    for n in range(holidays._KEEP_CALENDARS + 2):
        db_session.execute(
            update(HolidayYear).where(HolidayYear.year == 2026).values(version=f"v{n}")
        )
        built.append(holidays.load_calendar(db_session))
    assert len({id(calendar) for calendar in built}) == len(built)
    assert list(holidays._built_calendars.values()) == built[-holidays._KEEP_CALENDARS :]
