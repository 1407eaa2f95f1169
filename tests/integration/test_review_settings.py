"""Review settings: return-reason templates and inspector exclusions (service and admin pages)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import signed_in_client
from tests.factories import T0, make_item, make_user
from tests.helpers import page, post_form
from tests.integration.test_submissions import add_evidence
from tracker.models import AuditEvent, InspectorExclusion, ReturnReasonTemplate, Role
from tracker.services import review_settings, submissions
from tracker.services.errors import ValidationFailed


def actions(db_session, object_type: str) -> list[str]:
    return list(
        db_session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == object_type)
            .order_by(AuditEvent.seq)
        )
    )


def template(db_session, admin, zh: str = "缺少盖章页", en: str = "The stamped page is missing"):
    return review_settings.create_template(db_session, actor=admin, text_zh=zh, text_en=en, now=T0)


@pytest.fixture
def admin(bureau):
    return bureau.user(Role.ADMIN)


# ---------------------------------------------------------------- templates: the service


def test_templates_are_created_in_order_and_audited(db_session, admin):
    first = template(db_session, admin, "一", "One")
    second = template(db_session, admin, "  二  ", " Two ")
    assert (second.text_zh, second.text_en) == ("二", "Two")
    assert second.position == first.position + 1 and second.active
    placed = review_settings.create_template(
        db_session, actor=admin, text_zh="零", text_en="Zero", position=0, now=T0
    )
    assert placed.position == 0
    event = db_session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "reason_template.created")
        .order_by(AuditEvent.seq)  # the first created: unordered, PostgreSQL may give any
        .limit(1)
    )
    assert event.object_id == str(first.id) and event.data["text_en"] == "One"


@pytest.mark.parametrize(
    ("zh", "en", "field"),
    [("", "Text", "text_zh"), ("文字", "   ", "text_en"), ("字" * 501, "x", "text_zh")],
)
def test_template_texts_are_required_and_bounded(db_session, admin, zh, en, field):
    with pytest.raises(ValidationFailed) as refused:
        template(db_session, admin, zh, en)
    assert refused.value.field == field
    assert db_session.scalar(select(func.count(ReturnReasonTemplate.id))) == 0


def test_update_activate_and_reorder(db_session, admin):
    one, two, three = (
        template(db_session, admin, z, e) for z, e in [("一", "1"), ("二", "2"), ("三", "3")]
    )
    assert review_settings.update_template(
        db_session, actor=admin, template=one, text_zh="一改", text_en="1", now=T0
    )
    assert not review_settings.update_template(
        db_session, actor=admin, template=one, text_zh="一改", text_en="1", now=T0
    )
    assert review_settings.set_template_active(
        db_session, actor=admin, template=two, active=False, now=T0
    )
    assert not review_settings.set_template_active(
        db_session, actor=admin, template=two, active=False, now=T0
    )
    review_settings.set_template_active(db_session, actor=admin, template=two, active=True, now=T0)
    review_settings.reorder_templates(
        db_session, actor=admin, order=[three.id, one.id, two.id], now=T0
    )
    assert [three.position, one.position, two.position] == [1, 2, 3]
    with pytest.raises(ValidationFailed):
        review_settings.reorder_templates(db_session, actor=admin, order=[three.id], now=T0)
    assert actions(db_session, "reason_template") == [
        "reason_template.created",
        "reason_template.created",
        "reason_template.created",
        "reason_template.updated",
        "reason_template.deactivated",
        "reason_template.activated",
        "reason_template.reordered",
    ]
    updated = db_session.scalar(
        select(AuditEvent).where(AuditEvent.action == "reason_template.updated")
    )
    assert updated.data["changed"] == {"text_zh": ["一", "一改"]}


# ---------------------------------------------------------------- templates: the admin pages


def test_admin_creates_edits_and_deactivates_a_template_on_the_pages(
    admin_client, db_session, bureau
):
    response = post_form(
        admin_client,
        "/admin/reasons/new",
        {"text_zh": "照片不清晰", "text_en": "The photo is not legible", "position": ""},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/reasons"
    created = db_session.scalar(select(ReturnReasonTemplate))
    assert created.text_en == "The photo is not legible" and created.active

    listing = page(admin_client.get("/admin/reasons"))
    row = listing.select_one(f"#reasons tr[data-template-id='{created.id}']")
    assert row is not None and row["data-active"] == "true"
    assert listing.select_one("#exclusions-link")["href"] == "/admin/exclusions"

    edit_url = f"/admin/reasons/{created.id}/edit"
    edit = page(admin_client.get(edit_url))
    assert edit.select_one("textarea[name=text_zh]").get_text(strip=True) == "照片不清晰"
    response = post_form(
        admin_client,
        edit_url,
        {"text_zh": "照片不清晰，请重拍", "text_en": "Retake the photo", "position": "5"},
    )
    assert response.status_code == 303
    db_session.expire_all()
    assert (created.text_zh, created.position) == ("照片不清晰，请重拍", 5)

    response = post_form(
        admin_client,
        f"/admin/reasons/{created.id}/active",
        {"active": "0"},
        form_url="/admin/reasons",
    )
    assert response.status_code == 303
    db_session.expire_all()
    assert not created.active
    row = page(admin_client.get("/admin/reasons")).select_one(
        f"tr[data-template-id='{created.id}']"
    )
    assert row["data-active"] == "false"
    post_form(
        admin_client,
        f"/admin/reasons/{created.id}/active",
        {"active": "1"},
        form_url="/admin/reasons",
    )
    db_session.expire_all()
    assert created.active
    assert actions(db_session, "reason_template") == [
        "reason_template.created",
        "reason_template.updated",
        "reason_template.deactivated",
        "reason_template.activated",
    ]


def test_an_empty_template_form_is_shown_again_with_errors(admin_client, db_session):
    response = post_form(admin_client, "/admin/reasons/new", {"text_zh": "只有中文", "text_en": ""})
    assert response.status_code == 200
    assert page(response).select_one("#text_en.is-invalid") is not None
    assert db_session.scalar(select(func.count(ReturnReasonTemplate.id))) == 0
    assert admin_client.get("/admin/reasons/999999/edit").status_code == 404


def test_templates_move_up_and_down(admin_client, db_session, admin):
    one, two = template(db_session, admin, "一", "1"), template(db_session, admin, "二", "2")
    db_session.commit()
    response = post_form(
        admin_client,
        f"/admin/reasons/{two.id}/move",
        {"direction": "up"},
        form_url="/admin/reasons",
    )
    assert response.status_code == 303
    rows = page(admin_client.get("/admin/reasons")).select("#reasons tbody tr")
    assert [int(r["data-template-id"]) for r in rows] == [two.id, one.id]


def test_deactivated_templates_are_not_offered_in_the_review_form(
    inspector_client, db_session, bureau, admin
):
    offered = template(db_session, admin, "缺少签字", "A signature is missing")
    hidden = template(db_session, admin, "已停用", "Retired")
    review_settings.set_template_active(
        db_session, actor=admin, template=hidden, active=False, now=T0
    )
    item = make_item(db_session, unit=bureau.section)
    add_evidence(db_session, item, bureau.user("chief"))
    submissions.submit(db_session, actor=bureau.user("chief"), item=item, now=T0)
    db_session.commit()
    soup = page(inspector_client.get(f"/items/{item.id}"))
    options = soup.select("#review-form select[name=reason_template] option")
    assert [o["value"] for o in options] == ["", str(offered.id)]
    assert options[1]["data-text"] == "缺少签字"  # the reviewer's language (Chinese by default)
    script = soup.select_one("script[src='/static/js/review-form.js']")
    assert script is not None
    with inspector_client.get("/static/js/review-form.js") as served:
        assert served.status_code == 200 and b"data-fills" in served.data


# ---------------------------------------------------------------- exclusions: the service


def test_exclusions_are_added_once_and_removed_with_audit(db_session, bureau, admin):
    inspector = bureau.user("inspector")
    exclusion = review_settings.add_exclusion(
        db_session, actor=admin, inspector_id=inspector.id, unit_id=bureau.section.id, now=T0
    )
    assert (exclusion.created_by_id, exclusion.unit_id) == (admin.id, bureau.section.id)
    with pytest.raises(ValidationFailed) as refused:
        review_settings.add_exclusion(
            db_session, actor=admin, inspector_id=inspector.id, unit_id=bureau.section.id, now=T0
        )
    assert refused.value.field == "unit_id"
    # Admins review too, so they can be excluded; other roles cannot.
    review_settings.add_exclusion(
        db_session, actor=admin, inspector_id=admin.id, unit_id=bureau.legal.id, now=T0
    )
    for user in (bureau.user("chief"), bureau.user("leader")):
        with pytest.raises(ValidationFailed) as refused:
            review_settings.add_exclusion(
                db_session, actor=admin, inspector_id=user.id, unit_id=bureau.station.id, now=T0
            )
        assert refused.value.field == "inspector_id"
    with pytest.raises(ValidationFailed) as refused:
        review_settings.add_exclusion(
            db_session, actor=admin, inspector_id=inspector.id, unit_id=987654, now=T0
        )
    assert refused.value.field == "unit_id"
    retired = make_user(db_session, unit=bureau.legal, role=Role.INSPECTOR)
    retired.active = False
    with pytest.raises(ValidationFailed):
        review_settings.add_exclusion(
            db_session, actor=admin, inspector_id=retired.id, unit_id=bureau.station.id, now=T0
        )

    review_settings.remove_exclusion(db_session, actor=admin, exclusion=exclusion, now=T0)
    assert (
        db_session.scalar(
            select(func.count(InspectorExclusion.id)).where(
                InspectorExclusion.inspector_id == inspector.id
            )
        )
        == 0
    )
    assert actions(db_session, "inspector_exclusion") == [
        "exclusion.added",
        "exclusion.added",
        "exclusion.removed",
    ]
    removed = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "exclusion.removed"))
    assert removed.data["unit"] == "SEC" and removed.data["inspector_id"] == inspector.id


# ---------------------------------------------------------------- exclusions: the admin page


def test_admin_adds_and_removes_an_exclusion_on_the_page(admin_client, db_session, bureau):
    inspector = bureau.user("inspector")
    soup = page(admin_client.get("/admin/exclusions"))
    offered = {o["value"] for o in soup.select("#exclusion-form select[name=inspector_id] option")}
    assert offered == {"0", str(inspector.id), str(bureau.user("admin").id)}
    assert soup.select_one("#no-exclusions") is not None

    data = {"inspector_id": inspector.id, "unit_id": bureau.section.id}
    response = post_form(admin_client, "/admin/exclusions", data)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/exclusions"
    rows = page(admin_client.get("/admin/exclusions")).select("#exclusions tbody tr")
    assert [(r["data-inspector-id"], r["data-unit-id"]) for r in rows] == [
        (str(inspector.id), str(bureau.section.id))
    ]

    again = post_form(admin_client, "/admin/exclusions", data)
    assert again.status_code == 400
    assert page(again).select_one("#unit_id.is-invalid") is not None
    assert db_session.scalar(select(func.count(InspectorExclusion.id))) == 1

    staff = post_form(
        admin_client,
        "/admin/exclusions",
        {"inspector_id": bureau.user("staff").id, "unit_id": bureau.section.id},
    )
    assert staff.status_code == 400  # not offered: refused by the form

    exclusion_id = int(rows[0]["data-exclusion-id"])
    response = post_form(
        admin_client,
        f"/admin/exclusions/{exclusion_id}/remove",
        {},
        form_url="/admin/exclusions",
    )
    assert response.status_code == 303
    assert db_session.scalar(select(func.count(InspectorExclusion.id))) == 0
    assert actions(db_session, "inspector_exclusion") == ["exclusion.added", "exclusion.removed"]
    assert (
        post_form(
            admin_client,
            f"/admin/exclusions/{exclusion_id}/remove",
            {},
            form_url="/admin/exclusions",
        ).status_code
        == 404
    )


# ---------------------------------------------------------------- access and CSRF


@pytest.mark.parametrize("role", [Role.LEADER, Role.INSPECTOR, Role.CHIEF, Role.STAFF])
def test_non_admins_get_403_on_the_review_settings_pages(app, db_session, bureau, admin, role):
    reason = template(db_session, admin)
    exclusion = review_settings.add_exclusion(
        db_session,
        actor=admin,
        inspector_id=bureau.user("inspector").id,
        unit_id=bureau.station.id,
        now=T0,
    )
    db_session.commit()
    client = signed_in_client(app, bureau.user(role))
    for url in (
        "/admin/reasons",
        "/admin/reasons/new",
        f"/admin/reasons/{reason.id}/edit",
        "/admin/exclusions",
    ):
        assert client.get(url).status_code == 403, url
    for url in (
        "/admin/reasons/new",
        f"/admin/reasons/{reason.id}/edit",
        f"/admin/reasons/{reason.id}/active",
        f"/admin/reasons/{reason.id}/move",
        "/admin/exclusions",
        f"/admin/exclusions/{exclusion.id}/remove",
    ):
        response = post_form(
            client, url, {"text_zh": "x", "text_en": "x", "active": "0"}, form_url="/items/"
        )
        assert response.status_code == 403, url
    db_session.expire_all()
    assert reason.active and db_session.get(InspectorExclusion, exclusion.id) is not None


def test_posts_without_a_csrf_token_are_refused(admin_client, db_session, bureau, admin):
    reason = template(db_session, admin)
    db_session.commit()
    for url, data in [
        ("/admin/reasons/new", {"text_zh": "x", "text_en": "x"}),
        (f"/admin/reasons/{reason.id}/active", {"active": "0"}),
        ("/admin/exclusions", {"inspector_id": bureau.user("inspector").id, "unit_id": 1}),
    ]:
        assert admin_client.post(url, data=data).status_code == 400, url
    db_session.expire_all()
    assert reason.active
    assert db_session.scalar(select(func.count(ReturnReasonTemplate.id))) == 1
    assert db_session.scalar(select(func.count(InspectorExclusion.id))) == 0
