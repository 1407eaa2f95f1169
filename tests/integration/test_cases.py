"""Enforcement cases and their event items: registration, edits, CSV import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import yaml
from sqlalchemy import func, select

from tests.factories import (
    T0,
    make_case,
    make_requirement,
    make_unit,
    seed_official_holidays,
)
from tests.helpers import count_statements
from tracker.models import (
    AuditEvent,
    Case,
    ChecklistItem,
    ItemStatus,
    Requirement,
    UnitKind,
)
from tracker.services import cases, catalogue
from tracker.services.cases import CaseInvalid
from tracker.services.catalogue import DEFAULT_CATALOGUE
from tracker.services.holidays import CsvInvalid

TODAY = date(2026, 11, 2)  # T0 in Shanghai


@dataclass
class Rules:
    publish: Requirement  # 20 WD from the decision, stations (else the legal section)
    notify: Requirement  # 7 WD from the decision, the case's unit
    review: Requirement  # major cases: 1 WD before the decision, the legal section
    pay: Requirement  # 15 days from service, the case's unit
    archive: Requirement  # 10 WD from closing
    limit: Requirement  # 90 days from filing


@pytest.fixture
def rules(db_session, bureau) -> Rules:
    seed_official_holidays(db_session)

    def event(code, trigger, deadline, owners, applies_to="all"):
        return make_requirement(
            db_session,
            code,
            trigger=trigger,
            deadline=deadline,
            owners=owners,
            applies_to=applies_to,
        )

    return Rules(
        publish=event(
            "GS-93", "decided_on", {"type": "working_days", "days": 20}, ["kind:station", "LEGAL"]
        ),
        notify=event("GS-94", "decided_on", {"type": "working_days", "days": 7}, ["case_unit"]),
        review=event(
            "SH-91", "decided_on", {"type": "working_days", "days": -1}, ["LEGAL"], "major"
        ),
        pay=event("QT-95", "served_on", {"type": "natural_days", "days": 15}, ["case_unit"]),
        archive=event("JL-91", "closed_on", {"type": "working_days", "days": 10}, ["case_unit"]),
        limit=event("QT-92", "registered_on", {"type": "natural_days", "days": 90}, ["case_unit"]),
    )


def items_by_code(session, case: Case) -> dict[str, ChecklistItem]:
    return {i.requirement.code: i for i in cases.case_items(session, case)}


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_registering_a_case_creates_the_items_its_dates_trigger(db_session, bureau, rules):
    result = make_case(
        db_session,
        unit=bureau.station,
        case_no="余市监处〔2026〕1号",
        decided_on=date(2026, 9, 30),
        registered_on=date(2026, 8, 1),
        party="杭州某某商贸有限公司",
    )
    items = items_by_code(db_session, result.case)
    assert set(items) == {"GS-93", "GS-94", "QT-92"}  # not served, not closed, not major
    assert {i.id for i in result.items} == {i.id for i in items.values()}
    publish = items["GS-93"]
    assert publish.unit_id == bureau.station.id
    assert publish.due_date == date(2026, 11, 3)  # 20 WD over National Day
    assert publish.scope_key == f"case:{result.case.id}" and publish.period is None
    assert "国庆节" in publish.due_basis_zh and not publish.due_provisional
    assert items["QT-92"].due_date == date(2026, 10, 30)
    assert not publish.created_overdue
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "case.created"))
    assert event.object_id == str(result.case.id)
    assert sorted(event.data["items"]) == sorted(i.id for i in items.values())
    assert event.data["decided_on"] == "2026-09-30" and event.data["unit"] == "STA"


def test_a_unit_outside_the_owner_selectors_hands_over_to_the_listed_unit(
    db_session, bureau, rules
):
    result = make_case(db_session, unit=bureau.section, decided_on=date(2026, 10, 20))
    items = items_by_code(db_session, result.case)
    assert items["GS-93"].unit_id == bureau.legal.id  # the section is no station
    assert items["GS-94"].unit_id == bureau.section.id  # case_unit


def test_major_case_registered_after_its_review_deadline_is_created_overdue(
    db_session, bureau, rules
):
    major = make_case(db_session, unit=bureau.station, decided_on=date(2026, 10, 8), major=True)
    review = items_by_code(db_session, major.case)["SH-91"]
    assert review.unit_id == bureau.legal.id
    assert review.due_date == date(2026, 9, 30)  # the last working day before the decision
    assert review.created_overdue is True and review.status == ItemStatus.OPEN
    assert review.is_overdue(TODAY)
    assert db_session.scalar(
        select(ChecklistItem.id).where(
            ChecklistItem.is_overdue(TODAY), ChecklistItem.id == review.id
        )
    )
    event = db_session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "case.created", AuditEvent.object_id == str(major.case.id)
        )
    )
    # Both the review and the 7-day notice were due before the case was recorded.
    notify = items_by_code(db_session, major.case)["GS-94"]
    assert sorted(event.data["created_overdue"]) == sorted([review.id, notify.id])

    # Registered before the decision, the review is simply due ahead of it.
    planned = make_case(db_session, unit=bureau.station, decided_on=date(2026, 11, 20), major=True)
    review = items_by_code(db_session, planned.case)["SH-91"]
    assert review.due_date == date(2026, 11, 19) and not review.created_overdue

    ordinary = make_case(db_session, unit=bureau.station, decided_on=date(2026, 10, 8))
    assert "SH-91" not in items_by_code(db_session, ordinary.case)


def test_editing_dates_recomputes_owed_items_and_creates_newly_triggered_ones(
    db_session, bureau, rules
):
    case = make_case(db_session, unit=bureau.station, decided_on=date(2026, 9, 30)).case
    items = items_by_code(db_session, case)
    items["GS-94"].status = ItemStatus.SUBMITTED  # submitted work keeps its deadline
    db_session.flush()
    submitted_due = items["GS-94"].due_date

    result = cases.update_case(
        db_session,
        actor=bureau.user("chief"),
        case=case,
        decided_on=date(2026, 10, 12),
        served_on=date(2026, 10, 16),
        closed_on=None,
        registered_on=None,
        major=True,
        party="",
        now=T0,
    )
    db_session.expire_all()
    items = items_by_code(db_session, case)
    assert items["GS-93"].due_date == date(2026, 11, 9)
    assert items["GS-94"].due_date == submitted_due
    assert {i.requirement.code for i in result.items} == {"QT-95", "SH-91"}
    assert items["QT-95"].due_date == date(2026, 11, 2) and not items["QT-95"].created_overdue
    assert items["SH-91"].created_overdue  # now major, and its decision is past
    assert result.recompute.moved == 1

    actions = {
        e.action: e
        for e in db_session.scalars(select(AuditEvent).where(AuditEvent.object_type != "unit"))
    }
    assert actions["case.updated"].data["changes"]["decided_on"] == ["2026-09-30", "2026-10-12"]
    assert actions["case.updated"].data["changes"]["major"] == [False, True]
    recomputed = actions["item.deadline_recomputed"]
    assert recomputed.object_id == str(items["GS-93"].id)
    assert recomputed.data["old"]["due"] == "2026-11-03"
    assert recomputed.data["new"]["due"] == "2026-11-09"
    assert sorted(actions["item.created"].data["items"]) == sorted(i.id for i in result.items)

    # A returned item moves too; an unchanged edit does nothing.
    items["GS-93"].status = ItemStatus.RETURNED
    db_session.flush()
    cases.update_case(
        db_session,
        actor=None,
        case=case,
        decided_on=date(2026, 10, 13),
        served_on=date(2026, 10, 16),
        closed_on=None,
        registered_on=None,
        major=True,
        party="",
        now=T0,
    )
    db_session.expire_all()
    assert items_by_code(db_session, case)["GS-93"].due_date == date(2026, 11, 10)
    events = count(db_session, AuditEvent)
    unchanged = cases.update_case(
        db_session,
        actor=None,
        case=case,
        decided_on=date(2026, 10, 13),
        served_on=date(2026, 10, 16),
        closed_on=None,
        registered_on=None,
        major=True,
        party="",
        now=T0,
    )
    assert unchanged.items == [] and count(db_session, AuditEvent) == events


def test_invalid_cases_are_refused(db_session, bureau, rules):
    with pytest.raises(CaseInvalid) as caught:
        make_case(
            db_session,
            unit=bureau.station,
            decided_on=date(2026, 10, 8),
            served_on=date(2026, 10, 1),
            registered_on=date(2026, 10, 9),
            case_no="",
        )
    assert {f for f, _m in caught.value.errors} == {"case_no", "served_on", "registered_on"}
    make_case(db_session, unit=bureau.station, decided_on=date(2026, 10, 8), case_no="A-1")
    with pytest.raises(CaseInvalid) as caught:
        make_case(db_session, unit=bureau.station, decided_on=date(2026, 10, 8), case_no="A-1")
    assert caught.value.field == "case_no"
    closed = make_unit(db_session, parent=bureau.root, code="SHUT", kind=UnitKind.STATION)
    closed.active = False
    with pytest.raises(CaseInvalid) as caught:
        make_case(db_session, unit=closed, decided_on=date(2026, 10, 8))
    assert caught.value.field == "unit"
    assert count(db_session, Case) == 1


# ---------------------------------------------------------------- CSV import

HEADER = "case_no,unit,decided_on,served_on,closed_on,registered_on,major,party\n"


@pytest.fixture
def catalogue_bureau(db_session):
    """Units named by the shipped catalogue, the catalogue itself and the official calendar."""
    seed_official_holidays(db_session)
    root = make_unit(db_session, code="BUREAU", kind=UnitKind.BUREAU)
    for code, kind in [
        ("FGK", UnitKind.SECTION),
        ("BGS", UnitKind.OFFICE),
        ("JCDD", UnitKind.BRIGADE),
        ("CQS", UnitKind.STATION),
        ("LZS", UnitKind.STATION),
    ]:
        make_unit(db_session, parent=root, code=code, kind=kind)
    catalogue.import_catalogue_file(db_session, actor=None, path=DEFAULT_CATALOGUE, now=T0)
    db_session.commit()


def thousand_cases() -> tuple[str, list[dict]]:
    units = ["JCDD", "CQS", "LZS"]
    rows = []
    start = date(2026, 1, 5)
    for n in range(1000):
        decided = start + timedelta(days=(n * 7) % 350)
        row = {
            "case_no": f"余市监处〔2026〕{n + 1}号",
            "unit": units[n % 3],
            "decided_on": decided,
            "served_on": decided + timedelta(days=4) if n % 3 else None,
            "closed_on": decided + timedelta(days=30) if n % 4 == 0 else None,
            "registered_on": decided - timedelta(days=45),
            "major": n % 10 == 0,
            "party": f"杭州某某{n}有限公司",
        }
        rows.append(row)

    def cell(value):
        if value is None:
            return ""
        if isinstance(value, bool):
            return "是" if value else "否"
        return value.isoformat() if isinstance(value, date) else str(value)

    text = HEADER + "".join(
        ",".join(cell(row[k]) for k in HEADER.strip().split(",")) + "\n" for row in rows
    )
    return text, rows


def expected_items(rows: list[dict]) -> int:
    """One item per case and applicable event entry whose trigger date is known."""
    entries = [
        e
        for e in yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["requirements"]
        if e["cadence"] == "event" and e.get("active", True)
    ]
    for entry in entries:  # every owner list names the case's unit kind or exactly one unit
        owners = entry["owners"]
        assert {"kind:station", "JCDD"} <= set(owners) or len(owners) == 1, entry["code"]
    return sum(
        1
        for row in rows
        for entry in entries
        if (entry["applies_to"] == "all" or row["major"]) and row[entry["trigger"]] is not None
    )


def test_thousand_cases_from_csv(app, db_session, catalogue_bureau):
    text, rows = thousand_cases()
    now = datetime(2026, 12, 28, 2, 0, tzinfo=UTC)
    # The time it takes is measured by `make bench` (bench/run.py), not asserted here.
    with count_statements() as statements:
        result = cases.import_cases_csv(
            db_session, data=text.encode("utf-8-sig"), source="cases.csv", actor=None, now=now
        )
        db_session.commit()
    assert result.cases == 1000 and count(db_session, Case) == 1000
    assert result.items == expected_items(rows) == count(db_session, ChecklistItem)
    assert statements.count < 60  # bulk, not a query per case
    majors = db_session.scalar(select(func.count()).select_from(Case).where(Case.major))
    assert majors == 100
    sample = db_session.scalar(select(Case).where(Case.case_no == "余市监处〔2026〕2号"))
    assert sample.unit.code == "CQS" and sample.served_on == date(2026, 1, 16)
    gs03 = items_by_code(db_session, sample)["GS-03"]
    assert gs03.unit_id == sample.unit_id and gs03.due_date == date(2026, 2, 9)
    audit = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "case.imported"))
    assert audit.data["cases"] == 1000 and audit.data["items"] == result.items


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(db_session, catalogue_bureau):
    cases.import_cases_csv(
        db_session,
        data=(HEADER + "OLD-1,CQS,2026-10-08,,,,0,\n").encode(),
        source="first.csv",
        actor=None,
        now=T0,
    )
    db_session.commit()
    before = (count(db_session, Case), count(db_session, ChecklistItem))
    text = (
        HEADER
        + "N-1,CQS,2026-10-08,2026-10-10,,,否,甲\n"  # 2: fine
        + "N-2,NOPE,2026-10-08,,,,0,乙\n"  # 3: unknown unit
        + "N-3,LZS,2026-02-30,,,,0,丙\n"  # 4: no such date
        + "N-4,LZS,2026-10-08,2026-10-01,,,0,丁\n"  # 5: served before decided
        + "N-1,JCDD,2026-10-09,,,,1,戊\n"  # 6: duplicate of line 2
        + "OLD-1,CQS,2026-10-08,,,,0,己\n"  # 7: already registered
        + "N-7,CQS,2026-10-08,,,,maybe,庚\n"  # 8: major?
        + ",CQS,2026-10-08,,,,0,辛\n"  # 9: no case number
        + "N-9,CQS,,,,,0,壬\n"  # 10: no decision date
        + "N-10,CQS,2026-10-08,,,,0,癸,extra\n"  # 11: too many cells
    )
    with pytest.raises(CsvInvalid) as caught:
        cases.import_cases_csv(db_session, data=text.encode(), source="bad.csv", actor=None, now=T0)
    located = [(e.line, e.field) for e in caught.value.errors]
    assert located == [
        (3, "unit"),
        (4, "decided_on"),
        (5, "served_on"),
        (6, "case_no"),
        (7, "case_no"),
        (8, "major"),
        (9, "case_no"),
        (10, "decided_on"),
        (11, None),
    ]
    assert caught.value.lines()[0].startswith("bad.csv: line 3: unit: ")
    assert (count(db_session, Case), count(db_session, ChecklistItem)) == before


def test_header_problems_are_reported(db_session, catalogue_bureau):
    with pytest.raises(CsvInvalid) as caught:
        cases.import_cases_csv(
            db_session, data=b"case_no,colour,decided_on\n", source="h.csv", actor=None, now=T0
        )
    messages = caught.value.lines()
    assert len(messages) == 2 and all(m.startswith("h.csv: line 1: ") for m in messages)
    with pytest.raises(CsvInvalid):
        cases.import_cases_csv(db_session, data=b"", source="e.csv", actor=None, now=T0)
    with pytest.raises(CsvInvalid):
        cases.import_cases_csv(db_session, data=HEADER.encode(), source="e.csv", actor=None, now=T0)


def test_chinese_headers_and_excel_encoding(db_session, catalogue_bureau):
    text = (
        "案号,办案单位,决定日期,送达日期,是否重大,当事人\n"
        "余市监处〔2026〕9号,cqs,2026/10/8,2026/10/9,是,某公司\n"
    )
    result = cases.import_cases_csv(
        db_session, data=text.encode("gb18030"), source="案件.csv", actor=None, now=T0
    )
    assert result.cases == 1
    case = db_session.scalar(select(Case))
    assert (case.case_no, case.unit.code, case.major, case.party) == (
        "余市监处〔2026〕9号",
        "CQS",
        True,
        "某公司",
    )
    assert "SH-01" in items_by_code(db_session, case)


def test_import_cases_command(app, db_session, catalogue_bureau, tmp_path):
    good = tmp_path / "cases.csv"
    good.write_text(
        HEADER + "C-1,CQS,2026-10-08,,,,0,甲\nC-2,JCDD,2026-10-09,,,,1,乙\n", encoding="utf-8"
    )
    result = app.test_cli_runner().invoke(args=["tracker", "import-cases", str(good)])
    assert result.exit_code == 0, result.output
    items = count(db_session, ChecklistItem)
    assert f"Imported 2 cases from {good}: created {items} items" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "C-3,CQS,2026-10-08,,,,0,甲\nC-4,XX,2026-10-08,,,,0,乙\n")
    result = app.test_cli_runner().invoke(args=["tracker", "import-cases", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: line 3: unit: " in result.output
    assert count(db_session, Case) == 2
