"""The audit-log page: admins and inspectors only, filters, pagination, fixed query count."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.helpers import count_statements, page
from tracker.services import audit


def seqs(response) -> list[int]:
    return [int(row["data-seq"]) for row in page(response).select("#events tbody tr")]


def record(session, action: str, at: datetime, object_id: object = 1, actor=None) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="checklist_item",
        object_id=object_id,
        data={"note": "测试"},
        at=at,
    )


def test_only_admins_and_inspectors_see_it(
    admin_client, inspector_client, leader_client, chief_client, staff_client
):
    assert admin_client.get("/audit/").status_code == 200
    assert inspector_client.get("/audit/").status_code == 200
    for client in (leader_client, chief_client, staff_client):
        assert client.get("/audit/").status_code == 403


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/audit/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_filters_by_action_object_actor_and_local_dates(inspector_client, db_session, bureau):
    chief = bureau.user("chief")
    # 2026-11-03 23:30 in Shanghai is still 15:30 UTC of the 3rd; 00:30 local on the 4th is
    # 16:30 UTC on the 3rd: the date filter must use the bureau's dates.
    record(db_session, "item.submitted", datetime(2026, 11, 3, 15, 30, tzinfo=UTC), 7, chief)
    record(db_session, "item.approved", datetime(2026, 11, 3, 16, 30, tzinfo=UTC), 7)
    record(db_session, "evidence.added", datetime(2026, 11, 5, 2, 0, tzinfo=UTC), 8, chief)
    db_session.commit()

    def actions(query: str) -> list[str]:
        rows = page(inspector_client.get(f"/audit/?{query}")).select("#events tbody tr td code")
        return [code.get_text() for code in rows]

    assert actions("action=item.") == ["item.approved", "item.submitted"]
    assert actions("action=item.submitted") == ["item.submitted"]
    assert actions("object_type=checklist_item&object_id=8") == ["evidence.added"]
    assert actions(f"actor={chief.email}&object_type=checklist_item") == [
        "evidence.added",
        "item.submitted",
    ]
    assert actions("from=2026-11-03&to=2026-11-03&object_type=checklist_item") == ["item.submitted"]
    assert actions("from=2026-11-04&object_type=checklist_item") == [
        "evidence.added",
        "item.approved",
    ]
    assert actions("from=not-a-date&object_type=checklist_item&action=item.approved") == [
        "item.approved"
    ]
    assert actions("action=50%25_") == []  # LIKE wildcards are matched literally


def test_newest_first_paginated_with_a_fixed_number_of_statements(
    app, admin_client, db_session, bureau
):
    at = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    record(db_session, "test.one", at)
    db_session.commit()

    def cost() -> int:
        admin_client.get("/audit/")
        with count_statements() as counter:
            assert admin_client.get("/audit/").status_code == 200
        return counter.count

    small = cost()
    for n in range(120):
        record(db_session, "test.many", at, n)
    db_session.commit()
    assert cost() == small
    first = seqs(admin_client.get("/audit/"))
    assert len(first) == app.config["PER_PAGE"] and first == sorted(first, reverse=True)
    second = seqs(admin_client.get("/audit/?page=2"))
    assert max(second) < min(first)
