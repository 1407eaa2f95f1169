"""The dashboard: every figure checked against counts made here from the rows the test created.

A generated bureau (five units incl. a station and a sub-unit, four families, every status, items
overdue, due soon and far off, submissions waiting for review at various ages) is counted in
Python and compared with the data-* attributes of the page's tables, charts and lists.
"""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from bs4 import BeautifulSoup

from tests.conftest import signed_in_client
from tests.factories import make_item, make_requirement, make_unit, seed_official_holidays
from tests.helpers import CJK, count_statements, page, visible_text
from tracker.models import ItemStatus, Role, Submission
from tracker.models.catalogue import Family
from tracker.services.holidays import load_calendar

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 2)  # the clock fixture: Monday 2026-11-02 17:00 in Shanghai
SOON_END = date(2026, 11, 16)  # 10 working days after TODAY (no holiday in November)
FAMILIES = [Family.RECORDING, Family.PUBLICITY, Family.LEGAL_REVIEW, Family.LAW_STUDY]
PERIODS = ["2026", "2026-Q3", "2026-Q4", "2025"]
DUE_OFFSETS = [-45, -20, -9, -3, -1, 0, 1, 5, 14, 60]  # calendar days from TODAY
# Local submission dates of items waiting for review: ages 0, 1, 3, 4, 9, 10, 11 and more.
WAITING_ON = [
    date(2026, 11, 2),
    date(2026, 10, 30),
    date(2026, 10, 28),
    date(2026, 10, 27),
    date(2026, 10, 20),
    date(2026, 10, 19),
    date(2026, 10, 16),
    date(2026, 9, 1),
]
STATUS_KEYS = ["approved", "submitted", "open", "returned"]


@dataclass
class Row:
    id: int
    unit_id: int
    family: Family
    code: str
    status: ItemStatus
    due: date
    period: str
    submitted_at: datetime | None

    @property
    def owed(self) -> bool:
        return self.status in (ItemStatus.OPEN, ItemStatus.RETURNED)

    @property
    def overdue(self) -> bool:
        return self.owed and self.due < TODAY

    @property
    def on_time(self) -> bool:
        deadline = datetime.combine(self.due + timedelta(days=1), time(), tzinfo=TZ)
        return self.status == ItemStatus.APPROVED and self.submitted_at < deadline

    @property
    def due_or_done(self) -> bool:
        return self.status == ItemStatus.APPROVED or self.due < TODAY


@dataclass
class World:
    units: list
    requirements: list
    rows: list[Row]


@pytest.fixture
def world(db_session, bureau, clock) -> World:
    seed_official_holidays(db_session)
    sub = make_unit(db_session, parent=bureau.section, code="SUB", name="食品安全一组")
    units = [bureau.root, bureau.legal, bureau.section, sub, bureau.station]
    requirements = [
        make_requirement(db_session, f"D{chr(65 + i)}-01", cadence="annual", family=family.value)
        for i, family in enumerate(FAMILIES)
    ]
    world = World(units, requirements, [])
    add_items(db_session, bureau, world, 120)
    return world


def add_items(session, bureau, world: World, n: int) -> None:
    """n generated items over every unit, family, status, period and due date, with submissions."""
    rng = random.Random(len(world.rows) + 7)
    staff = bureau.user(Role.STAFF)
    start = len(world.rows)
    for i in range(start, start + n):
        unit = world.units[i % len(world.units)]
        requirement = world.requirements[(i // len(world.units)) % len(world.requirements)]
        status = list(ItemStatus)[rng.randrange(4)]
        due = TODAY + timedelta(days=rng.choice(DUE_OFFSETS))
        period = rng.choice(PERIODS)
        item = make_item(
            session,
            unit=unit,
            requirement=requirement,
            period=period,
            status=status,
            due_date=due,
            scope_key=f"k{i}",
        )
        submitted_at = None
        if status == ItemStatus.SUBMITTED:
            local = datetime.combine(rng.choice(WAITING_ON), time(10), tzinfo=TZ)
            submitted_at = local.astimezone(UTC)
        elif status == ItemStatus.APPROVED:
            # Half an hour before or after the end of the due date (local), or well before.
            end = datetime.combine(due + timedelta(days=1), time(), tzinfo=TZ)
            submitted_at = (end + timedelta(minutes=rng.choice([-30, 30, -3000]))).astimezone(UTC)
        elif status == ItemStatus.RETURNED:
            submitted_at = datetime(2026, 9, 1, 2, tzinfo=UTC)
        if submitted_at is not None:
            if status == ItemStatus.APPROVED:  # an earlier round: only the latest one counts
                session.add(
                    Submission(
                        item_id=item.id,
                        round=1,
                        submitted_by_id=staff.id,
                        submitted_at=submitted_at - timedelta(days=100),
                    )
                )
            session.add(
                Submission(
                    item_id=item.id, round=2, submitted_by_id=staff.id, submitted_at=submitted_at
                )
            )
            item.last_submitted_at = submitted_at  # as the submit service keeps it
        world.rows.append(
            Row(
                item.id,
                unit.id,
                requirement.family,
                requirement.code,
                status,
                due,
                period,
                submitted_at,
            )
        )
    # One waiting item submitted at 00:30 local on 28 October (27 October in UTC): its age is
    # counted from the local date.
    if start == 0:
        item = make_item(
            session,
            unit=bureau.station,
            requirement=world.requirements[0],
            status=ItemStatus.SUBMITTED,
            due_date=TODAY + timedelta(days=30),
            scope_key="midnight",
        )
        at = datetime(2026, 10, 28, 0, 30, tzinfo=TZ).astimezone(UTC)
        assert at.date() == date(2026, 10, 27)
        session.add(Submission(item_id=item.id, round=1, submitted_by_id=staff.id, submitted_at=at))
        item.last_submitted_at = at  # as the submit service keeps it
        world.rows.append(
            Row(
                item.id,
                bureau.station.id,
                world.requirements[0].family,
                world.requirements[0].code,
                ItemStatus.SUBMITTED,
                item.due_date,
                "2026",
                at,
            )
        )
    session.commit()


# ---------------------------------------------------------------- expected figures


def in_view(rows: list[Row], *, year: int = 2026, period: str = "", unit_ids=None) -> list[Row]:
    return [
        r
        for r in rows
        if r.period.startswith(str(year))
        and (not period or r.period == period)
        and (unit_ids is None or r.unit_id in unit_ids)
    ]


def counts(rows: list[Row]) -> dict[str, int]:
    result = {"total": len(rows), "overdue": sum(r.overdue for r in rows)}
    for key in STATUS_KEYS:
        result[key] = sum(r.status == key for r in rows)
    result["owed"] = result["open"] + result["returned"]
    return result


def cells(tr) -> dict[str, int]:
    """The figures of one table row, from its data-* attributes."""
    result = {td["data-status"]: int(td["data-count"]) for td in tr.select("td[data-status]")}
    for key in ("open", "returned"):
        result[key] = int(tr.select_one(f"a[data-status={key}]")["data-count"])
    return result


def check_tables(soup, rows: list[Row], unit_ids) -> None:
    family_rows = soup.select("#family-table tbody tr")
    expected_families = {f.value for f in Family if any(r.family == f for r in rows)}
    assert {tr["data-family"] for tr in family_rows} == expected_families
    for tr in family_rows:
        mine = [r for r in rows if r.family == tr["data-family"]]
        assert cells(tr) == counts(mine), tr["data-family"]
        rate = tr.select_one("[data-rate=on-time]")
        assert int(rate["data-on-time"]) == sum(r.on_time for r in mine)
        assert int(rate["data-due-or-done"]) == sum(r.due_or_done for r in mine)

    unit_rows = soup.select("#unit-table tbody tr")
    assert {int(tr["data-unit"]) for tr in unit_rows} == {r.unit_id for r in rows}
    assert {r.unit_id for r in rows} <= set(unit_ids)
    for tr in unit_rows:
        mine = [r for r in rows if r.unit_id == int(tr["data-unit"])]
        assert cells(tr) == counts(mine), tr["data-unit"]

    summary = {d["data-summary"]: d for d in soup.select("#summary [data-summary]")}
    total = counts(rows)
    for key in ("total", "approved", "submitted", "owed", "overdue"):
        assert int(summary[key]["data-count"]) == total[key], key
    assert int(summary["on-time"]["data-on-time"]) == sum(r.on_time for r in rows)
    assert int(summary["on-time"]["data-due-or-done"]) == sum(r.due_or_done for r in rows)


def check_charts(soup, rows: list[Row]) -> None:
    for chart, key, attr in (
        ("#chart-family", "family", "data-family"),
        ("#chart-unit", "unit", "data-unit"),
    ):
        bars = soup.select(f"{chart} g.bar")
        assert bars
        for bar in bars:
            value = bar[attr]
            mine = [
                r for r in rows if str(r.family.value if key == "family" else r.unit_id) == value
            ]
            expected = counts(mine)
            assert int(bar["data-total"]) == expected["total"]
            drawn = {a["data-status"]: int(a["data-count"]) for a in bar.select("a.segment")}
            assert drawn == {k: v for k in (*STATUS_KEYS, "overdue") if (v := expected[k])}
            for a in bar.select("a.segment"):
                query = parse_qs(urlsplit(a["href"]).query)
                assert query["status"] == [a["data-status"]]
                assert query[key] == [value]
                assert query["year"] == ["2026"]


def calendar_of(db_session):
    return load_calendar(db_session)


# ---------------------------------------------------------------- tests


def test_admin_sees_every_figure_of_the_bureau(admin_client, world, db_session):
    response = admin_client.get("/dashboard/?year=2026")
    assert response.status_code == 200
    soup = page(response)
    rows = in_view(world.rows)
    check_tables(soup, rows, [u.id for u in world.units])
    check_charts(soup, rows)
    assert soup.select_one("#summary")["data-period"] == ""


def test_period_narrows_every_figure_to_that_period(leader_client, world):
    soup = page(leader_client.get("/dashboard/?year=2026&period=2026-q4"))
    assert soup.select_one("#summary")["data-period"] == "2026-Q4"
    rows = in_view(world.rows, period="2026-Q4")
    check_tables(soup, rows, [u.id for u in world.units])
    for a in soup.select("#chart-unit a.segment"):
        assert parse_qs(urlsplit(a["href"]).query)["period"] == ["2026-Q4"]


@pytest.mark.parametrize("period", ["2025-Q4", "2026-Q5", "nonsense"])
def test_invalid_period_is_ignored(inspector_client, world, period):
    soup = page(inspector_client.get(f"/dashboard/?year=2026&period={period}"))
    assert soup.select_one("#summary")["data-period"] == ""
    check_tables(soup, in_view(world.rows), [u.id for u in world.units])


def test_other_year_and_default_year(admin_client, world):
    soup = page(admin_client.get("/dashboard/?year=2025"))
    check_tables(soup, in_view(world.rows, year=2025), [u.id for u in world.units])
    default = page(admin_client.get("/dashboard/?year=abc"))
    assert int(default.select_one("[data-summary=total]")["data-count"]) == len(in_view(world.rows))


def test_chief_sees_only_his_subtree(app, bureau, world):
    chief = bureau.user(Role.CHIEF)  # chief of the food-safety section, which has a sub-unit
    subtree = [u.id for u in world.units if u.path.startswith(bureau.section.path)]
    assert len(subtree) == 2
    soup = page(signed_in_client(app, chief).get("/dashboard/?year=2026"))
    rows = in_view(world.rows, unit_ids=subtree)
    check_tables(soup, rows, subtree)
    check_charts(soup, rows)
    assert soup.select_one("#review-backlog") is None  # chiefs do not review
    soon = [r for r in world.rows if r.owed and TODAY <= r.due <= SOON_END and r.unit_id in subtree]
    assert int(soup.select_one("#due-soon")["data-count"]) == len(soon)

    other = page(signed_in_client(app, bureau.users["other_chief"]).get("/dashboard/?year=2026"))
    assert {int(tr["data-unit"]) for tr in other.select("#unit-table tbody tr")} == {
        bureau.station.id
    }


def test_staff_get_403_and_visitors_sign_in(staff_client, client):
    assert staff_client.get("/dashboard/").status_code == 403
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_due_soon_lists_the_next_ten_working_days(admin_client, world, db_session):
    assert calendar_of(db_session).add_working_days(TODAY, 10) == SOON_END
    soup = page(admin_client.get("/dashboard/?year=2026"))
    soon = sorted(
        (r for r in world.rows if r.owed and TODAY <= r.due <= SOON_END),
        key=lambda r: (r.due, r.code, r.id),
    )
    assert len(soon) > 10
    assert int(soup.select_one("#due-soon")["data-count"]) == len(soon)
    listed = soup.select("#due-soon [data-item]")
    assert [int(li["data-item"]) for li in listed] == [r.id for r in soon[:10]]
    for li in listed:
        assert li.a["href"] == f"/items/{li['data-item']}"
    see_all = soup.select_one("#due-soon-all")["href"]
    assert parse_qs(urlsplit(see_all).query) == {"due_within": ["10"]}
    # The list behind it: its open and returned items are the figure.
    listing = page(admin_client.get(see_all))
    owed = sum(
        int(listing.select_one(f"#status-counts [data-count={s}] [data-value]").get_text())
        for s in ("open", "returned")
    )
    assert owed == len(soon)


def test_longest_overdue_items_with_working_days(admin_client, world, db_session):
    calendar = calendar_of(db_session)
    soup = page(admin_client.get("/dashboard/?year=2026"))
    overdue = sorted(
        (r for r in in_view(world.rows) if r.overdue), key=lambda r: (r.due, r.code, r.id)
    )
    assert len(overdue) > 10
    listed = soup.select("#longest-overdue tr[data-item]")
    assert [int(tr["data-item"]) for tr in listed] == [r.id for r in overdue[:10]]
    for tr, r in zip(listed, overdue, strict=False):
        assert int(tr["data-days"]) == calendar.working_days_between(r.due, TODAY)
    assert calendar.working_days_between(date(2026, 10, 30), TODAY) == 1  # Fri → Mon: one
    assert int(soup.select_one("#longest-overdue")["data-count"]) == len(overdue)


def test_review_backlog_and_its_age(
    inspector_client, admin_client, leader_client, world, db_session
):
    calendar = calendar_of(db_session)
    waiting = [r for r in world.rows if r.status == ItemStatus.SUBMITTED]  # every year
    ages = [
        calendar.working_days_between(r.submitted_at.astimezone(TZ).date(), TODAY) for r in waiting
    ]
    assert {0, 3, 4, 10, 11} <= set(ages)
    expected = {
        "0-3": sum(a <= 3 for a in ages),
        "4-10": sum(4 <= a <= 10 for a in ages),
        "11+": sum(a > 10 for a in ages),
    }
    for client in (inspector_client, admin_client):
        section = page(client.get("/dashboard/?year=2026")).select_one("#review-backlog")
        assert int(section["data-count"]) == len(waiting)
        assert int(section["data-oldest"]) == max(ages)
        buckets = {
            td["data-bucket"]: int(td["data-count"]) for td in section.select("[data-bucket]")
        }
        assert buckets == expected
    assert page(leader_client.get("/dashboard/")).select_one("#review-backlog") is None


def test_segment_links_open_the_list_behind_the_figure(admin_client, bureau, world):
    soup = page(admin_client.get("/dashboard/?year=2026"))
    followed = 0
    for a in soup.select(f"#chart-unit g.bar[data-unit='{bureau.station.id}'] a.segment"):
        listing = page(admin_client.get(a["href"]))
        shown = listing.select("tr[data-item-id]")
        assert len(shown) == int(a["data-count"]), a["href"]
        followed += 1
    assert followed >= 3
    # A table cell's link too: the family's overdue items.
    cell = soup.select_one("#family-table tr[data-family=recording] a[data-status=overdue]")
    listing = page(admin_client.get(cell["href"]))
    assert len(listing.select("tr[data-item-id]")) == int(cell["data-count"])


def test_charts_are_valid_accessible_svg(admin_client, world):
    html = admin_client.get("/dashboard/?year=2026").get_data(as_text=True)
    svg_ns = "{http://www.w3.org/2000/svg}"
    for chart_id in ("chart-family", "chart-unit"):
        start = re.search(rf'<svg [^>]*id="{chart_id}"', html).start()
        end = html.index("</svg>", start) + len("</svg>")
        root = ET.fromstring(html[start:end])  # noqa: S314 (our own page)
        assert root.tag == f"{svg_ns}svg"
        assert root.find(f"{svg_ns}title").text
        assert root.find(f"{svg_ns}desc").text
        links = root.findall(f".//{svg_ns}a")
        assert links and all(a.get("href", "").startswith("/items/?") for a in links)
        assert all(a.find(f"{svg_ns}rect/{svg_ns}title") is not None for a in links)
        assert root.findall(f".//{svg_ns}text")  # labels are text, readable without the bars
    assert not BeautifulSoup(html, "html.parser").select("main script")  # no JavaScript


def test_english_page_has_no_chinese(admin_client, bureau, world, db_session):
    admin = bureau.user(Role.ADMIN)
    admin.locale = "en"
    db_session.commit()
    text = visible_text(admin_client.get("/dashboard/?year=2026"))
    for user in bureau.users.values():
        text = text.replace(user.name, "")
    leftover = text.replace("中文", "")
    assert not CJK.search(leftover), CJK.findall(leftover)
    assert "Completion by family" in text and "Review backlog" in text


def test_statement_count_does_not_grow_with_the_data(admin_client, bureau, world, db_session):
    admin_client.get("/dashboard/?year=2026")  # warm-up
    with count_statements() as small:
        assert admin_client.get("/dashboard/?year=2026&period=2026-Q4").status_code == 200
    with count_statements() as small_year:
        assert admin_client.get("/dashboard/?year=2026").status_code == 200
    add_items(db_session, bureau, world, 4 * 120)
    # Case items overdue since January head the "longest overdue" list: each shows its case.
    from tests.factories import make_case

    make_requirement(db_session)  # an event requirement of the case's unit
    for day in (5, 6, 7):
        make_case(db_session, unit=world.units[0], decided_on=date(2026, 1, day))
    db_session.commit()
    with count_statements() as large:
        response = admin_client.get("/dashboard/?year=2026&period=2026-Q4")
    with count_statements() as large_year:
        admin_client.get("/dashboard/?year=2026")
    assert large.count == small.count
    assert large_year.count == small_year.count
    check_tables(page(response), in_view(world.rows, period="2026-Q4"), [u.id for u in world.units])


def test_the_unit_figures_come_a_page_at_a_time(app, db_session, bureau, clock):
    """A city has hundreds of units: the unit chart and table show 25 at a time, in tree order,
    while the totals still cover every unit."""
    from tracker.dashboard.views import UNITS_PER_PAGE

    units = [
        make_unit(db_session, parent=bureau.station, code=f"P{n:02d}", name=f"分所{n:02d}")
        for n in range(UNITS_PER_PAGE + 5)
    ]
    for unit in units:
        make_item(db_session, unit=unit, period="2026-Q1")
    db_session.commit()
    leader = signed_in_client(app, bureau.user(Role.LEADER))

    first = page(leader.get("/dashboard/?year=2026"))
    second = page(leader.get("/dashboard/?year=2026&page=2"))
    shown = [
        [int(tr["data-unit"]) for tr in soup.select("#unit-table tbody tr")]
        for soup in (first, second)
    ]
    assert len(shown[0]) == UNITS_PER_PAGE and 0 < len(shown[1]) <= UNITS_PER_PAGE
    assert set(shown[0]).isdisjoint(shown[1])
    assert {u.id for u in units} <= set(shown[0]) | set(shown[1])
    for soup in (first, second):
        total = soup.select_one("#summary [data-summary=total]")
        assert total is not None and int(total["data-count"]) == len(units)
    assert first.select_one(".pagination a[href*='page=2']") is not None


@pytest.mark.parametrize("period", [None, "2026-Q4"])
@pytest.mark.parametrize("viewer_role", [None, Role.CHIEF])
def test_family_figures_and_a_page_of_units_agree_with_the_unit_rows(
    db_session, bureau, world, period, viewer_role
):
    """The page asks for family totals and one page of units; both must equal the full unit x
    family rows (which the API returns) summed, for every viewer and with a period."""
    from tracker.services import figures

    viewer = bureau.user(viewer_role) if viewer_role else None
    counted = {"year": 2026, "today": TODAY, "viewer": viewer, "period": period}
    full = figures.unit_family_figures(db_session, **counted)
    assert full  # the world has items of every unit in 2026 and in its last quarter

    families = figures.family_figures(db_session, **counted)
    expected: dict[Family, list[int]] = {}
    for row in full:
        sums = expected.setdefault(row.family, [0, 0, 0, 0, 0, 0])
        for i, value in enumerate([row.total, row.overdue, *row.by_status.values()]):
            sums[i] += value
    assert {
        row.family: [row.total, row.overdue, *row.by_status.values()] for row in families
    } == expected
    assert [row.family for row in families] == [f for f in Family if f in expected]
    assert figures.totals(families) == figures.totals(full)
    if period is None:  # the on-time count kept by the tally, per family
        shown = in_view(world.rows, unit_ids={row.unit_id for row in full})
        kept = {family: sum(r.on_time for r in shown if r.family == family) for family in expected}
        assert {row.family: row.on_time for row in families} == kept
        # Past due and not approved (owed or waiting for review): the on-time rate's base.
        late = {
            family: sum(
                r.family == family and r.status != ItemStatus.APPROVED and r.due < TODAY
                for r in shown
            )
            for family in expected
        }
        assert {row.family: row.late for row in families} == late
        assert late != {row.family: row.overdue for row in families}  # submitted late too

    unit_ids = figures.units_with_items(db_session, year=2026, viewer=viewer, period=period)
    assert unit_ids == list(dict.fromkeys(row.unit_id for row in full))  # tree order, once each
    for start in range(0, len(unit_ids), 2):  # pages of two units
        some = unit_ids[start : start + 2]
        assert figures.unit_family_figures(db_session, **counted, unit_ids=some) == [
            row for row in full if row.unit_id in some
        ]
    assert figures.unit_family_figures(db_session, **counted, unit_ids=[]) == []
