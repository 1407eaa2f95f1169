"""Each role sees its own navigation; admin pages are admin-only; 404 comes before 403."""

from __future__ import annotations

import pytest

from tests.conftest import signed_in_client
from tests.helpers import nav_endpoints, page
from tracker.models import Role

EXPECTED_NAV = {
    Role.ADMIN: [
        "main.index",
        "items.index",
        "dashboard.index",
        "cases.index",
        "reports.index",
        "dashboard.scores",
        "review.queue",
        "auditlog.index",
        "admin.requirements",
        "admin.calendar",
        "admin.reasons",
        "admin.reminders",
        "admin.outbox",
        "admin.units",
        "admin.users",
    ],
    Role.LEADER: [
        "main.index",
        "items.index",
        "dashboard.index",
        "cases.index",
        "reports.index",
        "dashboard.scores",
    ],
    Role.INSPECTOR: [
        "main.index",
        "items.index",
        "dashboard.index",
        "cases.index",
        "reports.index",
        "dashboard.scores",
        "review.queue",
        "auditlog.index",
    ],
    Role.CHIEF: [
        "main.index",
        "items.index",
        "dashboard.index",
        "cases.index",
        "reports.index",
        "dashboard.scores",
    ],
    Role.STAFF: ["main.index", "items.index", "cases.index"],
}
ADMIN_PAGES = [
    "/admin/",
    "/admin/units",
    "/admin/units/new",
    "/admin/users",
    "/admin/users/new",
    "/admin/requirements",
    "/admin/calendar",
    "/admin/reminders",
    "/admin/outbox",
    "/admin/reasons",
    "/admin/exclusions",
]


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_only_its_navigation(app, bureau, role):
    response = signed_in_client(app, bureau.user(role)).get("/", follow_redirects=True)
    assert response.status_code == 200
    assert nav_endpoints(response) == EXPECTED_NAV[role]


def test_administration_pages_share_one_menu(admin_client):
    """An admin's bar keeps the daily pages in view; the seven settings pages sit in one menu."""
    response = admin_client.get("/items/")
    html = page(response)
    menu = html.select_one("nav [data-nav-group=admin]")
    assert menu.select_one(".dropdown-toggle").get_text(strip=True) == "管理"
    assert [a["data-nav"] for a in menu.select(".dropdown-menu [data-nav]")] == [
        endpoint for endpoint in EXPECTED_NAV[Role.ADMIN] if endpoint.startswith("admin.")
    ]
    top_level = html.select("nav .navbar-nav > .nav-item > .nav-link[data-nav]")
    assert len(top_level) == 8
    settings = admin_client.get("/admin/outbox")
    toggle = page(settings).select_one("nav [data-nav-group=admin] .dropdown-toggle")
    assert "active" in toggle["class"]


def test_anonymous_sees_no_navigation(client):
    assert nav_endpoints(client.get("/login")) == []


@pytest.mark.parametrize("role", [Role.LEADER, Role.INSPECTOR, Role.CHIEF, Role.STAFF])
def test_non_admins_get_403_on_admin_pages(app, bureau, role):
    client = signed_in_client(app, bureau.user(role))
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 403, url
    staff = bureau.user(Role.STAFF)
    assert client.get(f"/admin/users/{staff.id}/edit").status_code == 403
    assert client.get(f"/admin/units/{bureau.section.id}/edit").status_code == 403


def test_missing_objects_are_404_before_403(chief_client, admin_client):
    for client in (chief_client, admin_client):
        assert client.get("/admin/users/999999/edit").status_code == 404
        assert client.get("/admin/units/999999/edit").status_code == 404


def test_admin_opens_every_admin_page(admin_client, bureau):
    for url in [
        *ADMIN_PAGES,
        f"/admin/units/{bureau.section.id}/edit",
        f"/admin/users/{bureau.user(Role.STAFF).id}/edit",
    ]:
        response = admin_client.get(url, follow_redirects=True)
        assert response.status_code == 200, url


def test_error_pages_are_translated(chief_client):
    response = chief_client.get("/admin/users")
    assert response.status_code == 403 and "无权访问" in response.get_data(as_text=True)
    response = chief_client.get("/no-such-page")
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)


def test_server_error_page_is_translated_and_rolls_back(tmp_path):
    from tracker import create_app
    from tracker.config import TestConfig

    broken = create_app(TestConfig(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    broken.testing = False  # let the 500 handler answer instead of raising into the test

    @broken.get("/boom")
    def boom():
        raise RuntimeError("boom")

    response = broken.test_client().get("/boom")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "服务器错误" in text and "RuntimeError" not in text
