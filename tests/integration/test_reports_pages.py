"""The reports page: what each role is offered, the year chooser, and its bounded queries."""

from __future__ import annotations

import pytest

from tests.conftest import signed_in_client
from tests.factories import make_unit
from tests.helpers import count_statements, page
from tracker.models import ReportNarrative


def links(response) -> set[str]:
    return {a["href"] for a in page(response).select("main a[href], a[href]")}


def test_admin_is_offered_both_downloads_and_the_editor(app, bureau, clock):
    response = signed_in_client(app, bureau.user("admin")).get("/reports/?year=2025")
    assert response.status_code == 200
    soup = page(response)
    assert soup.select_one("#year option[selected]")["value"] == "2025"
    form = soup.select_one("#ledger-form")
    assert form["action"] == "/reports/ledger.xlsx"
    assert form.select_one("input[name=year]")["value"] == "2025"
    formactions = {b["formaction"] for b in form.select("button[formaction]")}
    assert formactions == {"/reports/ledger.xlsx", "/reports/ledger.csv"}
    assert soup.select_one("#report-download")["href"] == "/reports/annual-report.docx?year=2025"
    assert soup.select_one("#narrative-link")["href"] == "/reports/narrative?year=2025"
    assert "/reports/feed" in links(response)


def test_the_year_defaults_to_this_year(app, bureau, clock):
    soup = page(signed_in_client(app, bureau.user("admin")).get("/reports/"))
    assert soup.select_one("#year option[selected]")["value"] == "2026"


@pytest.mark.parametrize(
    ("role", "report", "editor"),
    [("leader", True, False), ("inspector", False, False), ("chief", False, False)],
)
def test_other_roles_see_what_they_may_use(app, bureau, clock, role, report, editor):
    response = signed_in_client(app, bureau.user(role)).get("/reports/")
    assert response.status_code == 200
    soup = page(response)
    assert soup.select_one("#ledger-form") is not None
    assert (soup.select_one("#report-download") is not None) is report
    assert (soup.select_one("#narrative-link") is not None) is editor


def test_a_chief_chooses_only_among_his_units(app, bureau, clock):
    soup = page(signed_in_client(app, bureau.user("chief")).get("/reports/"))
    options = {o["value"] for o in soup.select("#unit option")}
    assert options == {"0", str(bureau.section.id)}


def test_staff_and_anonymous_are_kept_out(app, bureau, client):
    assert signed_in_client(app, bureau.user("staff")).get("/reports/").status_code == 403
    response = client.get("/reports/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_english_page(app, bureau, clock, db_session):
    admin = bureau.user("admin")
    admin.locale = "en"
    db_session.commit()
    soup = page(signed_in_client(app, admin).get("/reports/"))
    assert soup.select_one("#report-download").get_text(strip=True) == "Download DOCX"


def test_the_page_costs_a_fixed_number_of_statements(app, bureau, clock, db_session):
    client = signed_in_client(app, bureau.user("admin"))
    client.get("/reports/")  # warm-up (the session, the user)
    with count_statements() as small:
        assert client.get("/reports/").status_code == 200
    for n in range(15):
        make_unit(db_session, parent=bureau.root, code=f"R{n}")
    for key in ("overview", "law_study", "assessment"):
        db_session.add(ReportNarrative(year=2026, section=key, text="已撰写"))
    db_session.commit()
    with count_statements() as large:
        response = client.get("/reports/")
    assert response.status_code == 200
    assert large.count == small.count <= 6, large.statements
    written = page(response).select("#narrative-status .text-success")
    assert len(written) == 3
