"""Assigning checklist items: the service's rules, the item page form and bulk assignment."""

from __future__ import annotations

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.factories import T0, make_item, make_unit, make_user
from tests.helpers import flashes, page, post_form
from tracker.models import AuditEvent, ChecklistItem, Role
from tracker.services import assignment
from tracker.services.errors import PermissionDenied, ValidationFailed


def zh(app, message: str, **variables) -> str:
    """The message as a Chinese page shows it (read from the catalogue, not hard-coded)."""
    with app.test_request_context(), force_locale("zh_CN"):
        return gettext(message, **variables)


def events(session, item) -> list[dict]:
    return [
        e.data
        for e in session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action == "item.assigned",
                AuditEvent.object_type == "checklist_item",
                AuditEvent.object_id == str(item.id),
            )
            .order_by(AuditEvent.seq)
        )
    ]


@pytest.fixture
def items(db_session, bureau, clock):
    """Two items of the chief's section and one of the station."""
    made = {
        "a": make_item(db_session, unit=bureau.section),
        "b": make_item(db_session, unit=bureau.section),
        "station": make_item(db_session, unit=bureau.station),
    }
    db_session.commit()
    return made


def assign_url(item) -> str:
    return f"/items/{item.id}/assign"


def reload(session, item) -> ChecklistItem:
    session.expire_all()
    return session.get(ChecklistItem, item.id)


# ---------------------------------------------------------------- the service


def test_assign_reassign_unassign_are_audited(db_session, bureau, items):
    chief, staff = bureau.user(Role.CHIEF), bureau.user(Role.STAFF)
    item = items["a"]
    assert assignment.assign(db_session, actor=chief, item=item, assignee=staff, now=T0)
    assert assignment.assign(db_session, actor=chief, item=item, assignee=chief, now=T0)
    assert assignment.assign(db_session, actor=chief, item=item, assignee=None, now=T0)
    assert item.assignee_id is None
    assert events(db_session, item) == [
        {"from": None, "to": staff.id},
        {"from": staff.id, "to": chief.id},
        {"from": chief.id, "to": None},
    ]
    # Nothing changes, nothing is recorded.
    assert not assignment.assign(db_session, actor=chief, item=item, assignee=None, now=T0)
    assert len(events(db_session, item)) == 3


def test_admin_assigns_in_any_unit(db_session, bureau, items):
    other = bureau.users["other_chief"]
    admin = bureau.user(Role.ADMIN)
    assignment.assign(db_session, actor=admin, item=items["station"], assignee=other, now=T0)
    assert items["station"].assignee_id == other.id


@pytest.mark.parametrize("role", ["staff", "leader", "inspector", "other_chief"])
def test_only_chiefs_of_the_unit_and_admins_may_assign(db_session, bureau, items, role):
    with pytest.raises(PermissionDenied):
        assignment.assign(
            db_session,
            actor=bureau.users[role],
            item=items["a"],
            assignee=bureau.user(Role.STAFF),
            now=T0,
        )
    assert items["a"].assignee_id is None and events(db_session, items["a"]) == []


def test_assignee_must_be_an_active_officer_or_chief_of_the_items_unit(db_session, bureau, items):
    chief = bureau.user(Role.CHIEF)
    gone = make_user(db_session, unit=bureau.section, role=Role.STAFF)
    gone.active = False
    inspector_here = make_user(db_session, unit=bureau.section, role=Role.INSPECTOR)
    for assignee in (bureau.users["other_chief"], gone, inspector_here):
        with pytest.raises(ValidationFailed) as raised:
            assignment.assign(db_session, actor=chief, item=items["a"], assignee=assignee, now=T0)
        assert raised.value.field == "assignee_id"
        assert assignee.name in str(raised.value.message)
    assert items["a"].assignee_id is None and events(db_session, items["a"]) == []


def test_a_sub_units_officer_cannot_take_the_parents_item(db_session, bureau, items):
    sub = make_unit(db_session, parent=bureau.section, code="SUB")
    below = make_user(db_session, unit=sub, role=Role.STAFF)
    with pytest.raises(ValidationFailed):
        assignment.assign(
            db_session, actor=bureau.user(Role.CHIEF), item=items["a"], assignee=below, now=T0
        )


def test_bulk_assign_is_all_or_nothing(db_session, bureau, items):
    chief, staff = bureau.user(Role.CHIEF), bureau.user(Role.STAFF)
    sub = make_unit(db_session, parent=bureau.section, code="SUB")
    below = make_item(db_session, unit=sub)
    with pytest.raises(ValidationFailed):
        assignment.bulk_assign(
            db_session, actor=chief, items=[items["a"], below, items["b"]], assignee=staff, now=T0
        )
    with pytest.raises(PermissionDenied):
        assignment.bulk_assign(
            db_session, actor=chief, items=[items["a"], items["station"]], assignee=None, now=T0
        )
    assert all(i.assignee_id is None for i in (items["a"], items["b"], below))
    items["a"].assignee_id = staff.id
    db_session.flush()
    changed = assignment.bulk_assign(
        db_session, actor=chief, items=[items["a"], items["b"]], assignee=staff, now=T0
    )
    assert changed == 1  # "a" already was
    assert events(db_session, items["b"]) == [{"from": None, "to": staff.id}]
    assert events(db_session, items["a"]) == []


# ---------------------------------------------------------------- the item page


def test_chief_assigns_from_the_item_page(app, chief_client, bureau, items, db_session):
    staff = bureau.user(Role.STAFF)
    item = items["a"]
    form = page(chief_client.get(f"/items/{item.id}")).select_one("#assign-form")
    assert form["action"] == assign_url(item)
    options = {o["value"] for o in form.select("select[name='assignee_id'] option")}
    assert options == {"0", str(staff.id), str(bureau.user(Role.CHIEF).id)}

    response = post_form(
        chief_client,
        assign_url(item),
        {"assignee_id": str(staff.id)},
        form_url=f"/items/{item.id}",
        follow_redirects=True,
    )
    assert response.request.path == f"/items/{item.id}"
    code = item.requirement.code
    assert zh(app, "%(code)s assigned to %(name)s.", code=code, name=staff.name) in " ".join(
        flashes(response)
    )
    assert reload(db_session, item).assignee_id == staff.id
    assert events(db_session, item) == [{"from": None, "to": staff.id}]
    selected = page(response).select_one("#assign-form option[selected]")
    assert selected["value"] == str(staff.id)

    # Unassign, then the same again changes nothing.
    post_form(chief_client, assign_url(item), {"assignee_id": "0"}, form_url=f"/items/{item.id}")
    assert reload(db_session, item).assignee_id is None
    response = post_form(
        chief_client,
        assign_url(item),
        {"assignee_id": "0"},
        form_url=f"/items/{item.id}",
        follow_redirects=True,
    )
    assert any("没有改动" in text for text in flashes(response))
    assert events(db_session, item) == [
        {"from": None, "to": staff.id},
        {"from": staff.id, "to": None},
    ]


@pytest.mark.parametrize("who", ["other unit", "inactive", "wrong role", "unknown"])
def test_refused_assignees_change_nothing(app, chief_client, bureau, items, db_session, who):
    item = items["a"]
    if who == "other unit":
        assignee = bureau.users["other_chief"]
    elif who == "inactive":
        assignee = make_user(db_session, unit=bureau.section, role=Role.STAFF)
        assignee.active = False
    elif who == "wrong role":
        assignee = make_user(db_session, unit=bureau.section, role=Role.LEADER)
    else:
        assignee = None
    db_session.commit()
    response = post_form(
        chief_client,
        assign_url(item),
        {"assignee_id": str(assignee.id if assignee else 999999)},
        form_url=f"/items/{item.id}",
        follow_redirects=True,
    )
    assert response.status_code == 200
    shown = " ".join(flashes(response))
    if who == "other unit":
        expected = zh(
            app,
            "%(name)s is not a member of the unit that owns the item %(code)s.",
            name=assignee.name,
            code=item.requirement.code,
        )
    elif who == "inactive":
        expected = zh(
            app, "%(name)s is deactivated and cannot be assigned items.", name=assignee.name
        )
    elif who == "wrong role":
        expected = zh(
            app,
            "%(name)s cannot be assigned items: only officers in charge and unit chiefs can.",
            name=assignee.name,
        )
    else:
        expected = zh(app, "Choose a person from the list.")
    assert expected in shown
    assert page(response).select_one(".alert-danger")
    assert reload(db_session, item).assignee_id is None
    assert events(db_session, item) == []


def test_item_page_shows_the_form_only_to_assigners(app, bureau, items):
    item = items["a"]
    for role in (Role.CHIEF, Role.ADMIN):
        soup = page(signed_in_client(app, bureau.user(role)).get(f"/items/{item.id}"))
        assert soup.select_one("#assign-form input[name='csrf_token']"), role
    for role in (Role.STAFF, Role.LEADER, Role.INSPECTOR):
        soup = page(signed_in_client(app, bureau.user(role)).get(f"/items/{item.id}"))
        assert not soup.select("#assign-form"), role


@pytest.mark.parametrize("role", [Role.STAFF, Role.LEADER, Role.INSPECTOR])
def test_who_may_see_but_not_assign_gets_403(app, bureau, items, db_session, role):
    client = signed_in_client(app, bureau.user(role))
    staff = bureau.user(Role.STAFF)
    item = items["a"]
    response = post_form(
        client, assign_url(item), {"assignee_id": str(staff.id)}, form_url="/items/"
    )
    assert response.status_code == 403
    response = post_form(
        client,
        "/items/bulk-assign",
        {"item_ids": [str(item.id)], "assignee_id": str(staff.id)},
        form_url="/items/",
    )
    assert response.status_code == 403
    assert reload(db_session, item).assignee_id is None


def test_another_units_item_is_404(app, chief_client, bureau, items, db_session):
    staff = bureau.user(Role.STAFF)
    for url in (assign_url(items["station"]), "/items/999999/assign"):
        response = post_form(chief_client, url, {"assignee_id": str(staff.id)}, form_url="/items/")
        assert response.status_code == 404, url
    staff_client = signed_in_client(app, staff)
    response = post_form(
        staff_client, assign_url(items["station"]), {"assignee_id": "0"}, form_url="/items/"
    )
    assert response.status_code == 404  # 404 before 403
    assert reload(db_session, items["station"]).assignee_id is None


def test_post_without_csrf_token_is_refused(chief_client, bureau, items, db_session):
    staff = bureau.user(Role.STAFF)
    response = chief_client.post(assign_url(items["a"]), data={"assignee_id": str(staff.id)})
    assert response.status_code == 400
    response = chief_client.post(
        "/items/bulk-assign", data={"item_ids": [str(items["a"].id)], "assignee_id": str(staff.id)}
    )
    assert response.status_code == 400
    assert reload(db_session, items["a"]).assignee_id is None


# ---------------------------------------------------------------- bulk from the checklist


def test_bulk_assign_from_the_checklist_keeps_the_filters(
    app, chief_client, bureau, items, db_session
):
    staff = bureau.user(Role.STAFF)
    listing = "/items/?status=open&sort=-due"
    soup = page(chief_client.get(listing))
    assert soup.select_one("#bulk-assign input[name='next']")["value"] == listing
    response = post_form(
        chief_client,
        "/items/bulk-assign",
        {
            "item_ids": [str(items["a"].id), str(items["b"].id)],
            "assignee_id": str(staff.id),
            "next": listing,
        },
        form_url=listing,
    )
    assert response.status_code == 302 and response.headers["Location"] == listing
    for key in ("a", "b"):
        assert reload(db_session, items[key]).assignee_id == staff.id
        assert events(db_session, items[key]) == [{"from": None, "to": staff.id}]
    shown = " ".join(flashes(chief_client.get(listing)))
    assert zh(app, "Items assigned to %(name)s: %(count)d.", name=staff.name, count=2) in shown
    rows = page(chief_client.get("/items/", query_string={"assignee": str(staff.id)}))
    assert len(rows.select("#items tbody tr")) == 2

    # Unassign them together.
    post_form(
        chief_client,
        "/items/bulk-assign",
        {"item_ids": [str(items["a"].id), str(items["b"].id)], "assignee_id": "0"},
        form_url=listing,
    )
    assert reload(db_session, items["a"]).assignee_id is None
    assert reload(db_session, items["b"]).assignee_id is None


def test_bulk_assign_refuses_everything_when_one_item_cannot_take_the_assignee(
    app, chief_client, bureau, items, db_session
):
    staff = bureau.user(Role.STAFF)
    sub = make_unit(db_session, parent=bureau.section, code="SUB")
    below = make_item(db_session, unit=sub)
    db_session.commit()
    response = post_form(
        chief_client,
        "/items/bulk-assign",
        {
            "item_ids": [str(items["a"].id), str(below.id), str(items["b"].id)],
            "assignee_id": str(staff.id),
            "next": "/items/?unit=" + str(sub.id),
        },
        form_url="/items/",
        follow_redirects=True,
    )
    assert response.request.path == "/items/" and response.request.args["unit"] == str(sub.id)
    reason = zh(
        app,
        "%(name)s is not a member of the unit that owns the item %(code)s.",
        name=staff.name,
        code=below.requirement.code,
    )
    assert zh(app, "Nothing was assigned: %(reason)s", reason=reason) in " ".join(flashes(response))
    for item in (items["a"], items["b"], below):
        assert reload(db_session, item).assignee_id is None
        assert events(db_session, item) == []


def test_bulk_assign_with_an_item_outside_scope_is_404(chief_client, bureau, items, db_session):
    response = post_form(
        chief_client,
        "/items/bulk-assign",
        {"item_ids": [str(items["a"].id), str(items["station"].id)], "assignee_id": "0"},
        form_url="/items/",
    )
    assert response.status_code == 404
    items["a"].assignee_id = bureau.user(Role.STAFF).id
    db_session.commit()
    response = post_form(
        chief_client,
        "/items/bulk-assign",
        {"item_ids": [str(items["a"].id), "999999"], "assignee_id": "0"},
        form_url="/items/",
    )
    assert response.status_code == 404
    assert reload(db_session, items["a"]).assignee_id == bureau.user(Role.STAFF).id


def test_bulk_assign_without_items_or_with_a_foreign_next(app, chief_client, bureau, items):
    response = post_form(
        chief_client,
        "/items/bulk-assign",
        {"assignee_id": "0", "next": "https://evil.example.com/"},
        form_url="/items/",
    )
    assert response.status_code == 302 and response.headers["Location"] == "/items/"
    shown = " ".join(flashes(chief_client.get("/items/")))
    assert zh(app, "Select at least one item to assign.") in shown


def test_admin_bulk_assigns_in_another_unit(admin_client, bureau, items, db_session):
    other = bureau.users["other_chief"]
    response = post_form(
        admin_client,
        "/items/bulk-assign",
        {"item_ids": [str(items["station"].id)], "assignee_id": str(other.id)},
        form_url="/items/",
    )
    assert response.status_code == 302
    assert reload(db_session, items["station"]).assignee_id == other.id


def test_assigned_staff_sees_the_item_as_mine(app, chief_client, bureau, items, db_session):
    staff = bureau.user(Role.STAFF)
    post_form(
        chief_client,
        assign_url(items["b"]),
        {"assignee_id": str(staff.id)},
        form_url=f"/items/{items['b'].id}",
    )
    soup = page(signed_in_client(app, staff).get("/items/?assignee=me"))
    assert [int(tr["data-item-id"]) for tr in soup.select("#items tbody tr")] == [items["b"].id]
