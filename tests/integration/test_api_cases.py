"""POST /api/v1/cases and GET /api/v1/cases/<id>: the case service's items and field errors,
per role and scope."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import T0, make_case, make_requirement, seed_official_holidays
from tracker.models import AuditEvent, Case, Role
from tracker.services import api_tokens


def bearer_for(db_session, user) -> dict[str, str]:
    _token, secret = api_tokens.create(db_session, actor=None, user=user, name="t", now=T0)
    db_session.commit()
    return {"Authorization": f"Bearer {secret}"}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


@pytest.fixture
def publication(db_session, clock):
    """An event requirement: publish within 20 working days of the decision, by the case's unit."""
    seed_official_holidays(db_session)
    made = make_requirement(db_session, "GS-01", title_zh="行政处罚决定公示")
    db_session.commit()
    return made


CASE = {
    "case_no": "余市监处〔2026〕201号",
    "unit": "SEC",
    "decided_on": "2026-10-09",
    "served_on": "2026-10-12",
    "major": False,
    "party": "杭州某某商贸有限公司",
}


@pytest.mark.parametrize("role", [Role.CHIEF, Role.STAFF, Role.ADMIN])
def test_register_a_case_creates_its_items(client, db_session, bureau, publication, role):
    response = client.post(
        "/api/v1/cases", json=CASE, headers=bearer_for(db_session, bureau.user(role))
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["case_no"] == CASE["case_no"] and body["unit"]["code"] == "SEC"
    assert body["decided_on"] == "2026-10-09" and body["served_on"] == "2026-10-12"
    (item,) = body["items"]
    assert item["requirement"]["code"] == "GS-01" and item["case"]["id"] == body["id"]
    # 20 working days after 9 October 2026, on the official calendar.
    assert item["due_date"] == "2026-11-05" and item["due_provisional"] is False
    assert response.headers["Location"] == f"/api/v1/cases/{body['id']}"
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "case.created")).one()
    assert event.actor_id == bureau.user(role).id and event.data["items"] == [item["id"]]


@pytest.mark.parametrize("role", [Role.LEADER, Role.INSPECTOR])
def test_roles_that_do_not_register_cases_get_403(client, db_session, bureau, publication, role):
    response = client.post(
        "/api/v1/cases", json=CASE, headers=bearer_for(db_session, bureau.user(role))
    )
    assert error_of(response, 403)["code"] == "forbidden"
    assert db_session.scalar(select(func.count(Case.id))) == 0


def test_a_unit_outside_the_scope_is_a_field_error(client, db_session, bureau, publication):
    headers = bearer_for(db_session, bureau.users["other_chief"])
    error = error_of(client.post("/api/v1/cases", json=CASE, headers=headers), 422)
    assert list(error["fields"]) == ["unit"]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"case_no": None, "unit": None, "decided_on": None}, {"case_no", "unit", "decided_on"}),
        ({"decided_on": "2026-02-30"}, {"decided_on"}),
        ({"decided_on": "1900-01-01"}, {"decided_on"}),
        ({"served_on": "2026-10-01"}, {"served_on"}),  # before the decision (service rule)
        ({"case_no": "  "}, {"case_no"}),
        ({"case_no": "号" * 65}, {"case_no"}),
        ({"party": "某" * 201}, {"party"}),
        ({"major": "yes"}, {"major"}),
        ({"case_no": 12, "party": 3}, {"case_no", "party"}),
        ({"unit": "NOPE"}, {"unit"}),
    ],
)
def test_bad_case_bodies_are_422_with_field_errors(
    client, db_session, bureau, publication, change, fields
):
    body = {k: v for k, v in {**CASE, **change}.items() if v is not None}
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    error = error_of(client.post("/api/v1/cases", json=body, headers=headers), 422)
    assert error["code"] == "validation_failed" and set(error["fields"]) == fields
    assert all(messages and all(messages) for messages in error["fields"].values())


def test_a_registered_case_number_is_422(client, db_session, bureau, publication):
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    assert client.post("/api/v1/cases", json=CASE, headers=headers).status_code == 201
    error = error_of(client.post("/api/v1/cases", json=CASE, headers=headers), 422)
    assert list(error["fields"]) == ["case_no"]


def test_not_json_is_415_and_broken_json_400(client, db_session, bureau, publication):
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    error_of(client.post("/api/v1/cases", data="case_no=1", headers=headers), 415)
    error_of(
        client.post("/api/v1/cases", data="{", content_type="application/json", headers=headers),
        400,
    )


def test_read_a_case_with_its_items(client, db_session, bureau, publication):
    from datetime import date

    result = make_case(db_session, unit=bureau.station, decided_on=date(2026, 10, 9))
    db_session.commit()
    url = f"/api/v1/cases/{result.case.id}"
    body = client.get(url, headers=bearer_for(db_session, bureau.users["other_chief"])).get_json()
    assert body["id"] == result.case.id and len(body["items"]) == 1
    assert body["items"][0]["unit"]["code"] == "STA"
    for role in (Role.CHIEF, Role.STAFF):
        error_of(client.get(url, headers=bearer_for(db_session, bureau.user(role))), 404)
    error_of(
        client.get("/api/v1/cases/999999", headers=bearer_for(db_session, bureau.user("admin"))),
        404,
    )
    for role in (Role.ADMIN, Role.LEADER, Role.INSPECTOR):
        assert client.get(url, headers=bearer_for(db_session, bureau.user(role))).status_code == 200
