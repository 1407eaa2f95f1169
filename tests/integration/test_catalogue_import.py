"""Catalogue import: all or nothing, upsert by code, versions that items keep."""

from __future__ import annotations

from datetime import date

import pytest
import yaml
from sqlalchemy import func, select

from tests.factories import T0, catalogue_entry, make_requirement, seed_official_holidays
from tracker.models import (
    AuditEvent,
    ChecklistItem,
    Requirement,
    RequirementVersion,
    UnitKind,
)
from tracker.services import catalogue, checklist, holidays
from tracker.services.catalogue import DEFAULT_CATALOGUE, CatalogueInvalid


def write_catalogue(tmp_path, *entries, name="catalogue.yaml"):
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump({"format": 1, "requirements": list(entries)}, allow_unicode=True),
        encoding="utf-8",
    )
    return path


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def counts(session) -> tuple[int, int, int]:
    return (
        count(session, Requirement),
        count(session, RequirementVersion),
        count(session, AuditEvent),
    )


def by_code(session, code: str) -> Requirement:
    return session.scalar(select(Requirement).where(Requirement.code == code))


def test_default_catalogue_imports_once(db_session):
    result = catalogue.import_catalogue_file(db_session, actor=None, path=DEFAULT_CATALOGUE, now=T0)
    shipped = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["requirements"]
    assert len(result.created) == len(shipped) and not result.updated
    gs03 = by_code(db_session, "GS-03")
    assert (gs03.cadence, gs03.trigger, gs03.applies_to) == ("event", "decided_on", "all")
    assert gs03.deadline_rule == {"type": "working_days", "days": 20}
    assert gs03.owners == ["kind:station", "JCDD"] and gs03.version == 1
    indicator = by_code(db_session, "GS-12")
    assert float(indicator.target_value) == 100 and indicator.target_op == ">="
    assert count(db_session, RequirementVersion) == len(shipped)

    before = counts(db_session)
    again = catalogue.import_catalogue_file(db_session, actor=None, path=DEFAULT_CATALOGUE, now=T0)
    assert len(again.unchanged) == len(shipped) and not again.created and not again.updated
    assert counts(db_session) == before  # not even an audit event


def test_invalid_catalogue_changes_nothing(db_session, tmp_path):
    catalogue.import_catalogue_file(db_session, actor=None, path=DEFAULT_CATALOGUE, now=T0)
    db_session.commit()
    gs01 = by_code(db_session, "GS-01")
    title_before = gs01.title_en
    before = counts(db_session)
    path = write_catalogue(
        tmp_path,
        # A valid change to an existing entry: must not be applied either.
        {**catalogue.file_form(catalogue.snapshot_of(gs01)), "title_en": "Changed"},
        catalogue_entry("GS-90", family="publicty"),
        catalogue_entry("GS-91", cadence="weekly"),
        catalogue_entry("GS-92", title_zh=None),
    )
    with pytest.raises(CatalogueInvalid) as caught:
        catalogue.import_catalogue_file(db_session, actor=None, path=path, now=T0)
    lines = caught.value.lines()
    assert len(lines) == 3
    for line, entry, code, field in zip(
        lines,
        (2, 3, 4),
        ("GS-90", "GS-91", "GS-92"),
        ("family", "cadence", "title_zh"),
        strict=True,
    ):
        assert line.startswith(f"{path}:")
        assert f": entry {entry} ({code}): {field}: " in line
    # Nothing was written before the errors were found: no rollback needed to undo anything.
    assert counts(db_session) == before
    assert by_code(db_session, "GS-01").title_en == title_before
    assert by_code(db_session, "GS-90") is None


def test_changed_entry_gets_a_new_version_and_old_items_keep_their_rule(
    db_session, tmp_path, bureau
):
    seed_official_holidays(db_session)
    entry = catalogue_entry(
        "DK-10",
        cadence="quarterly",
        owners=["kind:station"],
        deadline={"type": "period_end", "working_days": 10},
    )
    result = catalogue.import_catalogue_file(
        db_session, actor=None, path=write_catalogue(tmp_path, entry), now=T0
    )
    assert result.created == ["DK-10"]
    calendar = holidays.load_calendar(db_session)
    checklist.generate_year(db_session, year=2026, now=T0, calendar=calendar)
    q3 = db_session.scalar(select(ChecklistItem).where(ChecklistItem.period == "2026-Q3"))
    assert q3.unit_id == bureau.station.id and q3.requirement_version == 1
    assert q3.due_date == date(2026, 10, 20)  # the catalogue documentation's example

    # Version 2: 20 working days, and an unrelated entry that stays out of the file.
    other = make_requirement(db_session, "GS-88")
    changed = {**entry, "deadline": {"type": "period_end", "working_days": 20}, "title_en": "New"}
    result = catalogue.import_catalogue_file(
        db_session, actor=None, path=write_catalogue(tmp_path, changed, name="v2.yaml"), now=T0
    )
    assert result.updated == ["DK-10"] and not result.created
    requirement = by_code(db_session, "DK-10")
    assert requirement.version == 2 and requirement.deadline_rule["working_days"] == 20
    versions = db_session.scalars(
        select(RequirementVersion)
        .where(RequirementVersion.requirement_id == requirement.id)
        .order_by(RequirementVersion.version)
    ).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].snapshot["deadline"] == {"type": "period_end", "working_days": 10}
    assert versions[1].snapshot["title_en"] == "New" and versions[1].source.endswith("v2.yaml")
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "requirement.updated"))
    assert event.data["code"] == "DK-10" and event.data["version"] == 2
    assert event.data["changes"]["deadline"] == [
        {"type": "period_end", "working_days": 10},
        {"type": "period_end", "working_days": 20},
    ]
    assert by_code(db_session, "GS-88").version == other.version == 1  # absent: left alone

    # Existing items keep version 1, and a recomputation still applies the version-1 rule.
    db_session.refresh(q3)
    assert q3.requirement_version == 1
    recomputed = checklist.recompute_owed_items(
        db_session, calendar=calendar, actor=None, now=T0, reason="test", provisional_only=False
    )
    assert recomputed.moved == 0
    db_session.refresh(q3)
    assert q3.due_date == date(2026, 10, 20)
    # Items made from now on use version 2.
    checklist.generate_year(db_session, year=2027, now=T0, calendar=calendar)
    q3_2027 = db_session.scalar(select(ChecklistItem).where(ChecklistItem.period == "2027-Q3"))
    assert q3_2027.requirement_version == 2


def test_unknown_owner_codes_import_but_generation_reports_them(db_session, tmp_path, bureau):
    seed_official_holidays(db_session)
    path = write_catalogue(
        tmp_path, catalogue_entry("DK-11", cadence="annual", owners=["LEGAL", "NOPE"])
    )
    catalogue.import_catalogue_file(db_session, actor=None, path=path, now=T0)
    result = checklist.generate_year(
        db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
    )
    assert result.created == 1
    assert result.skipped == [("DK-11", "NOPE", checklist.NO_SUCH_UNIT)]


def test_admin_edits_and_deactivation_make_versions(db_session, bureau):
    requirement = make_requirement(db_session, "GS-77")
    admin = bureau.user("admin")
    assert catalogue.update_requirement(
        db_session, actor=admin, requirement=requirement, values={"title_zh": "新标题"}, now=T0
    )
    assert requirement.version == 2 and requirement.title_zh == "新标题"
    assert not catalogue.update_requirement(
        db_session, actor=admin, requirement=requirement, values={"title_zh": "新标题"}, now=T0
    )
    assert catalogue.set_active(
        db_session, actor=admin, requirement=requirement, active=False, now=T0
    )
    assert requirement.version == 3 and requirement.active is False
    latest = db_session.scalar(
        select(RequirementVersion).where(
            RequirementVersion.requirement_id == requirement.id, RequirementVersion.version == 3
        )
    )
    assert latest.snapshot["active"] is False and latest.created_by_id == admin.id
    with pytest.raises(CatalogueInvalid):
        catalogue.update_requirement(
            db_session, actor=admin, requirement=requirement, values={"cadence": "weekly"}, now=T0
        )


def test_inactive_requirements_make_no_items(db_session, bureau):
    seed_official_holidays(db_session)
    make_requirement(db_session, "DK-12", cadence="annual", owners=["kind:station"], active=False)
    result = checklist.generate_year(
        db_session, year=2026, now=T0, calendar=holidays.load_calendar(db_session)
    )
    assert result.created == 0
    assert bureau.station.kind == UnitKind.STATION
    assert count(db_session, ChecklistItem) == 0
