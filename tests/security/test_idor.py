"""Object references a caller supplies (ids in URLs, forms, query strings and JSON) never reach
another unit's items, evidence, cases, comments, tokens or messages."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.conftest import signed_in_client
from tests.factories import T0, make_case, make_item, make_requirement
from tests.helpers import post_form, visible_text
from tests.security.world import add_pdf, audit_count
from tracker.models import ApiToken, Comment, EvidenceRemark, ItemStatus, Role
from tracker.services import api_tokens
from tracker.services import submissions as submission_service

HUGE_IDS = (0, 2**31, 2**63, 10**30)
SECRET_TITLE = "仓前所专有的机密要求"
SECRET_PARTY = "仓前所的机密当事人"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def station_item(db_session, bureau):
    requirement = make_requirement(
        db_session, cadence="annual", owners=[bureau.station.code], title_zh=SECRET_TITLE
    )
    item = make_item(db_session, unit=bureau.station, requirement=requirement)
    make_case(db_session, unit=bureau.station, decided_on=date(2026, 10, 9), party=SECRET_PARTY)
    db_session.commit()
    return item


@pytest.mark.parametrize("object_id", HUGE_IDS)
def test_ids_no_row_can_have_are_404_not_a_driver_error(
    app, bureau, chief_client, db_session, object_id
):
    _token, secret = api_tokens.create(
        db_session, actor=None, user=bureau.user(Role.CHIEF), name="t", now=T0
    )
    db_session.commit()
    for url in (
        f"/items/{object_id}",
        f"/cases/{object_id}",
        f"/items/evidence/{object_id}/download",
    ):
        assert chief_client.get(url).status_code == 404, url
    api = app.test_client()
    for url in (f"/api/v1/items/{object_id}", f"/api/v1/evidence/{object_id}/download"):
        response = api.get(url, headers=bearer(secret))
        assert response.status_code == 404, url
        assert response.get_json()["error"]["code"] == "not_found"


def test_an_officer_cannot_work_an_item_of_his_unit_assigned_to_nobody(
    staff_client, db_session, bureau
):
    item = make_item(db_session, unit=bureau.section)
    db_session.commit()
    before = audit_count(db_session)
    url = f"/items/{item.id}"
    response = post_form(staff_client, f"{url}/submit", {"note": "x"}, form_url="/account/tokens")
    assert response.status_code == 403
    response = post_form(
        staff_client,
        f"{url}/links",
        {"url": "https://example.org/", "title": "t"},
        form_url="/account/tokens",
    )
    assert response.status_code == 403
    assert audit_count(db_session) == before
    assert item.status == ItemStatus.OPEN


def test_a_review_cannot_remark_on_evidence_of_another_item(
    inspector_client, db_session, bureau, station_item
):
    chief, other_chief = bureau.user(Role.CHIEF), bureau.users["other_chief"]
    item = make_item(db_session, unit=bureau.section)
    add_pdf(db_session, item, chief)
    foreign = add_pdf(db_session, station_item, other_chief, name="别人的.pdf")
    submission_service.submit(db_session, actor=chief, item=item, note=None, now=T0)
    db_session.commit()
    before = audit_count(db_session)
    response = post_form(
        inspector_client,
        f"/items/{item.id}/review",
        {"decision": "approve", "comment": "ok", f"remark-{foreign.id}": "看不到的证据"},
        form_url=f"/items/{item.id}",
    )
    assert response.status_code in (303, 400)
    assert audit_count(db_session) == before
    assert db_session.scalar(select(func.count()).select_from(EvidenceRemark)) == 0
    assert item.status == ItemStatus.SUBMITTED


def test_an_item_cannot_be_assigned_to_someone_of_another_unit(chief_client, db_session, bureau):
    item = make_item(db_session, unit=bureau.section)
    db_session.commit()
    before = audit_count(db_session)
    post_form(
        chief_client,
        f"/items/{item.id}/assign",
        {"assignee_id": str(bureau.users["other_chief"].id)},
        form_url=f"/items/{item.id}",
    )
    assert item.assignee_id is None
    assert audit_count(db_session) == before


def test_bulk_assign_with_one_foreign_id_assigns_nothing(
    chief_client, db_session, bureau, station_item
):
    own = make_item(db_session, unit=bureau.section)
    db_session.commit()
    before = audit_count(db_session)
    response = chief_client.post(
        "/items/bulk-assign",
        data={
            "item_ids": [str(own.id), str(station_item.id)],
            "assignee_id": str(bureau.user(Role.STAFF).id),
            "csrf_token": _csrf(chief_client),
        },
    )
    assert response.status_code == 404
    assert own.assignee_id is None and audit_count(db_session) == before


def test_comments_of_another_units_item_are_neither_read_nor_written(
    chief_client, db_session, bureau, station_item
):
    other_chief = bureau.users["other_chief"]
    from tracker.services import comments

    comments.add_comment(
        db_session, actor=other_chief, item=station_item, body="所内讨论：机密", now=T0
    )
    db_session.commit()
    assert chief_client.get(f"/items/{station_item.id}").status_code == 404
    response = post_form(
        chief_client,
        f"/items/{station_item.id}/comments",
        {"body": "插话"},
        form_url="/account/tokens",
    )
    assert response.status_code == 404
    assert db_session.scalar(select(func.count()).select_from(Comment)) == 1


def test_another_users_api_token_can_be_neither_revoked_nor_seen(chief_client, db_session, bureau):
    token, _secret = api_tokens.create(
        db_session, actor=None, user=bureau.users["other_chief"], name="所里的脚本", now=T0
    )
    db_session.commit()
    assert "所里的脚本" not in visible_text(chief_client.get("/account/tokens"))
    response = post_form(
        chief_client, f"/account/tokens/{token.id}/revoke", {}, form_url="/account/tokens"
    )
    assert response.status_code == 404
    assert db_session.get(ApiToken, token.id).revoked_at is None


def test_list_pages_and_exports_never_show_another_units_items_or_cases(
    app, db_session, bureau, station_item
):
    """Filters naming another unit's id or code give nothing of it, on every list."""
    chief = bureau.user(Role.CHIEF)
    client = signed_in_client(app, chief)
    sta = bureau.station
    _token, secret = api_tokens.create(db_session, actor=None, user=chief, name="t", now=T0)
    db_session.commit()
    for url in (
        "/items/",
        f"/items/?unit={sta.id}",
        "/items/?q=机密要求",  # a part of it: the query itself is shown back
        "/cases/",
        f"/cases/?unit={sta.id}&q=机密当事人",
        "/dashboard/",
        "/dashboard/deadlines",
        f"/dashboard/deadlines?unit={sta.id}",
        "/dashboard/scores",
        "/reports/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        assert SECRET_TITLE not in text and SECRET_PARTY not in text, url
    for url in (f"/reports/ledger.csv?unit={sta.id}", "/reports/ledger.csv"):
        body = _streamed(client, url)
        assert SECRET_TITLE not in body, url
    api = app.test_client()
    listed = api.get("/api/v1/items?per_page=200", headers=bearer(secret)).get_json()
    assert all(row["unit"]["code"] != "STA" for row in listed["items"])
    refused = api.get("/api/v1/items?unit=STA", headers=bearer(secret))
    assert refused.status_code == 422
    figures = api.get("/api/v1/dashboard?year=2026", headers=bearer(secret)).get_json()
    assert all(row["unit"]["code"] != "STA" for row in figures["rows"])


def _csrf(client) -> str:
    from tests.helpers import csrf_token

    return csrf_token(client, "/account/tokens")


def _streamed(client, url: str) -> str:
    from tests.integration.test_samples_web import get_streamed

    response, _streamed_flag, body = get_streamed(client, url)
    assert response.status_code == 200, url
    return body.decode("utf-8-sig")


def test_a_calendar_feed_needs_its_exact_live_token(app, db_session, bureau):
    from tracker.reports.feed import create_feed, revoke_feeds

    chief = bureau.user(Role.CHIEF)
    token = create_feed(db_session, actor=chief, now=T0)
    db_session.commit()
    client = app.test_client()
    assert client.get(f"/reports/feed/{token}.ics").status_code == 200
    for guess in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x", "0" * 300, "%00"):
        assert client.get(f"/reports/feed/{guess}.ics").status_code == 404
    revoke_feeds(db_session, actor=chief, now=T0)
    db_session.commit()
    assert client.get(f"/reports/feed/{token}.ics").status_code == 404
