"""Admin calendar page: covered years, single-day edits, CSV import with recomputation, warnings."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tests.factories import make_case, make_requirement, seed_official_holidays
from tests.helpers import count_statements, flashes, page, post_form
from tracker.models import AuditEvent, ChecklistItem, Holiday, HolidayYear

DECEMBER = datetime(2026, 12, 21, 2, 0, tzinfo=UTC)


@pytest.fixture
def provisional_item(db_session, bureau, clock):
    """A publication due 20 working days after 2026-12-20: in 2027, not yet covered."""
    clock.freeze(DECEMBER)
    seed_official_holidays(db_session)
    make_requirement(
        db_session,
        "GS-91",
        deadline={"type": "working_days", "days": 20},
        owners=["case_unit"],
    )
    (item,) = make_case(
        db_session, unit=bureau.station, decided_on=date(2026, 12, 20), now=DECEMBER
    ).items
    db_session.commit()
    assert (item.due_date, item.due_provisional) == (date(2027, 1, 15), True)
    return item


def upload(client, data: bytes, name: str = "2027.csv"):
    return post_form(
        client,
        "/admin/calendar/import",
        {"file": (io.BytesIO(data), name), "year": "2027"},
        form_url="/admin/calendar",
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def test_warning_on_home_and_item_then_csv_import_recomputes(
    admin_client, provisional_item, db_session
):
    home = page(admin_client.get("/"))
    warning = home.select_one("#calendar-warning").get_text(" ", strip=True)
    assert "2027" in warning and "1" in warning
    item_page = page(admin_client.get(f"/items/{provisional_item.id}"))
    assert "2027" in item_page.select_one("#due-basis").get_text()

    response = upload(admin_client, "date,kind,name\n2027-01-01,rest,元旦\n".encode())
    assert response.status_code == 200
    assert response.request.path == "/admin/calendar"
    messages = " ".join(flashes(response))
    assert "2027" in messages and "1" in messages
    db_session.expire_all()
    item = db_session.get(ChecklistItem, provisional_item.id)
    assert (item.due_date, item.due_provisional) == (date(2027, 1, 18), False)
    assert not page(admin_client.get("/")).select("#calendar-warning")
    years = [
        r.select("td")[0].get_text(strip=True)
        for r in page(response).select("#covered-years tbody tr")
    ]
    assert "2027" in years


def test_bad_csv_lists_errors_by_line_and_changes_nothing(
    admin_client, provisional_item, db_session
):
    response = upload(
        admin_client, "2027-01-01,rest,元旦\n2027-13-01,rest,坏\n2027-01-04,workday,周一\n".encode()
    )
    assert response.status_code == 400
    errors = [li.get_text(" ", strip=True) for li in page(response).select("#import-errors li")]
    assert len(errors) == 2 and "2" in errors[0] and "3" in errors[1]
    assert db_session.get(HolidayYear, 2027) is None
    assert db_session.scalar(select(Holiday).where(Holiday.day == date(2027, 1, 1))) is None

    missing = post_form(
        admin_client,
        "/admin/calendar/import",
        {},
        form_url="/admin/calendar",
        content_type="multipart/form-data",
    )
    assert missing.status_code == 400 and page(missing).select("#file ~ .invalid-feedback")


def test_editing_a_day_of_a_covered_year_recomputes_and_is_audited(
    admin_client, provisional_item, db_session
):
    upload(admin_client, "date,kind,name\n2027-01-01,rest,元旦\n".encode())
    response = post_form(
        admin_client,
        "/admin/calendar/days",
        {"day": "2027-01-05", "kind": "rest", "name": "演练", "year": "2027"},
        form_url="/admin/calendar",
        follow_redirects=True,
    )
    assert response.status_code == 200
    days = [
        r.select("td")[0].get_text(strip=True)
        for r in page(response).select("#special-days tbody tr")
    ]
    assert days[1].startswith("2027-01-05")
    db_session.expire_all()
    assert db_session.get(ChecklistItem, provisional_item.id).due_date == date(2027, 1, 19)
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "holiday.changed"))

    removed = post_form(
        admin_client,
        "/admin/calendar/days/2027-01-05/remove",
        {},
        form_url="/admin/calendar",
        follow_redirects=True,
    )
    assert removed.status_code == 200
    db_session.expire_all()
    assert db_session.get(ChecklistItem, provisional_item.id).due_date == date(2027, 1, 18)
    for missing in ("2027-01-06", "not-a-date"):
        url = f"/admin/calendar/days/{missing}/remove"
        assert post_form(admin_client, url, {}, form_url="/admin/calendar").status_code == 404


def test_a_make_up_day_on_a_weekday_is_refused_next_to_the_field(admin_client, bureau, db_session):
    response = post_form(
        admin_client,
        "/admin/calendar/days",
        {"day": "2027-01-04", "kind": "workday", "name": "补班"},
        form_url="/admin/calendar",
    )
    assert response.status_code == 400
    assert page(response).select("#kind ~ .invalid-feedback")
    assert db_session.scalar(select(Holiday).where(Holiday.day == date(2027, 1, 4))) is None


def test_only_admins_manage_the_calendar(chief_client, inspector_client, bureau):
    for client in (chief_client, inspector_client):
        assert client.get("/admin/calendar").status_code == 403
        assert (
            post_form(
                client,
                "/admin/calendar/days",
                {"day": "2027-01-05", "kind": "rest", "name": "x"},
                form_url="/cases/",
            ).status_code
            == 403
        )


def test_the_calendar_page_costs_a_fixed_number_of_statements(admin_client, db_session, bureau):
    seed_official_holidays(db_session)
    db_session.commit()

    def cost(year: int) -> int:
        admin_client.get(f"/admin/calendar?year={year}")
        with count_statements() as counter:
            assert admin_client.get(f"/admin/calendar?year={year}").status_code == 200
        return counter.count

    assert cost(2025) == cost(2026) == cost(2030)
