"""The item page: requirement text, due date and its basis, provisional and overdue warnings."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import signed_in_client
from tests.factories import make_case, make_requirement, seed_official_holidays
from tests.helpers import count_statements, page
from tracker.models import Role


@pytest.fixture
def publish(db_session, bureau):
    seed_official_holidays(db_session)  # official tables up to 2026: 2027 is not covered
    requirement = make_requirement(
        db_session,
        "GS-71",
        trigger="decided_on",
        deadline={"type": "working_days", "days": 20},
        owners=["case_unit"],
        description_zh="作出行政处罚决定之日起二十个工作日内公示。",
        description_en="Publish within 20 working days of the decision.",
        legal_basis="《企业信息公示暂行条例》第六条",
        evidence_hint_zh="公示页面截图",
        evidence_hint_en="Screenshot of the published page",
    )
    db_session.commit()
    return requirement


def _item(db_session, bureau, decided_on: date, **fields):
    result = make_case(db_session, unit=bureau.section, decided_on=decided_on, **fields)
    db_session.commit()
    (item,) = result.items
    return result.case, item


def test_item_page_shows_the_requirement_and_the_due_basis(
    chief_client, bureau, publish, clock, db_session
):
    case, item = _item(db_session, bureau, date(2026, 9, 30))
    assert not item.due_provisional
    soup = page(chief_client.get(f"/items/{item.id}"))
    assert "GS-71" in soup.h1.get_text() and publish.title_zh in soup.h1.get_text()
    assert soup.select_one("#due-basis").get_text(strip=True) == item.due_basis_zh
    assert "国庆节" in item.due_basis_zh
    assert soup.select_one("#due-date").get_text(strip=True).startswith("2026年11月3日")
    assert soup.select_one("#description").get_text(strip=True) == publish.description_zh
    assert soup.select_one("#legal-basis").get_text(strip=True) == publish.legal_basis
    assert soup.select_one("#evidence-hint").get_text(strip=True) == "公示页面截图"
    assert soup.select_one("#unit").get_text(strip=True) == bureau.section.name
    assert soup.select_one("#case a")["href"] == f"/cases/{case.id}"
    assert soup.select_one("#status [data-status='open']")
    assert not soup.select("[data-provisional-warning]")
    assert not soup.select("[data-overdue]")  # due 3 Nov, today 2 Nov
    assert not soup.select("[data-created-overdue-warning]")


def test_item_page_in_english(chief_client, bureau, publish, clock, db_session):
    bureau.user(Role.CHIEF).locale = "en"
    _case, item = _item(db_session, bureau, date(2026, 9, 30))
    soup = page(chief_client.get(f"/items/{item.id}"))
    assert soup.select_one("#due-basis").get_text(strip=True) == item.due_basis_en
    assert "Screenshot of the published page" in soup.select_one("#evidence-hint").get_text()
    assert publish.title_en in soup.h1.get_text()


def test_a_deadline_in_2027_is_provisional_and_warned(
    chief_client, bureau, publish, clock, db_session
):
    _case, item = _item(db_session, bureau, date(2026, 12, 20))
    assert item.due_provisional and item.due_date.year == 2027
    soup = page(chief_client.get(f"/items/{item.id}"))
    warning = soup.select("[data-provisional-warning]")
    assert len(warning) == 1 and "alert-warning" in warning[0]["class"]
    assert soup.select_one("#due-date [data-provisional]")
    assert soup.select_one("#due-basis").get_text(strip=True) == item.due_basis_zh


def test_overdue_and_created_overdue_are_shown(chief_client, bureau, publish, clock, db_session):
    review = make_requirement(
        db_session,
        "SH-71",
        trigger="decided_on",
        applies_to="major",
        deadline={"type": "working_days", "days": -1},
        owners=["case_unit"],
    )
    result = make_case(db_session, unit=bureau.section, decided_on=date(2026, 10, 8), major=True)
    db_session.commit()
    item = next(i for i in result.items if i.requirement_id == review.id)
    soup = page(chief_client.get(f"/items/{item.id}"))
    assert soup.select_one("#status [data-overdue]")
    assert soup.select_one("#status [data-created-overdue]")
    assert soup.select("[data-created-overdue-warning]")


def test_another_units_item_is_404_and_bureau_roles_see_it(app, bureau, publish, clock, db_session):
    result = make_case(db_session, unit=bureau.station, decided_on=date(2026, 10, 20))
    db_session.commit()
    (item,) = result.items
    for role in (Role.CHIEF, Role.STAFF):
        assert signed_in_client(app, bureau.user(role)).get(f"/items/{item.id}").status_code == 404
    assert (
        signed_in_client(app, bureau.users["other_chief"]).get(f"/items/{item.id}").status_code
        == 200
    )
    for role in (Role.LEADER, Role.INSPECTOR, Role.ADMIN):
        assert signed_in_client(app, bureau.user(role)).get(f"/items/{item.id}").status_code == 200


def test_item_page_costs_a_fixed_number_of_statements(
    chief_client, bureau, publish, clock, db_session
):
    _case, item = _item(db_session, bureau, date(2026, 10, 20))

    def statements() -> int:
        assert chief_client.get(f"/items/{item.id}").status_code == 200
        with count_statements() as counter:
            assert chief_client.get(f"/items/{item.id}").status_code == 200
        return counter.count

    small = statements()
    for n in range(30):
        make_case(db_session, unit=bureau.section, decided_on=date(2026, 9, 1 + n))
    db_session.commit()
    assert statements() == small
