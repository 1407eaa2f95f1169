"""What the reminder pass keeps while it is fast at a million items (bench/README.md).

The pass reads owed items as plain rows (item, requirement and case columns) and writes every
message in one INSERT: the writes do not grow with the messages, and the rows say what the ORM
objects said (the case number or period beside the title, nothing for an inactive unit).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Column, select
from sqlalchemy.sql import visitors

from tests.factories import make_case, make_item, make_requirement, make_user
from tests.factories import seed_official_holidays as seed_holidays
from tests.helpers import count_statements
from tracker.models import ChecklistItem, Notification, Role
from tracker.services import reminders
from tracker.services.reminders import planning

CST = timedelta(hours=8)


def at_nine(day: date) -> datetime:
    """09:00 in Asia/Shanghai on that day, as an aware UTC instant."""
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC) - CST


@pytest.fixture
def holidays(db_session):
    seed_holidays(db_session)
    db_session.commit()


def messages_to(db_session, user) -> list[Notification]:
    return list(
        db_session.scalars(
            select(Notification).where(Notification.recipient_key == f"user:{user.id}")
        )
    )


def test_messages_are_written_in_one_insert_whatever_their_number(
    app, db_session, bureau, holidays
):
    day = date(2026, 10, 13)
    written, inserts, officers = [], [], []
    for wanted in (2, 20):
        # Officers each assigned an item due today: one digest each.
        while len(officers) < wanted:
            officer = make_user(db_session, unit=bureau.section, role=Role.STAFF)
            officers.append(officer)
            make_item(
                db_session,
                unit=bureau.section,
                due_date=day,
                assignee_id=officer.id,
                scope_key=f"officer-{officer.id}",
            )
        db_session.execute(Notification.__table__.delete())
        db_session.commit()
        with count_statements() as counter:
            result = reminders.run_reminder_pass(db_session, now=at_nine(day))
            db_session.flush()
        written.append(result["written"]["digest"])
        inserts.append(
            sum(1 for s in counter.statements if s.lstrip().upper().startswith("INSERT"))
        )
    assert written == [2, 20]
    assert inserts == [1, 1], counter.statements


def test_a_line_shows_the_case_number_or_the_period(app, db_session, bureau, holidays):
    make_requirement(db_session, deadline={"type": "working_days", "days": 20})
    case_result = make_case(db_session, unit=bureau.station, decided_on=date(2026, 9, 1))
    (case_item,) = case_result.items
    periodic = make_item(
        db_session, unit=bureau.station, period="2026", due_date=case_result.items[0].due_date
    )
    db_session.commit()
    reminders.run_reminder_pass(db_session, now=at_nine(case_item.due_date))
    db_session.commit()
    (digest,) = messages_to(db_session, bureau.users["other_chief"])
    assert sorted(digest.item_ids) == sorted([case_item.id, periodic.id])
    case_no = case_result.case.case_no
    for body in (digest.body_text, digest.body_html):
        assert f" · {case_no}" in body and " · 2026" in body


def test_an_inactive_units_owed_items_are_not_reminded(app, db_session, bureau, holidays):
    day = date(2026, 10, 13)
    active = make_item(db_session, unit=bureau.section, due_date=day)
    inactive = make_item(db_session, unit=bureau.station, due_date=day)
    overdue = make_item(db_session, unit=bureau.station, due_date=date(2026, 9, 1))
    bureau.station.active = False
    db_session.commit()
    reminders.run_reminder_pass(db_session, now=at_nine(day))
    db_session.commit()
    listed = {i for n in db_session.scalars(select(Notification)) for i in n.item_ids}
    assert active.id in listed
    assert not {inactive.id, overdue.id} & listed


def test_owed_items_come_in_due_order_whatever_order_the_database_gives(
    app, db_session, bureau, holidays
):
    from tracker.models import ItemStatus, Unit
    from tracker.services.reminders import planning

    dues = [date(2026, 10, 20), date(2026, 9, 1), date(2026, 10, 13), date(2026, 9, 1)]
    made = [make_item(db_session, unit=bureau.section, due_date=due) for due in dues]
    made.append(
        make_item(
            db_session, unit=bureau.section, due_date=date(2026, 9, 2), status=ItemStatus.RETURNED
        )
    )
    make_item(
        db_session, unit=bureau.section, due_date=date(2026, 8, 3), status=ItemStatus.APPROVED
    )
    make_item(db_session, unit=bureau.section, due_date=date(2026, 12, 1))  # beyond `until`
    units = {unit.id: unit for unit in db_session.scalars(select(Unit))}
    with count_statements() as counter:
        owed = planning._owed_items(db_session, until=date(2026, 11, 1), units=units)
    assert counter.count == 1
    expected = sorted(made, key=lambda item: (item.due_date, item.id))
    assert [(i.id, i.due_date) for i in owed] == [(i.id, i.due_date) for i in expected]


def _item_columns(statement) -> set[str]:
    """The checklist_item columns a statement reads anywhere (selected, joined on, filtered)."""
    table = ChecklistItem.__table__
    return {
        element.name
        for element in visitors.iterate(statement)
        if isinstance(element, Column) and element.table is table
    }


def _index_columns(name: str) -> set[str]:
    (index,) = [i for i in ChecklistItem.__table__.indexes if i.name == name]
    return {column.name for column in index.columns}


# Each read of the pass, run on an empty database, and the index it starts from.
PASS_READS = {
    "owed": (
        lambda session: planning._owed_items(session, until=date(2026, 12, 31), units={}),
        "ix_checklist_item_status_due",
    ),
    "waiting": (
        lambda session: planning._waiting_submissions(
            session, before=datetime(2026, 12, 31, tzinfo=UTC)
        ),
        "ix_checklist_item_status_submitted",
    ),
}


@pytest.mark.parametrize("read", PASS_READS)
def test_the_pass_reads_items_from_its_indexes_alone(db_session, read, monkeypatch):
    """Every item column the pass reads is in the index its read starts from (migration
    0018): a column added to the pass's rows without its index reads a million-item table
    row by row again, from disk on a cold morning."""
    run_read, index = PASS_READS[read]
    statements = []
    execute = db_session.execute
    monkeypatch.setattr(
        db_session,
        "execute",
        lambda stmt, *args, **kw: statements.append(stmt) or execute(stmt, *args, **kw),
    )
    run_read(db_session)
    (statement,) = statements
    assert _item_columns(statement) <= _index_columns(index)
