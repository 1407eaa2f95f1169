"""The page cache: a reload costs three statements, and nothing a page is built from is missed.

The suite runs with the cache off (factories write without the audit chain); these tests turn
it on for themselves and make every change through the application, as people do.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from tests.conftest import signed_in_client
from tests.factories import make_item, seed_official_holidays
from tests.helpers import count_statements, flashes, page, post_form
from tracker.extensions import db
from tracker.models import Role
from tracker.page_cache import EXTENSION, PageCache

HIT_TABLES = ["user_account", "audit_head", "holiday_year"]  # sign-in, then the page's stamp


@pytest.fixture
def cache(app):
    app.extensions[EXTENSION] = PageCache(8 * 1024 * 1024)
    yield app.extensions[EXTENSION]
    del app.extensions[EXTENSION]


@pytest.fixture
def world(db_session, bureau, clock):
    seed_official_holidays(db_session)
    db_session.commit()
    return bureau


@pytest.fixture
def section_item(db_session, world):
    made = make_item(db_session, unit=world.section, due_date=date(2026, 11, 2))
    db_session.commit()
    return made


def tables_read(statements: list[str]) -> list[str]:
    """The first table each statement reads (the whole statement when it reads none)."""
    return [
        match.group(1) if (match := re.search(r'\bFROM\s+"?(\w+)', statement)) else statement
        for statement in statements
    ]


def get(client, url: str):
    """The page and the statements it cost."""
    with count_statements() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return response, counter.statements


def rows(response) -> dict[int, dict[str, str]]:
    return {
        int(tr["data-item-id"]): {
            "light": tr["data-light"],
            "assignee": tr.select_one("[data-assignee]")["data-assignee"],
        }
        for tr in page(response).select("#items tbody tr")
    }


def without_csrf(response) -> str:
    soup = page(response)
    for field in soup.select('input[name="csrf_token"]'):
        field.decompose()
    return str(soup)


# ---------------------------------------------------------------- hits


@pytest.mark.parametrize(
    ("role", "url"),
    [(Role.CHIEF, "/items/"), (Role.INSPECTOR, "/review/"), (Role.LEADER, "/dashboard/")],
)
def test_a_reload_is_served_in_three_statements(app, cache, world, section_item, role, url):
    client = signed_in_client(app, world.user(role))
    first, built = get(client, url)
    again, served = get(client, url)
    assert len(built) > 6
    assert tables_read(served) == HIT_TABLES
    assert without_csrf(again) == without_csrf(first)  # the token is signed with the time
    assert len(cache) == 1


def test_other_addresses_are_other_pages(app, cache, chief_client, section_item):
    get(chief_client, "/items/")
    _response, statements = get(chief_client, "/items/?status=open")
    assert len(statements) > 3
    assert len(cache) == 2


# ---------------------------------------------------------------- what moves the key


def test_a_change_through_the_application_rebuilds_the_page(
    cache, chief_client, world, section_item
):
    staff = world.user(Role.STAFF)
    before, _ = get(chief_client, "/items/")
    assert rows(before)[section_item.id]["assignee"] == ""
    response = post_form(
        chief_client,
        "/items/bulk-assign",
        {"item_ids": [section_item.id], "assignee_id": staff.id, "next": "/items/"},
        form_url="/items/",
    )
    assert response.status_code == 302
    after, statements = get(chief_client, "/items/")
    assert rows(after)[section_item.id]["assignee"] == str(staff.id)
    assert len(statements) > 3


def test_each_viewer_has_his_own_pages(app, cache, world, section_item, db_session):
    station_item = make_item(db_session, unit=world.station)
    db_session.commit()
    chief = signed_in_client(app, world.user(Role.CHIEF))
    other = signed_in_client(app, world.user("other_chief"))
    assert list(rows(get(chief, "/items/")[0])) == [section_item.id]
    assert list(rows(get(other, "/items/")[0])) == [station_item.id]
    assert list(rows(get(chief, "/items/")[0])) == [section_item.id]


def test_the_language_is_part_of_the_key(cache, chief_client, section_item):
    chinese, _ = get(chief_client, "/items/")
    with chief_client.session_transaction() as session:
        session["locale"] = "en"
    english, statements = get(chief_client, "/items/")
    assert "My checklist" in english.get_data(as_text=True)
    assert "My checklist" not in chinese.get_data(as_text=True)
    assert len(statements) > 3


def test_the_bureau_date_is_part_of_the_key(cache, chief_client, clock, section_item):
    # Due today: due soon; at midnight in Beijing (16:00 UTC) it becomes overdue.
    assert rows(get(chief_client, "/items/")[0])[section_item.id]["light"] == "yellow"
    clock.freeze(datetime(2026, 11, 2, 15, 59, tzinfo=UTC))
    assert rows(get(chief_client, "/items/")[0])[section_item.id]["light"] == "yellow"
    clock.freeze(datetime(2026, 11, 2, 16, 0, tzinfo=UTC))
    assert rows(get(chief_client, "/items/")[0])[section_item.id]["light"] == "red"


def test_a_hand_written_holiday_fix_rebuilds_the_page(cache, chief_client, section_item):
    get(chief_client, "/items/")
    db.session.execute(
        sa.text(
            "INSERT INTO holiday (day, kind, name, source)"
            " VALUES ('2026-11-03', 'rest', 'fix', 'hand')"
        )
    )
    db.session.commit()
    _response, statements = get(chief_client, "/items/")
    assert len(statements) > 3


# ---------------------------------------------------------------- what is not kept


def test_sign_in_and_permissions_are_checked_before_the_cache(
    app, cache, world, section_item, db_session
):
    chief = world.user(Role.CHIEF)
    client = signed_in_client(app, chief)
    get(client, "/items/")
    staff = signed_in_client(app, world.user(Role.STAFF))
    assert staff.get("/review/").status_code == 403
    chief.active = False
    db_session.commit()
    response = client.get("/items/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_flash_messages_show_once_and_are_not_kept(cache, chief_client, world, section_item):
    get(chief_client, "/items/")
    response = post_form(
        chief_client,
        "/items/bulk-assign",
        {
            "item_ids": [section_item.id],
            "assignee_id": world.user(Role.STAFF).id,
            "next": "/items/",
        },
        form_url="/items/",
        follow_redirects=True,
    )
    assert flashes(response)
    after, _ = get(chief_client, "/items/")
    assert not flashes(after)
    assert without_csrf(after) != without_csrf(response)  # the flash was not kept


def test_every_session_gets_its_own_csrf_token(app, cache, world, section_item):
    chief = world.user(Role.CHIEF)
    first, second = signed_in_client(app, chief), signed_in_client(app, chief)
    built, _ = get(first, "/items/")
    served, statements = get(second, "/items/")
    assert tables_read(statements) == HIT_TABLES

    def tokens(response) -> set[str]:
        return {field["value"] for field in page(response).select('input[name="csrf_token"]')}

    assert len(tokens(built)) == len(tokens(served)) == 1
    assert tokens(built) != tokens(served)
    assert without_csrf(built) == without_csrf(served)
    response = second.post(
        "/items/bulk-assign",
        data={
            "csrf_token": tokens(served).pop(),
            "item_ids": [section_item.id],
            "assignee_id": world.user(Role.STAFF).id,
            "next": "/items/",
        },
    )
    assert response.status_code == 302
    assert rows(get(second, "/items/")[0])[section_item.id]["assignee"] == str(
        world.user(Role.STAFF).id
    )


# ---------------------------------------------------------------- the store


def test_the_least_recently_used_pages_go_first():
    from tracker.page_cache import _Page

    def sized(n: int, letter: str = "x") -> _Page:
        return _Page((letter * n).encode(), has_csrf=False)

    cache = PageCache(max_bytes=100)
    cache.put("a", sized(40, "a"))
    cache.put("b", sized(40, "b"))
    assert cache.get("a") is not None  # now b is the least recently used
    cache.put("c", sized(40, "c"))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert cache.total_bytes == 80
    cache.put("c", sized(10))  # replaced, not counted twice
    assert cache.total_bytes == 50
    cache.put("big", sized(101))  # larger than the whole cache
    assert cache.get("big") is None and len(cache) == 2
    cache.clear()
    assert len(cache) == 0 and cache.total_bytes == 0


def test_the_cache_is_off_at_zero_megabytes(app):
    assert app.config["TRACKER_PAGE_CACHE_MB"] == 0  # the suite's own setting
    assert EXTENSION not in app.extensions


def test_a_page_that_shows_a_message_flashed_while_building_it_is_not_kept(
    cache, chief_client, section_item, monkeypatch
):
    from flask import flash

    from tracker.items import list_views

    load_calendar = list_views.load_calendar

    def load_and_warn(session):
        flash("just this once", "warning")
        return load_calendar(session)

    monkeypatch.setattr(list_views, "load_calendar", load_and_warn)
    assert flashes(get(chief_client, "/items/")[0]) == ["just this once"]
    monkeypatch.setattr(list_views, "load_calendar", load_calendar)
    again, statements = get(chief_client, "/items/")
    assert not flashes(again)
    assert len(statements) > 3
    assert len(cache) == 1
