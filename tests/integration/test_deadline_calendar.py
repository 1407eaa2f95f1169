"""The deadline calendar: October 2026 with National Day, its make-up day, counts and scope."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import signed_in_client
from tests.factories import make_item, make_requirement, seed_official_holidays
from tests.helpers import count_statements, page
from tracker.models import ItemStatus, Role


@pytest.fixture
def october(db_session, bureau):
    """Items due in October 2026 for the section and the station (today is 2026-11-02)."""
    seed_official_holidays(db_session)
    requirement = make_requirement(db_session, "GS-80", cadence="annual", owners=["SEC", "STA"])
    n = iter(range(1000))

    def item(unit, due, status=ItemStatus.OPEN):
        return make_item(
            db_session,
            unit=unit,
            requirement=requirement,
            due_date=due,
            status=status,
            scope_key=f"cal{next(n)}",
        )

    item(bureau.section, date(2026, 10, 8))
    item(bureau.section, date(2026, 10, 8), ItemStatus.RETURNED)
    item(bureau.section, date(2026, 10, 8), ItemStatus.APPROVED)
    item(bureau.station, date(2026, 10, 8))
    item(bureau.section, date(2026, 10, 10), ItemStatus.SUBMITTED)  # the make-up Saturday
    item(bureau.station, date(2026, 10, 30), ItemStatus.APPROVED)
    item(bureau.section, date(2026, 9, 30))  # September: not in the month
    item(bureau.section, date(2026, 11, 1))  # November: shown dimmed, not counted
    db_session.commit()
    return item


def cells(response) -> dict[str, dict]:
    return {
        td["data-day"]: {
            "kind": td["data-kind"],
            "total": int(td["data-total"]),
            "owed": int(td["data-owed"]),
            "overdue": int(td["data-overdue"]),
            "text": td.get_text(" ", strip=True),
            "outside": "day-outside" in td["class"],
        }
        for td in page(response).select("#deadline-grid td[data-day]")
    }


def test_month_grid_marks_rest_make_up_and_weekend_days(admin_client, october):
    response = admin_client.get("/dashboard/deadlines?month=2026-10")
    assert response.status_code == 200
    grid = cells(response)
    # Monday-first: 2026-10-01 is a Thursday, so the grid starts on Monday 28 September.
    assert next(iter(grid)) == "2026-09-28" and list(grid)[-1] == "2026-11-01"
    assert len(grid) % 7 == 0
    for day in range(1, 8):
        assert grid[f"2026-10-{day:02d}"]["kind"] == "rest"
        assert "国庆节" in grid[f"2026-10-{day:02d}"]["text"]
    assert grid["2026-10-10"]["kind"] == "make_up" and "补班" in grid["2026-10-10"]["text"]
    assert grid["2026-10-11"]["kind"] == "weekend"  # a Sunday
    assert grid["2026-10-09"]["kind"] == "working"
    assert grid["2026-09-28"]["outside"] and grid["2026-11-01"]["outside"]
    soup = page(response)
    assert "2026年10月" in soup.select_one("#month-title").get_text()
    assert "month=2026-09" in soup.select_one("#previous-month")["href"]
    assert "month=2026-11" in soup.select_one("#next-month")["href"]


def test_counts_per_day_equal_the_items_created(admin_client, october):
    grid = cells(admin_client.get("/dashboard/deadlines?month=2026-10"))
    assert grid["2026-10-08"] == {**grid["2026-10-08"], "total": 4, "owed": 3, "overdue": 3}
    assert (grid["2026-10-10"]["total"], grid["2026-10-10"]["owed"]) == (1, 0)
    assert (grid["2026-10-30"]["total"], grid["2026-10-30"]["overdue"]) == (1, 0)
    assert grid["2026-09-30"]["total"] == 0 and grid["2026-11-01"]["total"] == 0
    counted = {d: c["total"] for d, c in grid.items() if c["total"]}
    assert counted == {"2026-10-08": 4, "2026-10-10": 1, "2026-10-30": 1}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", {"2026-10-08": 4, "2026-10-10": 1, "2026-10-30": 1}),
        ("leader", {"2026-10-08": 4, "2026-10-10": 1, "2026-10-30": 1}),
        ("chief", {"2026-10-08": 3, "2026-10-10": 1}),
        ("staff", {"2026-10-08": 3, "2026-10-10": 1}),
        ("other_chief", {"2026-10-08": 1, "2026-10-30": 1}),
    ],
)
def test_each_role_counts_only_its_scope(app, bureau, october, who, expected):
    client = signed_in_client(app, bureau.users[who])
    grid = cells(client.get("/dashboard/deadlines?month=2026-10"))
    assert {d: c["total"] for d, c in grid.items() if c["total"]} == expected


def test_day_panel_lists_the_days_items_in_scope(app, bureau, october):
    client = signed_in_client(app, bureau.user(Role.CHIEF))
    response = client.get("/dashboard/deadlines?day=2026-10-08")
    soup = page(response)
    rows = soup.select("#day-items tbody tr")
    assert len(rows) == 3  # the station's item is not the section chief's
    assert all(row.select_one("a")["href"].startswith("/items/") for row in rows)
    assert len(soup.select("#day-items .text-bg-danger")) == 2  # the open and the returned one
    assert "国庆节" not in soup.select_one("#day-title").get_text()
    holiday = page(client.get("/dashboard/deadlines?day=2026-10-03"))
    assert "国庆节" in holiday.select_one("#day-title").get_text()
    assert holiday.select_one("#day-empty") is not None


def test_day_panel_lists_twenty_and_counts_the_rest(admin_client, bureau, october):
    for _ in range(23):
        october(bureau.station, date(2026, 10, 21))
    soup = page(admin_client.get("/dashboard/deadlines?day=2026-10-21"))
    assert len(soup.select("#day-items tbody tr")) == 20
    assert "3" in soup.select_one("#day-more").get_text()


def test_english_page_names_the_holiday_in_english(admin_client, bureau, db_session, october):
    bureau.user(Role.ADMIN).locale = "en"
    db_session.commit()
    response = admin_client.get("/dashboard/deadlines?month=2026-10")
    grid = cells(response)
    assert "National Day" in grid["2026-10-01"]["text"]
    assert "Make-up working day" in grid["2026-10-10"]["text"]
    assert "October 2026" in page(response).select_one("#month-title").get_text()


def test_an_uncovered_year_is_flagged(admin_client, october):
    soup = page(admin_client.get("/dashboard/deadlines?month=2030-05"))
    assert soup.select_one("#calendar-uncovered") is not None


def test_invalid_month_falls_back_to_this_month(admin_client, october, clock):
    # "This month" is the bureau's clock's (frozen on 2 November 2026), not the machine's.
    soup = page(admin_client.get("/dashboard/deadlines?month=nonsense"))
    assert "2026年11月" in soup.select_one("#month-title").get_text()


def test_statements_do_not_grow_with_the_items(admin_client, bureau, october):
    admin_client.get("/dashboard/deadlines?day=2026-10-08")  # warm-up: sign-in, caches
    with count_statements() as few:
        admin_client.get("/dashboard/deadlines?day=2026-10-08")
    for day in range(12, 31):
        for unit in (bureau.section, bureau.station):
            october(unit, date(2026, 10, day))
            october(unit, date(2026, 10, day), ItemStatus.RETURNED)
    for _ in range(15):
        october(bureau.section, date(2026, 10, 8))
    with count_statements() as many:
        response = admin_client.get("/dashboard/deadlines?day=2026-10-08")
    assert response.status_code == 200
    assert many.count == few.count, many.statements


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/dashboard/deadlines")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
