"""The catalogue commands: import-catalog, generate, and what bootstrap loads."""

from __future__ import annotations

import yaml
from sqlalchemy import func, select

from tests.factories import catalogue_entry
from tracker.models import (
    AuditEvent,
    Case,
    ChecklistItem,
    HolidayYear,
    Requirement,
    RequirementVersion,
    Unit,
)
from tracker.services.calendar import official_years
from tracker.services.catalogue import DEFAULT_CATALOGUE

SHIPPED = len(yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["requirements"])


def run(app, *args):
    return app.test_cli_runner().invoke(args=["tracker", *args])


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_import_catalog_creates_then_finds_everything_unchanged(app, db_session):
    first = run(app, "import-catalog", str(DEFAULT_CATALOGUE))
    assert first.exit_code == 0, first.output
    assert f"created {SHIPPED}, updated 0, unchanged 0." in first.output
    assert count(db_session, Requirement) == SHIPPED
    second = run(app, "import-catalog", str(DEFAULT_CATALOGUE))
    assert second.exit_code == 0
    assert f"created 0, updated 0, unchanged {SHIPPED}." in second.output
    assert count(db_session, RequirementVersion) == SHIPPED


def test_import_catalog_errors_name_file_entry_and_field(app, db_session, tmp_path):
    run(app, "import-catalog", str(DEFAULT_CATALOGUE))
    before = (
        count(db_session, Requirement),
        count(db_session, RequirementVersion),
        count(db_session, AuditEvent),
    )
    path = tmp_path / "broken.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "format": 1,
                "requirements": [
                    catalogue_entry("GS-80"),
                    catalogue_entry("GS-81", family="publicty"),
                    catalogue_entry("GS-82", cadence="biweekly"),
                    catalogue_entry("GS-83", title_en=None),
                ],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    result = run(app, "import-catalog", str(path))
    assert result.exit_code == 1
    assert str(path) in result.output.splitlines()[0]  # the summary names the file
    errors = [line.strip() for line in result.output.splitlines()[1:]]
    assert len(errors) == 3
    for line, expected in zip(
        errors,
        ["entry 2 (GS-81): family: ", "entry 3 (GS-82): cadence: ", "entry 4 (GS-83): title_en: "],
        strict=True,
    ):
        assert line.startswith(f"{path}:") and expected in line
    after = (
        count(db_session, Requirement),
        count(db_session, RequirementVersion),
        count(db_session, AuditEvent),
    )
    assert after == before
    assert count(db_session, Requirement, Requirement.code == "GS-80") == 0


def test_import_catalog_reports_yaml_and_file_errors(app, db_session, tmp_path):
    path = tmp_path / "syntax.yaml"
    path.write_text("format: 1\nrequirements:\n  - code: [GS-01\n", encoding="utf-8")
    result = run(app, "import-catalog", str(path))
    assert result.exit_code == 1 and f"{path}:" in result.output
    result = run(app, "import-catalog", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1 and "missing.yaml" in result.output
    assert count(db_session, Requirement) == 0


def test_bootstrap_loads_calendar_and_catalogue_once_and_keeps_admin_edits(app, db_session):
    first = run(app, "bootstrap")
    assert first.exit_code == 0, first.output
    years = list(official_years())
    assert f"Holiday calendar: loaded {len(years)} official years" in first.output
    assert f"Catalogue: created {SHIPPED}, updated 0, unchanged 0" in first.output
    assert count(db_session, HolidayYear) == len(years)

    gs01 = db_session.scalar(select(Requirement).where(Requirement.code == "GS-01"))
    gs01.title_en = "Edited by the admin"
    db_session.commit()
    second = run(app, "bootstrap")
    assert second.exit_code == 0
    assert "Holiday calendar: official years already present." in second.output
    assert f"Catalogue: {SHIPPED} requirements already present" in second.output
    db_session.expire_all()
    assert gs01.title_en == "Edited by the admin"


def test_bootstrap_demo_registers_cases_with_event_items(app, db_session, clock):
    result = run(app, "bootstrap", "--demo")
    assert result.exit_code == 0, result.output
    demo_cases = db_session.scalars(select(Case).order_by(Case.case_no)).all()
    assert len(demo_cases) == 5
    case_items = count(db_session, ChecklistItem, ChecklistItem.case_id.is_not(None))
    assert f"Demo cases: registered 5 with {case_items} items." in result.output
    assert case_items >= 5 * 3
    # The major case decided already has its legal review at the legal section, flagged late.
    review = db_session.scalar(
        select(ChecklistItem)
        .join(ChecklistItem.requirement)
        .join(ChecklistItem.case)
        .where(Requirement.code == "SH-01", Case.decided_on < clock.today())
    )
    assert review.unit.code == "FGK" and review.created_overdue
    periodic = count(db_session, ChecklistItem, ChecklistItem.case_id.is_(None))
    assert f"Year {clock.today().year}: created {periodic} items" in result.output

    again = run(app, "bootstrap", "--demo")
    assert again.exit_code == 0
    assert count(db_session, Case) == 5
    assert f"created 0 items, {periodic} already present" in again.output


def test_generate_reports_owners_the_bureau_lacks(app, db_session, bureau):
    run(app, "bootstrap")
    result = run(app, "generate", "--year", "2026")
    assert result.exit_code == 0, result.output
    # The test bureau has none of the demo units' codes; only its station matches a selector.
    assert "GS-01: skipped owner FGK: no such unit" in result.output
    station_items = count(db_session, ChecklistItem, ChecklistItem.unit_id == bureau.station.id)
    assert station_items > 0
    assert count(db_session, ChecklistItem) == station_items + count(
        db_session,
        ChecklistItem,
        ChecklistItem.unit_id.in_(select(Unit.id).where(Unit.kind == "section")),
    )
    assert run(app, "generate", "--year", "1999").exit_code != 0
