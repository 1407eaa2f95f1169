"""Enforcement case pages: register, view, edit, import, list; scope and query counts."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.conftest import signed_in_client
from tests.factories import make_case, make_requirement, make_unit, seed_official_holidays
from tests.helpers import count_statements, page, post_form
from tracker.models import Case, ChecklistItem, Role


@pytest.fixture
def rules(db_session, bureau):
    seed_official_holidays(db_session)
    publish = make_requirement(
        db_session,
        "GS-81",
        trigger="decided_on",
        deadline={"type": "working_days", "days": 20},
        owners=["case_unit"],
    )
    review = make_requirement(
        db_session,
        "SH-81",
        family="legal_review",
        trigger="decided_on",
        applies_to="major",
        deadline={"type": "working_days", "days": -1},
        owners=["case_unit"],
    )
    pay = make_requirement(
        db_session,
        "QT-81",
        trigger="served_on",
        deadline={"type": "natural_days", "days": 15},
        owners=["case_unit"],
    )
    db_session.commit()
    return {"publish": publish, "review": review, "pay": pay}


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def case_form(bureau, **overrides) -> dict:
    data = {
        "case_no": "SEC-2026-001",
        "unit_id": str(bureau.section.id),
        "registered_on": "",
        "decided_on": "2026-10-20",
        "served_on": "",
        "closed_on": "",
        "party": "ACME Trading Ltd.",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def item_rows(response) -> dict[str, object]:
    return {row["data-code"]: row for row in page(response).select("#items tbody tr")}


def field_errors(response, name: str) -> list[str]:
    soup = page(response)
    control = soup.find(id=name)
    assert control is not None, name
    return [e.get_text(strip=True) for e in soup.select(f"#{name} ~ .invalid-feedback")]


# ---------------------------------------------------------------- register


def test_chief_registers_a_case_and_its_items_appear_on_the_case_page(
    chief_client, bureau, rules, clock, db_session
):
    form = page(chief_client.get("/cases/new"))
    options = {int(o["value"]) for o in form.select("#unit_id option")}
    assert options == {bureau.section.id}  # his unit only: the station is not his

    response = post_form(
        chief_client,
        "/cases/new",
        case_form(bureau, served_on="2026-10-22"),
    )
    assert response.status_code == 302
    case = db_session.scalar(select(Case).where(Case.case_no == "SEC-2026-001"))
    assert case is not None and case.unit_id == bureau.section.id
    assert case.served_on == date(2026, 10, 22) and case.party == "ACME Trading Ltd."
    assert response.headers["Location"] == f"/cases/{case.id}"

    shown = chief_client.get(f"/cases/{case.id}")
    assert shown.status_code == 200
    rows = item_rows(shown)
    assert set(rows) == {"GS-81", "QT-81"}  # not major: no legal review item
    items = {
        i.requirement.code: i
        for i in db_session.scalars(select(ChecklistItem).where(ChecklistItem.case_id == case.id))
    }
    publish = rows["GS-81"]
    assert publish.find("a")["href"] == f"/items/{items['GS-81'].id}"
    assert items["GS-81"].due_basis_zh in publish.get_text()
    assert not publish.select("[data-overdue]") and not publish.select("[data-provisional]")
    success = page(shown).select(".alert-success")
    assert len(success) == 1
    assert re.search(r"\b2\b", success[0].get_text().replace(case.case_no, ""))
    assert not page(shown).select(".alert-warning")


def test_major_case_registered_after_its_decision_warns_and_flags_the_review(
    chief_client, bureau, rules, clock, db_session
):
    response = post_form(
        chief_client,
        "/cases/new",
        case_form(bureau, case_no="SEC-2026-002", decided_on="2026-10-08", major="y"),
        follow_redirects=True,
    )
    assert response.status_code == 200
    soup = page(response)
    warnings = soup.select(".alert-warning")
    assert len(warnings) == 1 and re.search(r"\b1\b", warnings[0].get_text())
    rows = item_rows(response)
    review = rows["SH-81"]
    assert review.select("[data-created-overdue]") and review.select("[data-overdue]")
    assert not rows["GS-81"].select("[data-created-overdue]")
    assert soup.select("h1 [data-major]")
    item = db_session.scalar(
        select(ChecklistItem).where(ChecklistItem.requirement_id == rules["review"].id)
    )
    assert item.created_overdue and item.due_date == date(2026, 9, 30)


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        ({"decided_on": ""}, "decided_on", "decision date"),
        ({"served_on": "2026-10-19"}, "served_on", "service date"),
        ({"decided_on": "not a date"}, "decided_on", None),
        ({"case_no": ""}, "case_no", "case number"),
    ],
)
def test_bad_input_shows_field_errors_and_creates_nothing(
    chief_client, bureau, rules, clock, db_session, overrides, field, needle
):
    bureau.user(Role.CHIEF).locale = "en"
    db_session.commit()
    before = (count(db_session, Case), count(db_session, ChecklistItem))
    response = post_form(chief_client, "/cases/new", case_form(bureau, **overrides))
    assert response.status_code == 200
    errors = field_errors(response, field)
    assert errors, page(response).select(".invalid-feedback")
    if needle:
        assert needle in errors[0]
    assert "is-invalid" in page(response).find(id=field)["class"]
    assert (count(db_session, Case), count(db_session, ChecklistItem)) == before


def test_duplicate_case_number_is_refused_next_to_the_field(
    chief_client, bureau, rules, clock, db_session
):
    make_case(db_session, unit=bureau.station, case_no="DUP-1", decided_on=date(2026, 10, 1))
    db_session.commit()
    before = (count(db_session, Case), count(db_session, ChecklistItem))
    response = post_form(chief_client, "/cases/new", case_form(bureau, case_no="DUP-1"))
    assert response.status_code == 200
    errors = field_errors(response, "case_no")
    assert errors and "DUP-1" in errors[0]
    assert (count(db_session, Case), count(db_session, ChecklistItem)) == before


def test_a_chief_cannot_register_for_another_unit(chief_client, bureau, rules, clock, db_session):
    response = post_form(
        chief_client, "/cases/new", case_form(bureau, unit_id=str(bureau.station.id))
    )
    assert response.status_code == 200 and field_errors(response, "unit_id")
    assert count(db_session, Case) == 0


@pytest.mark.parametrize("role", [Role.LEADER, Role.INSPECTOR])
def test_leaders_and_inspectors_cannot_register_import_or_edit(
    app, bureau, rules, db_session, role
):
    case = make_case(db_session, unit=bureau.section, decided_on=date(2026, 10, 1)).case
    db_session.commit()
    client = signed_in_client(app, bureau.user(role))
    assert client.get("/cases/").status_code == 200
    list_page = page(client.get("/cases/"))
    assert not list_page.find("a", href="/cases/new")
    for url in ("/cases/new", "/cases/import", f"/cases/{case.id}/edit"):
        assert client.get(url).status_code == 403, url
        assert client.post(url, data={}).status_code in (400, 403), url
    assert client.get(f"/cases/{case.id}").status_code == 200
    assert not page(client.get(f"/cases/{case.id}")).find("a", href=f"/cases/{case.id}/edit")


# ---------------------------------------------------------------- scope


def test_another_units_case_and_item_are_404_for_chief_and_staff(
    app, bureau, rules, clock, db_session
):
    other = make_case(
        db_session, unit=bureau.station, case_no="STA-9", decided_on=date(2026, 10, 20)
    )
    sub_unit = make_unit(db_session, parent=bureau.section, code="SEC-A")
    sub = make_case(db_session, unit=sub_unit, case_no="SECA-1", decided_on=date(2026, 10, 20))
    db_session.commit()
    other_item, sub_item = other.items[0], sub.items[0]

    for role in (Role.CHIEF, Role.STAFF):
        client = signed_in_client(app, bureau.user(role))
        for url in (
            f"/cases/{other.case.id}",
            f"/cases/{other.case.id}/edit",
            f"/items/{other_item.id}",
            "/cases/999999",
            "/items/999999",
        ):
            assert client.get(url).status_code == 404, (role, url)
        listed = {a.get_text(strip=True) for a in page(client.get("/cases/")).select("#cases a")}
        assert "STA-9" not in listed
        # A chief sees his sub-units' cases; staff only their own unit's.
        expected = 200 if role == Role.CHIEF else 404
        assert client.get(f"/cases/{sub.case.id}").status_code == expected
        assert client.get(f"/items/{sub_item.id}").status_code == expected
        assert ("SECA-1" in listed) == (role == Role.CHIEF)
    assert (
        signed_in_client(app, bureau.user(Role.CHIEF)).get(f"/cases/{sub.case.id}/edit")
    ).status_code == 200

    for role in (Role.LEADER, Role.INSPECTOR, Role.ADMIN):
        client = signed_in_client(app, bureau.user(role))
        assert client.get(f"/cases/{other.case.id}").status_code == 200, role
        assert client.get(f"/items/{other_item.id}").status_code == 200, role
        listed = {a.get_text(strip=True) for a in page(client.get("/cases/")).select("#cases a")}
        assert {"STA-9", "SECA-1"} <= listed


def test_list_filters_search_unit_major_and_year(admin_client, bureau, rules, clock, db_session):
    make_case(db_session, unit=bureau.station, case_no="A-1", decided_on=date(2026, 10, 20))
    make_case(
        db_session,
        unit=bureau.section,
        case_no="B-2",
        decided_on=date(2025, 6, 3),
        major=True,
        party="Lucky Foods",
    )
    db_session.commit()

    def listed(query: str) -> set[str]:
        response = admin_client.get(f"/cases/?{query}")
        assert response.status_code == 200
        return {
            a.get_text(strip=True) for a in page(response).select("#cases tbody td:first-child a")
        }

    assert listed("") == {"A-1", "B-2"}
    assert listed("q=lucky") == {"B-2"}
    assert listed("q=A-1") == {"A-1"}
    assert listed(f"unit={bureau.station.id}") == {"A-1"}
    assert listed("major=1") == {"B-2"}
    assert listed("major=0") == {"A-1"}
    assert listed("year=2025") == {"B-2"}
    row = page(admin_client.get("/cases/?q=A-1")).select_one("#cases tbody tr")
    assert row.select_one("[data-items]").get_text(strip=True) == "1"
    assert row.select_one("[data-overdue-count]").get_text(strip=True) == "0"
    assert "2026年10月20日" in row.get_text()


# ---------------------------------------------------------------- edit


def test_editing_a_case_recomputes_its_deadlines_and_creates_new_items(
    chief_client, bureau, rules, clock, db_session
):
    result = make_case(
        db_session, unit=bureau.section, case_no="SEC-E", decided_on=date(2026, 10, 20)
    )
    db_session.commit()
    case, publish = result.case, result.items[0]
    old_due = publish.due_date
    form = page(chief_client.get(f"/cases/{case.id}/edit"))
    assert form.find(id="decided_on")["value"] == "2026-10-20"
    assert form.find(id="unit_id") is None  # a case's unit cannot change

    response = post_form(
        chief_client,
        f"/cases/{case.id}/edit",
        {
            "case_no": "SEC-E",
            "decided_on": "2026-10-27",
            "served_on": "2026-10-28",
            "registered_on": "",
            "closed_on": "",
            "party": "",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    db_session.expire_all()
    assert publish.due_date > old_due
    rows = item_rows(response)
    assert set(rows) == {"GS-81", "QT-81"}
    success = page(response).select_one(".alert-success").get_text()
    assert re.search(r"\b1\b", success.replace("SEC-E", ""))

    bad = post_form(
        chief_client,
        f"/cases/{case.id}/edit",
        {"case_no": "SEC-E", "decided_on": "2026-10-27", "served_on": "2026-10-01"},
    )
    assert bad.status_code == 200 and field_errors(bad, "served_on")


# ---------------------------------------------------------------- import


def upload(client, data: bytes, name: str = "cases.csv"):
    return post_form(
        client,
        "/cases/import",
        {"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def test_the_import_page_documents_the_csv_format(chief_client, bureau):
    soup = page(chief_client.get("/cases/import"))
    columns = {c.get_text(strip=True) for c in soup.select("#csv-format td code")}
    assert {"case_no", "unit", "decided_on", "served_on", "major", "party"} <= columns


def test_csv_import_through_the_page(chief_client, bureau, rules, clock, db_session):
    good = (
        "case_no,unit,decided_on,served_on,major,party\n"
        "SEC-C1,SEC,2026-10-20,,no,甲公司\n"
        "SEC-C2,SEC,2026-10-08,2026-10-10,yes,乙公司\n"
    ).encode()
    response = upload(chief_client, good)
    assert response.status_code == 200
    assert response.request.path == "/cases/"
    numbers = set(db_session.scalars(select(Case.case_no)))
    assert numbers == {"SEC-C1", "SEC-C2"}
    # C1: publish; C2: publish, review (overdue), pay.
    assert count(db_session, ChecklistItem) == 4
    success = page(response).select_one(".alert-success").get_text()
    assert re.search(r"\b2\b", success) and re.search(r"\b4\b", success)
    assert page(response).select(".alert-warning")  # the review was created overdue


def test_a_bad_csv_lists_line_numbered_errors_and_imports_nothing(
    chief_client, bureau, rules, clock, db_session
):
    bad = (
        b"case_no,unit,decided_on,served_on,major,party\n"
        b"SEC-D1,SEC,2026-10-20,,no,ok\n"
        b"SEC-D2,SEC,,,no,no decision date\n"
        b"SEC-D3,NOPE,2026-10-20,,no,unknown unit\n"
        b"SEC-D4,STA,2026-10-20,,no,not the chief's unit\n"
    )
    response = upload(chief_client, bad)
    assert response.status_code == 200
    lines = [row["data-line"] for row in page(response).select("#import-errors tbody tr")]
    assert lines == ["3", "4", "5"]
    assert count(db_session, Case) == 0 and count(db_session, ChecklistItem) == 0

    missing_file = post_form(chief_client, "/cases/import", {}, content_type="multipart/form-data")
    assert missing_file.status_code == 200 and field_errors(missing_file, "file")


def test_admin_imports_for_any_unit(admin_client, bureau, rules, clock, db_session):
    data = b"case_no,unit,decided_on\nX-1,STA,2026-10-20\nX-2,SEC,2026-10-21\n"
    response = upload(admin_client, data)
    assert response.status_code == 200 and not page(response).select("#import-errors")
    assert count(db_session, Case) == 2


# ---------------------------------------------------------------- query counts


def _statements(client, url: str) -> int:
    assert client.get(url).status_code == 200  # warm up
    with count_statements() as counter:
        assert client.get(url).status_code == 200
    return counter.count


def test_list_and_case_pages_cost_a_fixed_number_of_statements(
    app, bureau, rules, clock, db_session
):
    chief = signed_in_client(app, bureau.user(Role.CHIEF))
    first = make_case(db_session, unit=bureau.section, decided_on=date(2026, 10, 8), major=True)
    db_session.commit()
    list_small = _statements(chief, "/cases/")
    case_small = _statements(chief, f"/cases/{first.case.id}")

    for n in range(29):
        make_case(db_session, unit=bureau.section, decided_on=date(2026, 9, 1 + n), served_on=None)
    for n in range(30):
        make_requirement(
            db_session,
            f"ZZ-{n:02d}",
            trigger="decided_on",
            deadline={"type": "working_days", "days": 5 + n},
            owners=["case_unit"],
        )
    big = make_case(db_session, unit=bureau.section, decided_on=date(2026, 10, 9), major=True)
    db_session.commit()
    assert len(big.items) >= 30
    listing = page(chief.get("/cases/"))
    assert len(listing.select("#cases tbody tr")) == 31
    assert _statements(chief, "/cases/") == list_small
    assert _statements(chief, f"/cases/{big.case.id}") == case_small
