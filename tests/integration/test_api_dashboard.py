"""GET /api/v1/dashboard?year=: figures per unit and family, aggregated in one SQL query,
scoped to the token user's units."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import T0, make_item, make_requirement
from tests.helpers import count_statements
from tracker.models import ItemStatus, Role
from tracker.services import api_tokens, figures


def bearer_for(db_session, user) -> dict[str, str]:
    _token, secret = api_tokens.create(db_session, actor=None, user=user, name="t", now=T0)
    db_session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def ledger(db_session, bureau, clock):
    study = make_requirement(db_session, family="law_study", cadence="annual", owners=["SEC"])
    make_item(db_session, unit=bureau.section, status=ItemStatus.APPROVED)
    make_item(db_session, unit=bureau.section, due_date=date(2026, 10, 1))  # overdue
    make_item(db_session, unit=bureau.section, requirement=study, status=ItemStatus.SUBMITTED)
    make_item(db_session, unit=bureau.station, period="2026-Q2", status=ItemStatus.APPROVED)
    make_item(db_session, unit=bureau.station, period="2025")  # another year
    db_session.commit()


def test_figures_per_unit_and_family(client, db_session, bureau, ledger):
    headers = bearer_for(db_session, bureau.user(Role.LEADER))
    body = client.get("/api/v1/dashboard?year=2026", headers=headers).get_json()
    assert body["year"] == 2026 and body["as_of"] == "2026-11-02"
    rows = {(r["unit"]["code"], r["family"]): r for r in body["rows"]}
    assert set(rows) == {("SEC", "publicity"), ("SEC", "law_study"), ("STA", "publicity")}
    sec = rows[("SEC", "publicity")]
    assert sec["total"] == 2 and sec["overdue"] == 1 and sec["completion_rate"] == 0.5
    assert sec["by_status"] == {"open": 1, "submitted": 0, "returned": 0, "approved": 1}
    assert rows[("STA", "publicity")]["completion_rate"] == 1.0
    assert body["totals"]["total"] == 4 and body["totals"]["completion_rate"] == 0.5


def test_scoped_to_the_users_units(client, db_session, bureau, ledger):
    for role, units in [(Role.CHIEF, {"SEC"}), (Role.STAFF, {"SEC"}), ("other_chief", {"STA"})]:
        headers = bearer_for(db_session, bureau.users[str(role)])
        body = client.get("/api/v1/dashboard?year=2026", headers=headers).get_json()
        assert {r["unit"]["code"] for r in body["rows"]} == units, role


def test_default_year_and_bad_years(client, db_session, bureau, ledger):
    headers = bearer_for(db_session, bureau.user(Role.ADMIN))
    assert client.get("/api/v1/dashboard", headers=headers).get_json()["year"] == 2026
    for bad in ("1999", "abc", "2101"):
        response = client.get(f"/api/v1/dashboard?year={bad}", headers=headers)
        assert response.status_code == 422 and "year" in response.get_json()["error"]["fields"]
    assert client.get("/api/v1/dashboard?year=2030", headers=headers).get_json()["rows"] == []


def test_case_items_count_in_the_year_of_their_decision(db_session, bureau, clock):
    from tests.factories import make_case

    make_requirement(db_session)  # an event requirement owned by the case's unit
    make_case(db_session, unit=bureau.section, decided_on=date(2026, 3, 2))
    make_case(db_session, unit=bureau.section, decided_on=date(2025, 12, 30))
    rows = figures.unit_family_figures(db_session, year=2026, today=date(2026, 11, 2), viewer=None)
    assert [(r.unit_code, r.total) for r in rows] == [("SEC", 1)]


def test_two_aggregate_queries_whatever_the_number_of_items(client, db_session, bureau, ledger):
    headers = bearer_for(db_session, bureau.user(Role.ADMIN))
    client.get("/api/v1/dashboard", headers=headers)
    with count_statements() as few:
        client.get("/api/v1/dashboard", headers=headers)
    for _ in range(30):
        make_item(db_session, unit=bureau.legal)
    db_session.commit()
    with count_statements() as many:
        body = client.get("/api/v1/dashboard", headers=headers).get_json()
    # The token, the year's overdue items per unit and family, the unit x family tally.
    assert few.count == many.count == 3, many.statements
    overdue, kept = many.statements[-2:]
    assert "GROUP BY" in overdue.upper() and "due_date <" in overdue
    assert "GROUP BY" in kept.upper() and "FROM unit_family_tally" in kept
    assert body["totals"]["total"] == 34
