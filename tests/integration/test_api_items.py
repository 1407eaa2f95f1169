"""GET /api/v1/items and /items/<id>: scope per role, filters, pagination, 422s, the detail, and
a fixed number of SQL statements per page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.factories import T0, make_item, make_requirement
from tests.helpers import count_statements
from tracker.models import ItemStatus, Role
from tracker.services import api_tokens


def bearer_for(db_session, user) -> dict[str, str]:
    _token, secret = api_tokens.create(db_session, actor=None, user=user, name="t", now=T0)
    db_session.commit()
    return {"Authorization": f"Bearer {secret}"}


def get(client, url: str, headers: dict, status: int = 200) -> dict:
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


@pytest.fixture
def items(db_session, bureau, clock):
    """One item in each of the three working units (legal, section, station)."""
    made = {
        "legal": make_item(db_session, unit=bureau.legal),
        "section": make_item(db_session, unit=bureau.section),
        "station": make_item(db_session, unit=bureau.station),
    }
    db_session.commit()
    return made


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        (Role.ADMIN, {"legal", "section", "station"}),
        (Role.LEADER, {"legal", "section", "station"}),
        (Role.INSPECTOR, {"legal", "section", "station"}),
        (Role.CHIEF, {"section"}),
        (Role.STAFF, {"section"}),
        ("other_chief", {"station"}),
    ],
)
def test_list_is_scoped_to_the_token_users_units(client, db_session, bureau, items, role, visible):
    headers = bearer_for(db_session, bureau.users[str(role)])
    body = get(client, "/api/v1/items", headers)
    ids = {i["id"] for i in body["items"]}
    assert ids == {items[name].id for name in visible}
    assert body["total"] == len(visible) and body["page"] == 1 and body["per_page"] == 50


@pytest.mark.parametrize("role", [Role.CHIEF, Role.STAFF, "other_chief"])
def test_detail_outside_the_scope_is_404_like_a_missing_id(client, db_session, bureau, items, role):
    user = bureau.users[str(role)]
    headers = bearer_for(db_session, user)
    hidden = items["legal"]
    outside = get(client, f"/api/v1/items/{hidden.id}", headers, 404)
    missing = get(client, "/api/v1/items/987654", headers, 404)
    assert outside == missing  # nothing tells an existing item from a missing one
    assert get(client, "/api/v1/items/99999999999999999999999", headers, 404) == missing


def test_item_shape_of_the_design(client, db_session, bureau, items):
    body = get(client, "/api/v1/items", bearer_for(db_session, bureau.user(Role.CHIEF)))
    item = body["items"][0]
    assert set(item) >= {
        "id",
        "requirement",
        "unit",
        "period",
        "case",
        "due_date",
        "due_provisional",
        "due_basis",
        "status",
        "overdue",
        "assignee",
    }
    assert set(item["requirement"]) >= {"code", "family", "title"}
    assert item["unit"] == {"code": "SEC", "name": bureau.section.name}
    assert item["period"] == "2026" and item["case"] is None and item["status"] == "open"
    assert date.fromisoformat(item["due_date"]) and isinstance(item["due_provisional"], bool)


def test_filters(client, db_session, bureau, clock):
    law = make_requirement(db_session, family="law_study", cadence="annual", owners=["SEC"])
    studied = make_item(db_session, unit=bureau.section, requirement=law)
    quarterly = make_item(
        db_session, unit=bureau.section, period="2026-Q3", status=ItemStatus.SUBMITTED
    )
    late = make_item(db_session, unit=bureau.station, due_date=date(2026, 10, 1))
    done = make_item(
        db_session, unit=bureau.station, due_date=date(2026, 10, 1), status=ItemStatus.APPROVED
    )
    db_session.commit()
    headers = bearer_for(db_session, bureau.user(Role.ADMIN))

    def ids(query: str) -> set[int]:
        return {i["id"] for i in get(client, f"/api/v1/items?{query}", headers)["items"]}

    assert ids("family=law_study") == {studied.id}
    assert ids("period=2026q3") == {quarterly.id}  # typed as the web filter accepts it
    assert ids("unit=sta") == {late.id, done.id}
    assert ids("status=overdue") == {late.id}
    assert ids("overdue=true") == {late.id}
    assert late.id not in ids("overdue=false") and done.id in ids("overdue=false")
    assert ids("status=approved") == {done.id}
    assert ids("due_to=2026-10-01") == {late.id, done.id}
    assert late.id not in ids("due_from=2026-10-02")
    assert ids("unit=STA&status=open") == {late.id}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("family=cooking", "family"),
        ("status=lost", "status"),
        ("overdue=maybe", "overdue"),
        ("due_from=2026-13-01", "due_from"),
        ("due_to=yesterday", "due_to"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("per_page=201", "per_page"),
        ("unit=NOPE", "unit"),
        ("unit=LEGAL", "unit"),  # exists, but not one of the chief's units
    ],
)
def test_bad_filters_are_422_with_field_errors(client, db_session, bureau, query, field):
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    body = get(client, f"/api/v1/items?{query}", headers, 422)
    assert body["error"]["code"] == "validation_failed"
    assert list(body["error"]["fields"]) == [field] and body["error"]["fields"][field][0]


def test_pagination_and_links(client, db_session, bureau, clock):
    for _ in range(5):
        make_item(db_session, unit=bureau.section)
    db_session.commit()
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    first = get(client, "/api/v1/items?per_page=2&status=open", headers)
    assert first["total"] == 5 and len(first["items"]) == 2
    assert first["links"]["prev"] is None
    assert first["links"]["self"] == "/api/v1/items?status=open&page=1&per_page=2"
    second = get(client, first["links"]["next"], headers)
    third = get(client, second["links"]["next"], headers)
    assert len(third["items"]) == 1 and third["links"]["next"] is None
    assert second["links"]["prev"] == first["links"]["self"]
    seen = [i["id"] for page in (first, second, third) for i in page["items"]]
    assert len(set(seen)) == 5
    beyond = get(client, "/api/v1/items?per_page=2&page=9", headers)
    assert beyond["items"] == [] and beyond["links"]["prev"].endswith("page=3&per_page=2")


def test_the_list_costs_the_same_statements_for_1_and_40_items(client, db_session, bureau, clock):
    requirement = make_requirement(db_session, cadence="annual", owners=["SEC"])
    make_item(
        db_session,
        unit=bureau.section,
        requirement=requirement,
        assignee_id=bureau.user("staff").id,
    )
    db_session.commit()
    headers = bearer_for(db_session, bureau.user(Role.CHIEF))
    client.get("/api/v1/items", headers=headers)  # last_used_at written once, not counted below
    with count_statements() as one:
        assert len(get(client, "/api/v1/items?per_page=200", headers)["items"]) == 1
    for _ in range(39):
        make_item(db_session, unit=bureau.section, assignee_id=bureau.user("staff").id)
    make_item(db_session, unit=bureau.section, period="2026-H2")
    db_session.commit()
    with count_statements() as forty:
        assert len(get(client, "/api/v1/items?per_page=200", headers)["items"]) == 41
    assert one.count == forty.count == 3, forty.statements  # token, COUNT, the page


def test_detail_has_evidence_reviews_and_history(client, db_session, bureau, items, tmp_path):
    from tests.unit.test_filetypes import pdf_bytes
    from tracker.services import evidence, reviews, submissions
    from tracker.storage import LocalBlobStorage

    item = items["section"]
    chief, inspector = bureau.user(Role.CHIEF), bureau.user(Role.INSPECTOR)
    import io

    added = evidence.add_files(
        db_session,
        actor=chief,
        item=item,
        files=[(io.BytesIO(pdf_bytes()), "公示截图.pdf")],
        storage=LocalBlobStorage(tmp_path),
        max_bytes=1 << 20,
        now=T0,
    )
    submissions.submit(db_session, actor=chief, item=item, now=T0 + timedelta(minutes=1))
    reviews.decide(
        db_session,
        actor=inspector,
        item=item,
        decision="return",
        comment="请补充盖章页",
        now=T0 + timedelta(minutes=2),
    )
    db_session.commit()
    body = get(client, f"/api/v1/items/{item.id}", bearer_for(db_session, bureau.user(Role.STAFF)))
    assert body["status"] == "returned"
    (piece,) = body["evidence"]
    assert piece["id"] == added[0].id and piece["filename"] == "公示截图.pdf"
    assert piece["sha256"] == added[0].blob_sha256 and piece["size"] == len(pdf_bytes())
    assert piece["uploaded_by"]["email"] == chief.email
    assert piece["download"] == f"/api/v1/evidence/{piece['id']}/download"
    assert [s["round"] for s in body["submissions"]] == [1]
    (review,) = body["reviews"]
    assert review["decision"] == "return" and review["comment"] == "请补充盖章页"
    assert review["round"] == 1 and review["reviewer"]["email"] == inspector.email
    actions = [h["action"] for h in body["history"]]
    assert actions[:3] == ["item.returned", "item.submitted", "evidence.added"]
    assert body["history"][0]["details"]["reason"] == "请补充盖章页"


def test_totals_come_from_the_tally_and_match_the_items(client, db_session, bureau, clock):
    """The total is summed from the item tally when it keeps every filter given, and counted
    over the items otherwise; both agree with what the pages list."""
    requirement = make_requirement(db_session, cadence="quarterly", owners=[bureau.section.code])
    for quarter, status in enumerate(("open", "open", "approved", "submitted"), start=1):
        make_item(
            db_session,
            unit=bureau.section,
            requirement=requirement,
            period=f"2026-Q{quarter}",
            status=ItemStatus(status),
        )
    db_session.commit()
    headers = bearer_for(db_session, bureau.users[str(Role.ADMIN)])
    for query, expected, from_tally in (
        ("", 4, True),
        ("status=open", 2, True),
        (f"unit={bureau.section.code}&family=publicity", 4, True),
        ("status=overdue", 2, False),
        ("period=2026-Q1", 1, False),
    ):
        with count_statements() as counter:
            body = get(client, f"/api/v1/items?per_page=1&{query}", headers)
        assert body["total"] == expected, query
        read_tally = any("item_tally" in s for s in counter.statements)
        assert read_tally is from_tally, query
