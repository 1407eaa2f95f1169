"""The dashboard: where the bureau (or a chief's units) stands for a year and period.

Figures come from SQL aggregates (`services.figures`, `services.dashboard`); each one links to the
item list filtered to the items behind it, with the list's own query arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import current_app, g, render_template, request, url_for
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination

from tracker.clock import get_clock, today
from tracker.dashboard import bp, charts
from tracker.extensions import db
from tracker.guards import requires
from tracker.i18n import current_locale
from tracker.models import ItemStatus
from tracker.models.catalogue import FAMILY_LABELS
from tracker.models.checklist import STATUS_LABELS
from tracker.page_cache import cached_page
from tracker.permissions import Permission, sees_all_units
from tracker.services import dashboard, figures
from tracker.services.figures import MAX_YEAR, MIN_YEAR, FamilyRow, FigureRow
from tracker.services.holidays import load_calendar
from tracker.services.item_filters import OVERDUE

# Bar segments, left to right: the stored statuses, each a list filter of its own.
SEGMENTS = (ItemStatus.APPROVED, ItemStatus.SUBMITTED, ItemStatus.RETURNED, ItemStatus.OPEN)
SEGMENT_KEYS = tuple(status.value for status in SEGMENTS)
PERIOD_SUFFIXES = ("H1", "H2", "Q1", "Q2", "Q3", "Q4", *(f"{m:02d}" for m in range(1, 13)))


@dataclass
class Figures:
    """One row of a completion table and one bar of its chart: a unit or a family."""

    key: str  # "unit" or "family"
    value: str  # the unit id or the family code
    label: str
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    # The item list behind each figure: "total", each stored status and "overdue".
    links: dict[str, str] = field(default_factory=dict)

    def add(self, row: FigureRow | FamilyRow) -> None:
        self.total += row.total
        for status, count in row.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + count
        self.overdue += row.overdue

    @property
    def owed(self) -> int:
        return self.by_status.get(ItemStatus.OPEN, 0) + self.by_status.get(ItemStatus.RETURNED, 0)

    @property
    def completion_rate(self) -> float | None:
        return self.by_status.get(ItemStatus.APPROVED, 0) / self.total if self.total else None


def _year() -> int:
    year = request.args.get("year", 0, type=int)
    return year if MIN_YEAR <= year <= MAX_YEAR else today().year


UNITS_PER_PAGE = 25  # rows of the unit chart and table: a city has hundreds of units


class UnitPage(Pagination):
    """One page of the units with items: their ids (in tree order) sliced from a list."""

    def _query_items(self) -> list[Any]:
        unit_ids = self._query_args["unit_ids"]
        return unit_ids[self._query_offset : self._query_offset + self.per_page]

    def _query_count(self) -> int:
        return len(self._query_args["unit_ids"])


def _items_url(base: dict[str, Any], **more: Any) -> str:
    """The item list filtered like the figure: year, period, unit or family, status.

    Built from the list's address once per request: the dashboard has a link per figure, and
    routing each through url_for cost a fifth of a city dashboard's time.
    """
    if "items_index_url" not in g:
        g.items_index_url = url_for("items.index")
    args = {**base, **more}
    return f"{g.items_index_url}?{urlencode(args)}" if args else g.items_index_url


def _by_unit(rows: list[FigureRow], *, locale: str) -> list[Figures]:
    """The unit x family rows summed per unit, in their (tree) order."""
    groups: dict[int, Figures] = {}
    for row in rows:
        if row.unit_id not in groups:
            groups[row.unit_id] = Figures("unit", str(row.unit_id), row.unit_display_name(locale))
        groups[row.unit_id].add(row)
    return [g for g in groups.values() if g.total]


def _by_family(rows: list[FamilyRow]) -> list[Figures]:
    """A figure per family row (`family_figures` gives only families with items)."""
    groups = [Figures("family", row.family.value, str(FAMILY_LABELS[row.family])) for row in rows]
    for group, row in zip(groups, rows, strict=True):
        group.add(row)
    return groups


def _linked(groups: list[Figures], base: dict[str, Any]) -> list[Figures]:
    """The groups with the address of the list behind each of their figures, made once for
    the chart and the table."""
    for group in groups:
        total = _items_url({**base, group.key: group.value})  # never without a query string
        # The status keys are plain words: appended as they are, not encoded once a link.
        group.links = {
            "total": total,
            **{key: f"{total}&status={key}" for key in (*SEGMENT_KEYS, OVERDUE)},
        }
    return groups


def _bars(groups: list[Figures]) -> list[dict[str, Any]]:
    """The chart's bars: one segment per stored status and the overdue share, each a link."""
    bars = []
    labels = {status.value: str(STATUS_LABELS[status]) for status in SEGMENTS}  # translated once
    for group in groups:
        bars.append(
            {
                "key": group.key,
                "value": group.value,
                "label": group.label,
                "total": group.total,
                "segments": [
                    {
                        "status": key,
                        "label": labels[key],
                        "count": group.by_status.get(key, 0),
                        "href": group.links[key],
                    }
                    for key in SEGMENT_KEYS
                ],
                "overdue": {"count": group.overdue, "href": group.links[OVERDUE]},
            }
        )
    return bars


@bp.get("/")
@requires(Permission.VIEW_DASHBOARD)
@cached_page
def index():
    locale = current_locale()
    today_ = today()
    year = _year()
    period = dashboard.valid_period(request.args.get("period"), year=year)
    timezone = current_app.config["TRACKER_TIMEZONE"]
    calendar = load_calendar(db.session)
    session = db.session

    counted = {"year": year, "period": period, "today": today_, "viewer": current_user}
    family_rows = figures.family_figures(session, **counted)
    unit_page = UnitPage(
        unit_ids=figures.units_with_items(session, year=year, period=period, viewer=current_user),
        per_page=UNITS_PER_PAGE,
        error_out=False,
    )
    base = {"year": year, **({"period": period} if period else {})}
    unit_rows = figures.unit_family_figures(session, **counted, unit_ids=unit_page.items)
    by_unit = _linked(_by_unit(unit_rows, locale=locale), base)
    by_family = _linked(_by_family(family_rows), base)
    overall_on_time, family_on_time = dashboard.on_time_by_family(
        session,
        year=year,
        period=period,
        today=today_,
        timezone=timezone,
        viewer=current_user,
        families=family_rows,
    )
    soon = dashboard.due_soon(session, today=today_, calendar=calendar, viewer=current_user)
    overdue = dashboard.longest_overdue(
        session, year=year, period=period, today=today_, calendar=calendar, viewer=current_user
    )
    backlog = dashboard.review_backlog(
        session, today=today_, calendar=calendar, tz=get_clock().tz, viewer=current_user
    )
    return render_template(
        "dashboard/index.html",
        year=year,
        period=period,
        years=range(today_.year + 1, today_.year - 5, -1),
        periods=[f"{year}-{suffix}" for suffix in PERIOD_SUFFIXES],
        today=today_,
        bureau_wide=sees_all_units(current_user),
        base=base,
        totals=figures.totals(family_rows),
        by_family=by_family,
        by_unit=by_unit,
        unit_page=unit_page,
        family_bars=_bars(by_family),
        unit_bars=_bars(by_unit),
        segments=[(s.value, STATUS_LABELS[s]) for s in SEGMENTS],
        segment_fill=charts.LEGEND_FILL,
        stacked_bars=charts.stacked_bars,
        family_labels=FAMILY_LABELS,
        on_time=overall_on_time,
        family_on_time={r.family.value: r for r in family_on_time},
        soon=soon,
        soon_days=dashboard.DUE_SOON_WORKING_DAYS,
        overdue_items=overdue,
        backlog=backlog,
        items_url=_items_url,
    )
