"""Admin pages: create, edit and deactivate units and users; every change is audited."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.factories import make_unit, make_user
from tests.helpers import count_statements, flashes, page, post_form
from tracker.models import AuditEvent, Role, Unit, User


def last_action(db_session) -> str:
    return db_session.scalar(select(AuditEvent.action).order_by(AuditEvent.seq.desc()).limit(1))


def test_create_unit_under_a_parent(admin_client, bureau, db_session):
    response = post_form(
        admin_client,
        "/admin/units/new",
        {
            "code": "zscq",
            "name": "知识产权科",
            "name_en": "IP Section",
            "kind": "section",
            "parent_id": bureau.root.id,
        },
    )
    assert response.status_code == 302
    unit = db_session.scalar(select(Unit).where(Unit.code == "ZSCQ"))
    assert unit.parent_id == bureau.root.id and unit.path == f"{bureau.root.path}{unit.id}/"
    assert last_action(db_session) == "unit.created"


def test_duplicate_unit_code_is_shown_next_to_the_field(admin_client, bureau):
    response = post_form(
        admin_client,
        "/admin/units/new",
        {"code": bureau.section.code, "name": "重复", "kind": "section", "parent_id": 0},
    )
    assert response.status_code == 200
    error = page(response).select_one("#code-error")
    assert error is not None and bureau.section.code in error.get_text()


def test_moving_a_unit_moves_its_subtree(admin_client, bureau, db_session):
    child = make_unit(db_session, parent=bureau.section, code="CHILD")
    db_session.commit()
    response = post_form(
        admin_client,
        f"/admin/units/{bureau.section.id}/edit",
        {
            "code": bureau.section.code,
            "name": bureau.section.name,
            "kind": "section",
            "parent_id": bureau.legal.id,
        },
    )
    assert response.status_code == 302
    db_session.expire_all()
    assert child.path == f"{bureau.legal.path}{bureau.section.id}/{child.id}/"
    assert last_action(db_session) == "unit.updated"


def test_a_unit_cannot_move_under_its_own_subtree(admin_client, bureau, db_session):
    child = make_unit(db_session, parent=bureau.section, code="CHILD2")
    db_session.commit()
    response = post_form(
        admin_client,
        f"/admin/units/{bureau.section.id}/edit",
        {
            "code": bureau.section.code,
            "name": bureau.section.name,
            "kind": "section",
            "parent_id": child.id,
        },
    )
    assert response.status_code == 200  # the subtree is not even offered as a choice
    db_session.expire_all()
    assert bureau.section.parent_id == bureau.root.id


def test_unit_with_active_users_cannot_be_deactivated(admin_client, bureau, db_session):
    response = post_form(
        admin_client,
        f"/admin/units/{bureau.section.id}/active",
        {"active": "0"},
        form_url="/admin/units",
        follow_redirects=True,
    )
    assert any("在用用户" in text for text in flashes(response))
    db_session.expire_all()
    assert bureau.section.active


def test_empty_unit_is_deactivated_and_reactivated(admin_client, bureau, db_session):
    empty = make_unit(db_session, parent=bureau.root, code="EMPTY")
    db_session.commit()
    post_form(
        admin_client, f"/admin/units/{empty.id}/active", {"active": "0"}, form_url="/admin/units"
    )
    db_session.expire_all()
    assert not empty.active and last_action(db_session) == "unit.deactivated"
    post_form(
        admin_client, f"/admin/units/{empty.id}/active", {"active": "1"}, form_url="/admin/units"
    )
    db_session.expire_all()
    assert empty.active and last_action(db_session) == "unit.activated"


def test_create_user_and_refuse_duplicate_email_in_any_case(admin_client, bureau, db_session):
    data = {
        "email": "New.Person@Test.Example.org",
        "name": "新同事",
        "role": "staff",
        "unit_id": bureau.section.id,
        "locale": "",
        "password": "a-long-password",
    }
    assert post_form(admin_client, "/admin/users/new", data).status_code == 302
    user = db_session.scalar(select(User).where(User.email == "new.person@test.example.org"))
    assert user is not None and user.role == Role.STAFF
    assert last_action(db_session) == "user.created"

    response = post_form(
        admin_client, "/admin/users/new", {**data, "email": "NEW.PERSON@test.example.org"}
    )
    assert response.status_code == 200
    assert "已被使用" in page(response).select_one("#email-error").get_text()
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.email == "new.person@test.example.org")
        )
        == 1
    )


def test_new_user_needs_a_password(admin_client, bureau):
    response = post_form(
        admin_client,
        "/admin/users/new",
        {
            "email": "x@test.example.org",
            "name": "X",
            "role": "staff",
            "unit_id": bureau.section.id,
            "locale": "",
            "password": "",
        },
    )
    assert response.status_code == 200
    assert page(response).select_one("#password-error") is not None


def test_edit_user_records_the_changes(admin_client, bureau, db_session):
    staff = bureau.user(Role.STAFF)
    response = post_form(
        admin_client,
        f"/admin/users/{staff.id}/edit",
        {
            "email": staff.email,
            "name": "改名了",
            "role": "chief",
            "unit_id": bureau.station.id,
            "locale": "en",
            "password": "",
        },
    )
    assert response.status_code == 302
    db_session.expire_all()
    assert (staff.name, staff.role, staff.unit_id, staff.locale) == (
        "改名了",
        Role.CHIEF,
        bureau.station.id,
        "en",
    )
    event = db_session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert event.action == "user.updated"
    assert set(event.data["changes"]) == {"name", "role", "unit_id", "locale"}


def test_admin_cannot_deactivate_himself(admin_client, bureau, db_session):
    admin = bureau.user(Role.ADMIN)
    response = post_form(
        admin_client,
        f"/admin/users/{admin.id}/active",
        {"active": "0"},
        form_url="/admin/users",
        follow_redirects=True,
    )
    assert any("不能停用自己" in text for text in flashes(response))
    db_session.expire_all()
    assert admin.active


def test_user_list_filters_and_paginates(admin_client, bureau, db_session):
    for _ in range(60):
        make_user(db_session, unit=bureau.station)
    db_session.commit()
    first = page(admin_client.get(f"/admin/users?unit={bureau.station.id}"))
    assert len(first.select("tbody tr")) == 50
    second = page(admin_client.get(f"/admin/users?unit={bureau.station.id}&page=2"))
    assert len(second.select("tbody tr")) == 61 - 50  # 60 new + the station's chief
    only_chiefs = page(admin_client.get("/admin/users?role=chief"))
    assert len(only_chiefs.select("tbody tr")) == 2


def test_list_pages_run_a_fixed_number_of_statements(admin_client, bureau, db_session):
    def statements(url: str) -> int:
        with count_statements() as counter:
            assert admin_client.get(url).status_code == 200
        return counter.count

    small = {url: statements(url) for url in ["/admin/users", "/admin/units"]}
    for _ in range(40):
        unit = make_unit(db_session, parent=bureau.root)
        make_user(db_session, unit=unit)
    db_session.commit()
    large = {url: statements(url) for url in ["/admin/users", "/admin/units"]}
    assert large == small
    assert max(large.values()) <= 8
