"""'My checklist': scope per role, filters, search, sort, pages, counts, traffic lights, cost."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.conftest import signed_in_client
from tests.factories import (
    make_case,
    make_item,
    make_requirement,
    make_unit,
    make_user,
    seed_official_holidays,
)
from tests.helpers import CJK, count_statements, page, visible_text
from tracker.models import ItemStatus, Role

# The clock fixture freezes today at Monday 2 November 2026 (no holiday near it).
TODAY = date(2026, 11, 2)


@pytest.fixture
def world(db_session, bureau, clock):
    seed_official_holidays(db_session)
    db_session.commit()
    return bureau


def add_item(
    session,
    unit,
    *,
    code: str | None = None,
    due: date = date(2026, 12, 1),
    status: ItemStatus = ItemStatus.OPEN,
    period: str = "2026",
    family: str = "publicity",
    assignee=None,
    requirement=None,
    **requirement_fields,
):
    if requirement is None:
        requirement = make_requirement(
            session,
            code,
            cadence="annual",
            family=family,
            owners=[unit.code],
            **requirement_fields,
        )
    return make_item(
        session,
        unit=unit,
        requirement=requirement,
        period=period,
        due_date=due,
        status=status,
        assignee_id=assignee.id if assignee is not None else None,
    )


def listed(client, url: str = "/items/", **params) -> list[int]:
    response = client.get(url, query_string=params)
    assert response.status_code == 200
    return [int(tr["data-item-id"]) for tr in page(response).select("#items tbody tr")]


# ---------------------------------------------------------------- scope and landing


def test_each_role_sees_its_units_items(app, world, db_session):
    sub = make_unit(db_session, parent=world.section, code="SUB", name="食品安全监管一组")
    own = add_item(db_session, world.section)
    below = add_item(db_session, sub)
    station = add_item(db_session, world.station)
    legal = add_item(db_session, world.legal)
    db_session.commit()

    def seen(user) -> set[int]:
        return set(listed(signed_in_client(app, user)))

    assert seen(world.user(Role.CHIEF)) == {own.id, below.id}  # his unit and its sub-units
    assert seen(world.user(Role.STAFF)) == {own.id}  # his own unit only
    assert seen(world.users["other_chief"]) == {station.id}
    for role in (Role.ADMIN, Role.LEADER, Role.INSPECTOR):
        assert seen(world.user(role)) == {own.id, below.id, station.id, legal.id}, role


def test_chiefs_and_staff_land_on_the_checklist(app, world):
    for role in (Role.CHIEF, Role.STAFF):
        response = signed_in_client(app, world.user(role)).get("/")
        assert response.status_code == 302 and response.headers["Location"] == "/items/"
    for role in (Role.ADMIN, Role.LEADER, Role.INSPECTOR):
        assert signed_in_client(app, world.user(role)).get("/").status_code == 200


def test_anonymous_is_sent_to_sign_in(client, world):
    response = client.get("/items/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_row_shows_the_item(chief_client, world, db_session):
    staff = world.user(Role.STAFF)
    item = add_item(
        db_session,
        world.section,
        code="GS-31",
        title_zh="行政处罚信息公示",
        title_en="Publish penalty decisions",
        due=date(2026, 12, 1),
        period="2026-Q4",
        assignee=staff,
    )
    db_session.commit()
    soup = page(chief_client.get("/items/"))
    row = soup.select_one(f"#items tr[data-item-id='{item.id}']")
    assert row.select_one("[data-code]").get_text(strip=True) == "GS-31"
    link = row.select_one(f"a[href='/items/{item.id}']")
    assert link.get_text(strip=True) == "行政处罚信息公示"
    assert row.select_one("[data-unit]").get_text(strip=True) == world.section.name
    assert row.select_one("[data-scope]").get_text(strip=True) == "2026-Q4"
    assert row.select_one("[data-due]").get_text(strip=True).startswith("2026年12月1日")
    assert row.select_one("[data-due]")["data-due"] == "2026-12-01"
    assert row.select_one("[data-status='open']").get_text(strip=True) == "待办"
    assert row.select_one("[data-assignee]").get_text(strip=True) == staff.name
    assert soup.select_one("nav [data-nav='items.index']")


def test_case_items_show_their_case_number(chief_client, world, db_session):
    make_requirement(
        db_session,
        "GS-32",
        trigger="decided_on",
        deadline={"type": "working_days", "days": 20},
        owners=["case_unit"],
    )
    result = make_case(db_session, unit=world.section, decided_on=date(2026, 10, 20))
    db_session.commit()
    (item,) = result.items
    row = page(chief_client.get("/items/")).select_one(f"tr[data-item-id='{item.id}']")
    assert row.select_one("[data-scope]").get_text(strip=True) == result.case.case_no


def test_titles_follow_the_language(chief_client, world, db_session):
    world.user(Role.CHIEF).locale = "en"
    add_item(db_session, world.section, title_zh="法治学习", title_en="Law study session")
    db_session.commit()
    soup = page(chief_client.get("/items/"))
    assert "Law study session" in soup.select_one("#items tbody").get_text()
    assert "法治学习" not in soup.select_one("#items tbody").get_text()


# ---------------------------------------------------------------- filters and search


def test_filter_by_period_and_family(chief_client, world, db_session):
    year = add_item(db_session, world.section, period="2026", family="publicity")
    quarter = add_item(db_session, world.section, period="2026-Q4", family="law_study")
    half = add_item(db_session, world.section, period="2026-H2", family="law_study")
    month = add_item(db_session, world.section, period="2026-11", family="law_study")
    db_session.commit()
    assert listed(chief_client, period="2026") == [year.id]
    assert listed(chief_client, period="2026-Q4") == [quarter.id]
    assert listed(chief_client, period="2026q4") == [quarter.id]  # typed without the hyphen
    assert listed(chief_client, period="2026H2") == [half.id]
    assert listed(chief_client, period="2026-11") == [month.id]
    assert set(listed(chief_client, family="law_study")) == {quarter.id, half.id, month.id}
    assert listed(chief_client, family="law_study", period="2026-Q4") == [quarter.id]
    # An unknown family is ignored rather than answered with an error.
    assert len(listed(chief_client, family="nonsense")) == 4


def test_filter_by_status_and_overdue(chief_client, world, db_session):
    s = world.section
    open_late = add_item(db_session, s, due=date(2026, 10, 30))
    open_soon = add_item(db_session, s, due=date(2026, 11, 20))
    submitted_late = add_item(db_session, s, due=date(2026, 10, 30), status=ItemStatus.SUBMITTED)
    returned_late = add_item(db_session, s, due=date(2026, 10, 29), status=ItemStatus.RETURNED)
    approved = add_item(db_session, s, due=date(2026, 10, 1), status=ItemStatus.APPROVED)
    db_session.commit()
    assert set(listed(chief_client, status="open")) == {open_late.id, open_soon.id}
    assert listed(chief_client, status="submitted") == [submitted_late.id]
    assert listed(chief_client, status="returned") == [returned_late.id]
    assert listed(chief_client, status="approved") == [approved.id]
    # Overdue: still owed (open or returned) and past due; a submitted item is not.
    assert set(listed(chief_client, status="overdue")) == {open_late.id, returned_late.id}
    assert len(listed(chief_client, status="bogus")) == 5


def test_filter_due_within_working_days(chief_client, world, db_session):
    s = world.section
    late = add_item(db_session, s, due=date(2026, 10, 30))
    today = add_item(db_session, s, due=TODAY)
    friday = add_item(db_session, s, due=date(2026, 11, 6))  # 4th working day after Monday
    monday = add_item(db_session, s, due=date(2026, 11, 9))  # 5th working day
    db_session.commit()
    assert listed(chief_client, due_within=4) == [today.id, friday.id]
    assert listed(chief_client, due_within=5) == [today.id, friday.id, monday.id]
    assert listed(chief_client, due_within=0) == [today.id]
    assert late.id not in listed(chief_client, due_within=10)


def test_due_within_counts_working_days_across_a_holiday(chief_client, world, db_session, clock):
    # Wednesday 30 September 2026: the National Day holiday (1-7 October) comes next.
    clock.freeze(datetime(2026, 9, 30, 10, 0))
    s = world.section
    holiday = add_item(db_session, s, due=date(2026, 10, 5))
    after = add_item(db_session, s, due=date(2026, 10, 8))  # 1st working day after the holiday
    next_day = add_item(db_session, s, due=date(2026, 10, 9))
    db_session.commit()
    assert listed(chief_client, due_within=1) == [holiday.id, after.id]
    assert listed(chief_client, due_within=2) == [holiday.id, after.id, next_day.id]


def test_filter_by_assignee(chief_client, world, db_session):
    chief, staff = world.user(Role.CHIEF), world.user(Role.STAFF)
    mine = add_item(db_session, world.section, assignee=chief)
    theirs = add_item(db_session, world.section, assignee=staff)
    nobody = add_item(db_session, world.section)
    db_session.commit()
    assert listed(chief_client, assignee="me") == [mine.id]
    assert listed(chief_client, assignee="none") == [nobody.id]
    assert listed(chief_client, assignee=str(staff.id)) == [theirs.id]
    options = page(chief_client.get("/items/")).select("#assignee option")
    assert str(staff.id) in [o["value"] for o in options]
    chosen = page(chief_client.get(f"/items/?assignee={staff.id}")).select("#assignee [selected]")
    assert [o["value"] for o in chosen] == [str(staff.id)]  # the filter shows what it applies


def test_filter_by_unit_only_within_scope(app, chief_client, world, db_session):
    sub = make_unit(db_session, parent=world.section, code="SUB", name="食品安全监管一组")
    own = add_item(db_session, world.section)
    below = add_item(db_session, sub)
    station = add_item(db_session, world.station)
    db_session.commit()
    assert listed(chief_client, unit=sub.id) == [below.id]
    assert listed(chief_client, unit=world.section.id) == [own.id]
    # Another unit is not a choice: the filter is ignored and nothing outside scope shows.
    assert set(listed(chief_client, unit=world.station.id)) == {own.id, below.id}
    choices = [o["value"] for o in page(chief_client.get("/items/")).select("#unit option")]
    assert str(world.station.id) not in choices and str(sub.id) in choices
    chosen = page(chief_client.get(f"/items/?unit={sub.id}")).select("#unit [selected]")
    assert [o["value"] for o in chosen] == [str(sub.id)]
    admin = signed_in_client(app, world.user(Role.ADMIN))
    assert listed(admin, unit=world.station.id) == [station.id]


def test_search_by_code_and_title(app, chief_client, world, db_session):
    a = add_item(db_session, world.section, code="GS-41", title_zh="执法公示", title_en="Publicity")
    b = add_item(
        db_session, world.section, code="JL-42", title_zh="全过程记录", title_en="Recording"
    )
    db_session.commit()
    assert listed(chief_client, q="gs-41") == [a.id]
    assert listed(chief_client, q="全过程") == [b.id]
    assert listed(chief_client, q="record") == [b.id]
    assert listed(chief_client, q="nothing like it") == []
    response = chief_client.get("/items/", query_string={"q": "nothing like it"})
    assert page(response).select_one("#no-items")


def test_sort_by_due_date(chief_client, world, db_session):
    late = add_item(db_session, world.section, due=date(2026, 12, 20))
    early = add_item(db_session, world.section, due=date(2026, 11, 10))
    middle = add_item(db_session, world.section, due=date(2026, 12, 1))
    db_session.commit()
    assert listed(chief_client) == [early.id, middle.id, late.id]  # earliest first by default
    assert listed(chief_client, sort="due") == [early.id, middle.id, late.id]
    assert listed(chief_client, sort="-due") == [late.id, middle.id, early.id]


def test_pages_keep_the_filters(app, chief_client, world, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "PER_PAGE", 2)
    items = [
        add_item(db_session, world.section, due=date(2026, 11, 10 + n), family="law_study")
        for n in range(5)
    ]
    add_item(db_session, world.section, family="publicity")
    db_session.commit()
    ids = [i.id for i in items]
    assert listed(chief_client, family="law_study") == ids[:2]
    assert listed(chief_client, family="law_study", page=2) == ids[2:4]
    assert listed(chief_client, family="law_study", page=3) == ids[4:]
    assert listed(chief_client, family="law_study", page=9) == []
    soup = page(chief_client.get("/items/", query_string={"family": "law_study"}))
    links = [a["href"] for a in soup.select(".pagination a.page-link")]
    assert any("page=2" in href and "family=law_study" in href for href in links)


def test_status_counts_ignore_the_status_filter(chief_client, world, db_session):
    s = world.section
    add_item(db_session, s, due=date(2026, 10, 30), family="law_study")  # open, overdue
    add_item(db_session, s, due=date(2026, 12, 1), family="law_study")  # open
    add_item(db_session, s, status=ItemStatus.SUBMITTED, family="law_study")
    add_item(db_session, s, status=ItemStatus.RETURNED, due=date(2026, 10, 1), family="law_study")
    add_item(db_session, s, status=ItemStatus.APPROVED, family="law_study")
    add_item(db_session, s, family="publicity")  # filtered out by family
    add_item(db_session, world.station, family="law_study")  # outside scope
    db_session.commit()

    def counts(**params) -> dict[str, int]:
        soup = page(chief_client.get("/items/", query_string=params))
        return {
            a["data-count"]: int(a.select_one(".badge").get_text(strip=True))
            for a in soup.select("#status-counts [data-count]")
        }

    expected = {
        "all": 5,
        "open": 2,
        "submitted": 1,
        "returned": 1,
        "approved": 1,
        "overdue": 2,
    }
    assert counts(family="law_study") == expected
    assert counts(family="law_study", status="approved") == expected
    assert counts()["all"] == 6


def test_status_counts_read_the_tally_and_count_only_overdue_items(chief_client, world, db_session):
    add_item(db_session, world.section)
    db_session.commit()
    with count_statements() as counter:
        chief_client.get("/items/?year=2026")
    tally_reads = [s for s in counter.statements if "item_tally" in s]
    item_counts = [
        s
        for s in counter.statements
        if "count(" in s.lower() and "FROM checklist_item" in s and "item_tally" not in s
    ]
    assert len(tally_reads) == 1
    assert len(item_counts) == 1 and "due_date <" in item_counts[0]  # the overdue ones


def test_filters_the_tally_does_not_keep_count_the_items_in_one_query(
    chief_client, world, db_session
):
    add_item(db_session, world.section, assignee=world.user(Role.CHIEF))
    db_session.commit()
    with count_statements() as counter:
        chief_client.get("/items/?assignee=me")
    assert not [s for s in counter.statements if "item_tally" in s]
    aggregates = [s for s in counter.statements if s.upper().count("CASE WHEN") >= 5]
    assert len(aggregates) == 1


# ---------------------------------------------------------------- traffic lights


def lights(client) -> dict[int, str]:
    soup = page(client.get("/items/"))
    return {int(tr["data-item-id"]): tr["data-light"] for tr in soup.select("#items tbody tr")}


def test_traffic_lights_with_default_thresholds(chief_client, world, db_session):
    s = world.section
    late = add_item(db_session, s, due=date(2026, 10, 30))  # one working day late
    returned_late = add_item(db_session, s, due=date(2026, 10, 30), status=ItemStatus.RETURNED)
    soon = add_item(db_session, s, due=date(2026, 11, 5))  # third working day from Monday
    later = add_item(db_session, s, due=date(2026, 11, 6))  # fourth
    submitted = add_item(db_session, s, due=date(2026, 10, 30), status=ItemStatus.SUBMITTED)
    approved = add_item(db_session, s, due=date(2026, 11, 3), status=ItemStatus.APPROVED)
    db_session.commit()
    assert lights(chief_client) == {
        late.id: "red",
        returned_late.id: "red",
        soon.id: "yellow",
        later.id: "none",
        submitted.id: "none",
        approved.id: "none",
    }
    soup = page(chief_client.get("/items/"))
    red = soup.select_one(f"tr[data-item-id='{late.id}']")
    assert "table-danger" in red["class"] and "light-red" in red["class"]
    assert red.select_one("[data-light-cell] .visually-hidden").get_text(strip=True) == "逾期"
    assert red.select_one("[data-overdue]")
    yellow = soup.select_one(f"tr[data-item-id='{soon.id}']")
    assert "table-warning" in yellow["class"] and "light-yellow" in yellow["class"]
    assert yellow.select_one("[data-light-cell] .visually-hidden")
    plain = soup.select_one(f"tr[data-item-id='{later.id}']")
    assert not plain.select_one("[data-light-cell] .visually-hidden")


def test_traffic_light_thresholds_are_configurable(
    app, chief_client, world, db_session, monkeypatch
):
    s = world.section
    one_late = add_item(db_session, s, due=date(2026, 10, 30))  # 1 working day late
    three_late = add_item(db_session, s, due=date(2026, 10, 28))  # 3 working days late
    in_five = add_item(db_session, s, due=date(2026, 11, 9))  # 5th working day ahead
    db_session.commit()
    monkeypatch.setitem(app.config, "TRACKER_OVERDUE_GRACE_WORKING_DAYS", 2)
    monkeypatch.setitem(app.config, "TRACKER_DUE_SOON_WORKING_DAYS", 5)
    assert lights(chief_client) == {
        three_late.id: "red",
        one_late.id: "yellow",  # late, but within the grace: still owed, so a warning
        in_five.id: "yellow",
    }
    monkeypatch.setitem(app.config, "TRACKER_DUE_SOON_WORKING_DAYS", 4)
    assert lights(chief_client)[in_five.id] == "none"


# ---------------------------------------------------------------- assignment controls


def test_bulk_assign_controls_only_for_assigners(app, world, db_session):
    item = add_item(db_session, world.section)
    db_session.commit()
    for role in (Role.CHIEF, Role.ADMIN):
        soup = page(signed_in_client(app, world.user(role)).get("/items/"))
        assert soup.select_one("form#bulk-assign input[name='csrf_token']"), role
        box = soup.select_one(f"input[name='item_ids'][value='{item.id}']")
        assert box["form"] == "bulk-assign"
    for role in (Role.STAFF, Role.LEADER, Role.INSPECTOR):
        soup = page(signed_in_client(app, world.user(role)).get("/items/"))
        assert not soup.select("form#bulk-assign"), role
        assert not soup.select("input[name='item_ids']"), role


def test_bulk_assign_offers_only_active_officers_and_chiefs_of_scope(
    chief_client, world, db_session
):
    gone = make_user(db_session, unit=world.section, role=Role.STAFF, name="离职人员")
    gone.active = False
    db_session.commit()
    soup = page(chief_client.get("/items/"))
    values = {o["value"] for o in soup.select("#bulk-assign select[name='assignee_id'] option")}
    assert values == {"0", str(world.user(Role.CHIEF).id), str(world.user(Role.STAFF).id)}


# ---------------------------------------------------------------- cost


@pytest.mark.parametrize("role", [Role.CHIEF, Role.ADMIN])
def test_the_list_costs_a_fixed_number_of_statements(app, world, db_session, role):
    client = signed_in_client(app, world.user(role))
    people = [world.user(Role.CHIEF), world.user(Role.STAFF)]
    add_item(db_session, world.section, assignee=people[0])
    db_session.commit()
    client.get("/items/")  # warm up anything cached per process

    def statements() -> int:
        with count_statements() as counter:
            response = client.get("/items/")
        assert response.status_code == 200
        return counter.count

    one = statements()
    assert len(listed(client)) == 1
    event = make_requirement(
        db_session,
        "GS-99",
        trigger="decided_on",
        deadline={"type": "working_days", "days": 20},
        owners=["case_unit"],
    )
    assert event is not None
    for n in range(5):
        make_case(db_session, unit=world.section, decided_on=date(2026, 10, 10 + n))
    extra = [make_user(db_session, unit=world.section, role=Role.STAFF) for _ in range(3)]
    people += extra
    for n in range(34):
        add_item(
            db_session,
            world.section,
            due=date(2026, 11, 1 + n % 28),
            status=list(ItemStatus)[n % 4],
            assignee=people[n % len(people)] if n % 5 else None,
        )
    db_session.commit()
    assert len(listed(client)) == 40
    assert statements() == one


def test_the_checklist_is_fully_english_in_english(chief_client, world, db_session):
    world.user(Role.CHIEF).locale = "en"
    add_item(db_session, world.section, title_zh="法治学习", title_en="Law study session")
    add_item(db_session, world.section, due=date(2026, 10, 30), assignee=world.user(Role.STAFF))
    db_session.commit()
    text = visible_text(chief_client.get("/items/", query_string={"q": "zzz"}))
    text += visible_text(chief_client.get("/items/"))
    for user in world.users.values():
        text = text.replace(user.name, "")  # people's names are data
    leftover = text.replace("中文", "")
    assert not CJK.search(leftover), CJK.findall(leftover)
    assert "My checklist" in text and "Due date" in text


def test_a_long_list_is_read_in_due_order_with_the_same_rows(
    chief_client, world, db_session, monkeypatch
):
    """Past LONG_LIST items the page is read along the due-date index (SQLite gets "+ 0" join
    keys to that end); the rows and their order are those of a short list."""
    from tracker.services import item_filters

    made = [add_item(db_session, world.section, due=date(2026, 11, 10 + n % 5)) for n in range(6)]
    db_session.commit()
    short = listed(chief_client, year=2026)
    monkeypatch.setattr(item_filters, "LONG_LIST", 3)
    with count_statements() as counter:
        long = listed(chief_client, year=2026)
    assert long == short and set(long) == {i.id for i in made}
    page_query = next(s for s in counter.statements if "ORDER BY checklist_item.due_date" in s)
    sqlite = db_session.get_bind().dialect.name == "sqlite"
    assert ("checklist_item.unit_id +" in page_query) is sqlite
