"""POST /api/v1/items/<id>/submit and /review per role: 404 outside the scope, 403 without the
right, 409 in the wrong state, 400/415/422 on bad bodies; the services' audit events."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import T0, make_item
from tests.unit.test_filetypes import pdf_bytes
from tracker.models import AuditEvent, ItemStatus, Role
from tracker.services import api_tokens, evidence
from tracker.storage import LocalBlobStorage


def bearer_for(db_session, user) -> dict[str, str]:
    _token, secret = api_tokens.create(db_session, actor=None, user=user, name="t", now=T0)
    db_session.commit()
    return {"Authorization": f"Bearer {secret}"}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


@pytest.fixture
def item(db_session, bureau, clock, tmp_path: Path):
    """A section item with one piece of evidence, ready to submit."""
    made = make_item(db_session, unit=bureau.section)
    evidence.add_files(
        db_session,
        actor=bureau.user(Role.CHIEF),
        item=made,
        files=[(io.BytesIO(pdf_bytes()), "a.pdf")],
        storage=LocalBlobStorage(tmp_path),
        max_bytes=1 << 20,
        now=T0,
    )
    db_session.commit()
    return made


@pytest.fixture
def submitted(client, db_session, bureau, item):
    response = client.post(
        f"/api/v1/items/{item.id}/submit",
        json={"note": "请审核"},
        headers=bearer_for(db_session, bureau.user(Role.CHIEF)),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return item


# ---------------------------------------------------------------- submit


def test_chief_submits(client, db_session, bureau, submitted):
    db_session.expire_all()
    assert submitted.status == ItemStatus.SUBMITTED
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "item.submitted")
    ).one()
    assert event.data["round"] == 1 and event.data["note"] == "请审核"


def test_submit_answer_has_the_item_and_the_round(client, db_session, bureau, item):
    body = client.post(
        f"/api/v1/items/{item.id}/submit", headers=bearer_for(db_session, bureau.user("chief"))
    ).get_json()
    assert body["item"]["status"] == "submitted"
    assert body["submission"]["round"] == 1 and body["submission"]["evidence_count"] == 1


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.STAFF, 403),
        (Role.LEADER, 403),
        (Role.INSPECTOR, 403),
        ("other_chief", 404),
    ],
)
def test_submit_refused_by_role_or_scope(client, db_session, bureau, item, role, status):
    headers = bearer_for(db_session, bureau.users[str(role)])
    error_of(client.post(f"/api/v1/items/{item.id}/submit", headers=headers), status)
    db_session.expire_all()
    assert item.status == ItemStatus.OPEN


def test_submit_without_evidence_is_422_and_twice_is_409(client, db_session, bureau, clock):
    bare = make_item(db_session, unit=bureau.section)
    db_session.commit()
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    error = error_of(client.post(f"/api/v1/items/{bare.id}/submit", headers=headers), 422)
    assert "evidence" in error["fields"]


def test_submit_twice_is_409(client, db_session, bureau, submitted):
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    error = error_of(client.post(f"/api/v1/items/{submitted.id}/submit", headers=headers), 409)
    assert error["code"] == "invalid_transition"


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"json": {"note": 5}}, 422, "note"),
        ({"json": {"note": "长" * 2001}}, 422, "note"),
        ({"data": "{not json", "content_type": "application/json"}, 400, None),
        ({"json": ["a list"]}, 400, None),
        ({"data": "note=x", "content_type": "application/x-www-form-urlencoded"}, 415, None),
    ],
)
def test_submit_bad_bodies(client, db_session, bureau, item, kwargs, status, field):
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    error = error_of(
        client.post(f"/api/v1/items/{item.id}/submit", headers=headers, **kwargs), status
    )
    if field:
        assert field in error["fields"]


# ---------------------------------------------------------------- review


def test_inspector_approves(client, db_session, bureau, submitted):
    response = client.post(
        f"/api/v1/items/{submitted.id}/review",
        json={"decision": "approve", "comment": "材料齐全"},
        headers=bearer_for(db_session, bureau.user(Role.INSPECTOR)),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["item"]["status"] == "approved"
    assert body["review"]["decision"] == "approve" and body["review"]["round"] == 1
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "item.approved")).one()
    assert event.actor_id == bureau.user(Role.INSPECTOR).id


def test_admin_returns_with_a_reason(client, db_session, bureau, submitted):
    response = client.post(
        f"/api/v1/items/{submitted.id}/review",
        json={"decision": "return", "comment": "缺少盖章页"},
        headers=bearer_for(db_session, bureau.user(Role.ADMIN)),
    )
    assert response.status_code == 200
    assert response.get_json()["item"]["status"] == "returned"


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.CHIEF, 403), (Role.STAFF, 403), (Role.LEADER, 403), ("other_chief", 404)],
)
def test_review_refused_by_role_or_scope(client, db_session, bureau, submitted, role, status):
    headers = bearer_for(db_session, bureau.users[str(role)])
    response = client.post(
        f"/api/v1/items/{submitted.id}/review", json={"decision": "approve"}, headers=headers
    )
    error_of(response, status)


def test_an_inspector_who_submitted_may_not_review(client, db_session, bureau, clock, tmp_path):
    """Separation of duties comes from the review service: 403 with its reason."""
    admin = bureau.user(Role.ADMIN)
    own = make_item(db_session, unit=bureau.legal)
    evidence.add_files(
        db_session,
        actor=admin,
        item=own,
        files=[(io.BytesIO(pdf_bytes()), "a.pdf")],
        storage=LocalBlobStorage(tmp_path),
        max_bytes=1 << 20,
        now=T0,
    )
    db_session.commit()
    headers = bearer_for(db_session, admin)
    assert client.post(f"/api/v1/items/{own.id}/submit", headers=headers).status_code == 200
    response = client.post(
        f"/api/v1/items/{own.id}/review", json={"decision": "approve"}, headers=headers
    )
    assert error_of(response, 403)["code"] == "forbidden"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "decision"),
        ({"decision": "maybe"}, "decision"),
        ({"decision": 1}, "decision"),
        ({"decision": "return"}, "comment"),  # a return needs its reason (the service says so)
        ({"decision": "return", "comment": "  "}, "comment"),
        ({"decision": "approve", "comment": ["x"]}, "comment"),
    ],
)
def test_review_bad_bodies_are_422(client, db_session, bureau, submitted, body, field):
    headers = bearer_for(db_session, bureau.user(Role.INSPECTOR))
    response = client.post(f"/api/v1/items/{submitted.id}/review", json=body, headers=headers)
    error = error_of(response, 422)
    assert error["code"] == "validation_failed" and field in error["fields"]


def test_reviewing_an_open_item_is_409(client, db_session, bureau, item):
    headers = bearer_for(db_session, bureau.user(Role.INSPECTOR))
    response = client.post(
        f"/api/v1/items/{item.id}/review", json={"decision": "approve"}, headers=headers
    )
    assert error_of(response, 409)["code"] == "invalid_transition"
