"""The holiday calendar in the database: official seed, CSV import, edits, status, and loading.

A year counts as officially covered when it has a HolidayYear row; deadlines that reach into a
year without one are computed on weekends alone and marked provisional until its table arrives.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from tracker.models import Holiday, HolidayYear, User
from tracker.services import audit, checklist
from tracker.services.calendar import (
    DayKind,
    SpecialDay,
    WorkingCalendar,
    official_special_days,
    official_version,
    official_years,
)
from tracker.services.checklist import RecomputeResult
from tracker.services.errors import ValidationFailed

OFFICIAL_SOURCE = "chinesecalendar"
MAX_CSV_BYTES = 50 * 1024 * 1024  # a year of days or many thousand cases fit well under it
_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_KIND_ALIASES = {
    "rest": DayKind.REST,
    "workday": DayKind.WORKDAY,
    "休": DayKind.REST,
    "班": DayKind.WORKDAY,
}
_VERSION_LIMIT = 255


# ---------------------------------------------------------------- loading


def _ranges(years: list[int]) -> str:
    """'2004-2026, 2028' for a sorted list of years."""
    parts: list[str] = []
    start = previous = None
    for year in years:
        if previous is not None and year == previous + 1:
            previous = year
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = year
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ", ".join(parts)


def calendar_version_label(year_versions: Iterable[tuple[int, str]]) -> str:
    """The label recorded on deadlines: each table version with the years it covers."""
    by_version: dict[str, list[int]] = {}
    for year, version in sorted(year_versions):
        by_version.setdefault(version, []).append(year)
    if not by_version:
        return "weekends only"
    label = "; ".join(f"{version} [{_ranges(years)}]" for version, years in by_version.items())
    if len(label) > _VERSION_LIMIT:
        digest = hashlib.sha256(label.encode()).hexdigest()[:12]
        label = f"{label[: _VERSION_LIMIT - 16]}… #{digest}"
    return label


# Calendars this process built, by the covered years' (year, version, revision): see
# `load_calendar`. A few are kept for the rare process that serves more than one database.
_built_calendars: dict[tuple[tuple[int, str, str], ...], WorkingCalendar] = {}
_KEEP_CALENDARS = 4
_built_calendars_lock = threading.Lock()


def calendar_key(session: Session) -> tuple[tuple[int, str, str], ...]:
    """The covered years' (year, version, revision): it changes whenever any special day does."""
    return tuple(
        session.execute(
            select(HolidayYear.year, HolidayYear.version, HolidayYear.revision).order_by(
                HolidayYear.year
            )
        ).tuples()
    )


def load_calendar(session: Session) -> WorkingCalendar:
    """The working calendar of the Holiday and HolidayYear tables.

    One small query of the covered years' versions and revisions, which database triggers
    renew whenever a year's special days change (migration 0015); the ~770 days are read and
    the calendar built only when those differ from the ones this process last built it for.
    """
    key = calendar_key(session)
    calendar = _built_calendars.get(key)
    if calendar is None:
        calendar = _build_calendar(session, key)
        with _built_calendars_lock:  # request threads and the scheduler's share the dict
            while len(_built_calendars) >= _KEEP_CALENDARS:
                del _built_calendars[next(iter(_built_calendars))]
            _built_calendars[key] = calendar
    return calendar


def _build_calendar(session: Session, years: tuple[tuple[int, str, str], ...]) -> WorkingCalendar:
    days = [
        SpecialDay(day, DayKind(kind), name)
        for day, kind, name in session.execute(select(Holiday.day, Holiday.kind, Holiday.name))
    ]
    return WorkingCalendar(
        days,
        [year for year, _version, _revision in years],
        version=calendar_version_label((year, version) for year, version, _revision in years),
    )


# ---------------------------------------------------------------- writing a year


def _recompute_after_change(
    session: Session,
    *,
    years: list[int],
    replaced: bool,
    actor: User | None,
    now: datetime,
    reason: str,
) -> RecomputeResult:
    """Recompute owed provisional deadlines (and, when a covered year changed, those after it)."""
    calendar = load_calendar(session)
    return checklist.recompute_owed_items(
        session,
        calendar=calendar,
        actor=actor,
        now=now,
        reason=reason,
        provisional_only=True,
        due_from=date(min(years), 1, 1) if replaced else None,
    )


def _write_year(
    session: Session,
    *,
    year: int,
    days: list[SpecialDay],
    source: str,
    version: str,
    actor: User | None,
    now: datetime,
) -> tuple[int, bool]:
    """Replace a year's rows and mark it covered; returns (rows removed, was covered before)."""
    removed = session.execute(
        delete(Holiday).where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
    ).rowcount
    if days:
        session.execute(
            insert(Holiday),
            [{"day": d.day, "kind": d.kind, "name": d.name[:64], "source": source} for d in days],
        )
    covered = session.get(HolidayYear, year)
    was_covered = covered is not None
    if covered is None:
        covered = HolidayYear(year=year)
        session.add(covered)
    covered.source = source[:100]
    covered.version = version[:100]
    covered.loaded_at = now
    covered.loaded_by_id = actor.id if actor else None
    session.flush()
    return removed or 0, was_covered


@dataclass
class SeedResult:
    years: list[int] = field(default_factory=list)
    days: int = 0
    recompute: RecomputeResult = field(default_factory=RecomputeResult)


def seed_official(session: Session, *, now: datetime, actor: User | None = None) -> SeedResult:
    """Load the package's official years that the database lacks (idempotent).

    Years already covered (seeded earlier or imported by an admin) are left as they are.
    """
    result = SeedResult()
    present = set(session.scalars(select(HolidayYear.year)))
    wanted = [year for year in official_years() if year not in present]
    if not wanted:
        return result
    version = official_version()
    by_year: dict[int, list[SpecialDay]] = {year: [] for year in wanted}
    for day in official_special_days(wanted):
        by_year[day.day.year].append(day)
    for year, days in by_year.items():
        _write_year(
            session,
            year=year,
            days=days,
            source=OFFICIAL_SOURCE,
            version=version,
            actor=actor,
            now=now,
        )
        result.days += len(days)
    result.years = wanted
    audit.record(
        session,
        actor=actor,
        action="holidays.seeded",
        object_type="holiday_year",
        data={"years": _ranges(wanted), "days": result.days, "version": version},
        at=now,
    )
    result.recompute = _recompute_after_change(
        session, years=wanted, replaced=False, actor=actor, now=now, reason="holidays.seeded"
    )
    return result


# ---------------------------------------------------------------- CSV import


@dataclass(frozen=True)
class RowError:
    line: int | None
    message: object  # lazy translated string
    field: str | None = None

    def describe(self, source: str) -> str:
        """'PATH: line N: field: message'."""
        parts = [source]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(self.field)
        parts.append(str(self.message))
        return ": ".join(parts)


class CsvInvalid(ValidationFailed):
    """A CSV file has errors; nothing of it was imported."""

    def __init__(self, source: str, errors: list[RowError]) -> None:
        super().__init__(
            _l(
                "%(source)s was not imported: %(count)d errors.",
                source=source,
                count=len(errors),
            )
        )
        self.source = source
        self.errors = errors

    def lines(self) -> list[str]:
        return [error.describe(self.source) for error in self.errors]


def decode_csv(data: bytes, *, source: str) -> str:
    """CSV bytes as text: UTF-8 with or without BOM, else GB18030 (what Excel writes in China)."""
    if len(data) > MAX_CSV_BYTES:
        raise CsvInvalid(source, [RowError(None, _l("the file is too large"))])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as error:
        raise CsvInvalid(
            source, [RowError(None, _l("the file is not UTF-8 text: %(error)s", error=str(error)))]
        ) from error


def csv_rows(text: str) -> Iterable[tuple[int, list[str]]]:
    """(line number, stripped cells) of each non-blank, non-comment row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    for cells in reader:
        stripped = [c.strip() for c in cells]
        if not any(stripped) or stripped[0].startswith("#"):
            continue
        yield reader.line_num, stripped


def parse_date(value: str) -> date | None:
    """YYYY-MM-DD (or YYYY/M/D, as spreadsheets write it); None when not a valid date."""
    match = _DATE.match(value)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def parse_holiday_csv(data: bytes, *, source: str) -> tuple[int, list[SpecialDay]]:
    """One year's arrangement from CSV (date,kind,name; optional header); CsvInvalid on errors."""
    text = decode_csv(data, source=source)
    errors: list[RowError] = []
    days: dict[date, int] = {}
    parsed: list[SpecialDay] = []
    year: int | None = None
    first = True
    for line, cells in csv_rows(text):
        if first and cells[0].lower() in ("date", "日期"):
            first = False
            continue
        first = False
        if len(cells) != 3:
            errors.append(
                RowError(line, _l("expected 3 columns (date,kind,name), found %(n)d", n=len(cells)))
            )
            continue
        raw_day, raw_kind, name = cells
        day = parse_date(raw_day)
        kind = _KIND_ALIASES.get(raw_kind.lower())
        if day is None:
            errors.append(
                RowError(
                    line, _l("%(value)s is not a date (YYYY-MM-DD)", value=repr(raw_day)), "date"
                )
            )
        if kind is None:
            errors.append(RowError(line, _l("must be rest or workday"), "kind"))
        if not name:
            errors.append(RowError(line, _l("the name is missing"), "name"))
        elif len(name) > 64:
            errors.append(
                RowError(line, _l("must be at most %(limit)d characters", limit=64), "name")
            )
        if day is None:
            continue
        if year is None:
            year = day.year
        elif day.year != year:
            errors.append(
                RowError(
                    line,
                    _l(
                        "%(day)s is not in %(year)d: one file holds one year",
                        day=day.isoformat(),
                        year=year,
                    ),
                    "date",
                )
            )
        if day in days:
            errors.append(
                RowError(
                    line,
                    _l(
                        "%(day)s is already listed on line %(other)d",
                        day=day.isoformat(),
                        other=days[day],
                    ),
                    "date",
                )
            )
            continue
        days[day] = line
        if kind == DayKind.WORKDAY and day.weekday() < 5:
            errors.append(
                RowError(
                    line,
                    _l(
                        "%(day)s is a weekday: a make-up working day falls on a Saturday or Sunday",
                        day=day.isoformat(),
                    ),
                    "kind",
                )
            )
        if kind is not None and name:
            parsed.append(SpecialDay(day, kind, name))
    if year is None and not errors:
        errors.append(RowError(None, _l("the file lists no days")))
    if errors:
        raise CsvInvalid(source, errors)
    assert year is not None
    return year, sorted(parsed, key=lambda d: d.day)


@dataclass
class HolidayImportResult:
    year: int
    days: int
    replaced: int
    was_covered: bool
    version: str
    recompute: RecomputeResult


def import_holiday_csv(
    session: Session, *, data: bytes, source: str, actor: User | None, now: datetime
) -> HolidayImportResult:
    """Replace one year's arrangement from CSV (all or nothing), then recompute deadlines."""
    year, days = parse_holiday_csv(data, source=source)
    digest = hashlib.sha256(data).hexdigest()
    name = Path(source).name
    version = f"csv {name} {digest[:10]}"
    previous = session.get(HolidayYear, year)
    previous_version = previous.version if previous is not None else None
    replaced, was_covered = _write_year(
        session, year=year, days=days, source=f"csv:{name}", version=version, actor=actor, now=now
    )
    audit.record(
        session,
        actor=actor,
        action="holidays.imported",
        object_type="holiday_year",
        object_id=year,
        data={
            "source": source,
            "sha256": digest,
            "days": len(days),
            "replaced": replaced,
            "previous_version": previous_version,
        },
        at=now,
    )
    recompute = _recompute_after_change(
        session,
        years=[year],
        replaced=was_covered,
        actor=actor,
        now=now,
        reason="holidays.imported",
    )
    return HolidayImportResult(year, len(days), replaced, was_covered, version, recompute)


def import_holiday_file(
    session: Session, *, path: str | Path, actor: User | None, now: datetime
) -> HolidayImportResult:
    """import_holiday_csv on a file."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CsvInvalid(
            source, [RowError(None, _l("cannot read the file: %(error)s", error=str(error)))]
        ) from error
    return import_holiday_csv(session, data=data, source=source, actor=actor, now=now)


# ---------------------------------------------------------------- single-day edits


def set_day(
    session: Session,
    *,
    actor: User | None,
    day: date,
    kind: DayKind | None,
    name: str = "",
    now: datetime,
) -> RecomputeResult:
    """Add, change (kind given) or remove (kind None) one special day, then recompute."""
    row = session.scalar(select(Holiday).where(Holiday.day == day))
    old = None if row is None else {"kind": str(row.kind), "name": row.name}
    if kind is None:
        if row is not None:
            session.delete(row)
    else:
        if kind == DayKind.WORKDAY and day.weekday() < 5:
            raise ValidationFailed(
                _l(
                    "%(day)s is a weekday: a make-up working day falls on a Saturday or Sunday",
                    day=day.isoformat(),
                ),
                field="kind",
            )
        if not name.strip():
            raise ValidationFailed(_l("the name is missing"), field="name")
        if row is None:
            row = Holiday(day=day)
            session.add(row)
        row.kind = kind
        row.name = name.strip()[:64]
        row.source = "admin"
    covered = session.get(HolidayYear, day.year)
    if covered is not None:
        # Deadlines record which table they used: an edited year is a new version.
        covered.version = f"{covered.version.split(' +edit')[0]} +edit {now:%Y%m%d%H%M%S}"[:100]
    new = None if kind is None else {"kind": str(kind), "name": name.strip()}
    audit.record(
        session,
        actor=actor,
        action="holiday.changed",
        object_type="holiday",
        object_id=day.isoformat(),
        data={"old": old, "new": new},
        at=now,
    )
    session.flush()
    if covered is None:  # a draft for an uncovered year changes no deadline
        return RecomputeResult()
    return _recompute_after_change(
        session, years=[day.year], replaced=True, actor=actor, now=now, reason="holiday.changed"
    )


# ---------------------------------------------------------------- status


@dataclass(frozen=True)
class YearStatus:
    year: int
    source: str
    version: str
    loaded_at: datetime
    rest_days: int
    workdays: int

    @property
    def special_days(self) -> int:
        return self.rest_days + self.workdays


@dataclass
class CalendarStatus:
    years: list[YearStatus]
    provisional_open: int
    missing: list[int]  # this year and next, when not covered

    @property
    def covered(self) -> list[int]:
        return [y.year for y in self.years]


def calendar_status(session: Session, *, today: date) -> CalendarStatus:
    """Covered years with their source and special days, and the provisional open items."""
    counts: dict[tuple[int, str], int] = {}
    year_of = func.extract("year", Holiday.day)
    for year, kind, n in session.execute(
        select(year_of, Holiday.kind, func.count()).group_by(year_of, Holiday.kind)
    ):
        counts[(int(year), str(kind))] = n
    years = [
        YearStatus(
            year=row.year,
            source=row.source,
            version=row.version,
            loaded_at=row.loaded_at,
            rest_days=counts.get((row.year, DayKind.REST.value), 0),
            workdays=counts.get((row.year, DayKind.WORKDAY.value), 0),
        )
        for row in session.scalars(select(HolidayYear).order_by(HolidayYear.year))
    ]
    covered = {y.year for y in years}
    missing = [y for y in (today.year, today.year + 1) if y not in covered]
    return CalendarStatus(years, checklist.provisional_open_count(session), missing)
