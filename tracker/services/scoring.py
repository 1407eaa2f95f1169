"""Responsibility assessment (考核): a score per unit for a year, from documented weights.

The formula and every component are defined in docs/scoring.md; in short, for the items of the
year (`item_filters.year_condition`) of each unit:

    score = base − on_time_weight × (1 − on-time rate) − returned_penalty × returns
            − overdue_day_penalty × overdue working days − sample_problem_penalty × problems,

floored at 0 and rounded to 0.01. "On time" is the ledger's one definition
(`ledger.on_time_condition`). Counts are aggregated in SQL grouped by unit; only the working-day
arithmetic runs in Python, over rows grouped by (unit, due date, end date), so the number of
queries is fixed and the rows follow the number of distinct dates, not of items.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, and_, func, literal, or_, select
from sqlalchemy import case as when
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from tracker.models import (
    AuditSampleItem,
    ChecklistItem,
    ItemStatus,
    Review,
    ReviewDecision,
    SampleResult,
    ScoreWeights,
    Unit,
    User,
)
from tracker.models.checklist import OWED_STATUSES
from tracker.models.scoring import DEFAULT_WEIGHTS, WEIGHTS_ID
from tracker.scoping import unit_scope
from tracker.services import audit
from tracker.services.calendar import WorkingCalendar
from tracker.services.errors import ValidationFailed
from tracker.services.item_filters import year_condition
from tracker.services.ledger import deadline_of, last_submitted_at, on_time_condition

WEIGHT_FIELDS = tuple(DEFAULT_WEIGHTS)  # base, on_time_weight, and the three penalties
MAX_WEIGHT = Decimal("1000")
CENT = Decimal("0.01")
ZERO = Decimal("0")


# ---------------------------------------------------------------- weights


def get_weights(session: Session) -> ScoreWeights:
    """The stored weights, or the documented defaults (a transient row) when none were saved."""
    stored = session.get(ScoreWeights, WEIGHTS_ID)
    if stored is not None:
        return stored
    return ScoreWeights(id=WEIGHTS_ID, **DEFAULT_WEIGHTS)


def _check(name: str, value: Any) -> Decimal:
    """A finite number with at most two decimals in [0, 1000] (base: above 0)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as error:
        raise ValidationFailed(_l("Enter a number, e.g. 2 or 0.5."), field=name) from error
    if not number.is_finite():
        raise ValidationFailed(_l("Enter a number, e.g. 2 or 0.5."), field=name)
    if number != number.quantize(CENT):
        raise ValidationFailed(_l("Use at most two decimal places."), field=name)
    low = CENT if name == "base" else ZERO
    if not low <= number <= MAX_WEIGHT:
        raise ValidationFailed(
            _l("Enter a number between %(min)s and %(max)s.", min=low, max=MAX_WEIGHT),
            field=name,
        )
    return number.quantize(CENT)


def update_weights(
    session: Session, *, actor: User, values: dict[str, Any], now: datetime
) -> list[str]:
    """Save the weights (validated, audited "score_weights.updated"); returns the changed names."""
    checked = {name: _check(name, values.get(name)) for name in WEIGHT_FIELDS}
    weights = session.get(ScoreWeights, WEIGHTS_ID)
    current = weights if weights is not None else get_weights(session)
    changed = [n for n in WEIGHT_FIELDS if Decimal(getattr(current, n)) != checked[n]]
    if not changed:
        return []
    if weights is None:
        weights = ScoreWeights(id=WEIGHTS_ID)
        session.add(weights)
    before = {n: str(Decimal(getattr(current, n)).quantize(CENT)) for n in changed}
    for name in WEIGHT_FIELDS:
        setattr(weights, name, checked[name])
    weights.updated_at = now
    weights.updated_by_id = actor.id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="score_weights.updated",
        object_type="score_weights",
        object_id=WEIGHTS_ID,
        data={"before": before, "after": {n: str(checked[n]) for n in changed}},
        at=now,
    )
    return changed


# ---------------------------------------------------------------- a local date, in SQL


class local_date(FunctionElement):
    """The calendar date of a stored UTC instant in the bureau's timezone."""

    type = Date()
    name = "local_date"
    inherit_cache = True


@compiles(local_date, "postgresql")
def _local_date_pg(element: local_date, compiler: Any, **kw: Any) -> str:
    instant, zone, _offset = list(element.clauses)
    return (
        f"(({compiler.process(instant, **kw)} AT TIME ZONE {compiler.process(zone, **kw)})::date)"
    )


@compiles(local_date)
def _local_date_other(element: local_date, compiler: Any, **kw: Any) -> str:
    # SQLite: stored instants are UTC strings; the zone is applied as its fixed offset, as the
    # ledger does (Asia/Shanghai has had no daylight saving since 1991).
    instant, _zone, offset = list(element.clauses)
    return f"date({compiler.process(instant, **kw)}, {compiler.process(offset, **kw)})"


def local_date_of(instant: Any, timezone: str) -> local_date:
    offset = ZoneInfo(timezone).utcoffset(datetime(2000, 7, 1)) or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return local_date(instant, literal(timezone), literal(f"{minutes:+d} minutes"))


# ---------------------------------------------------------------- scores


@dataclass(frozen=True)
class UnitScore:
    """One unit's score for the year with every component and deduction."""

    unit: Unit
    items: int  # items of the year
    due_or_done: int  # approved, or past the due date: the on-time rate's denominator
    on_time: int  # approved, the approved round submitted by the end of the due date
    rate: Decimal | None  # on_time ÷ due_or_done (None: nothing due yet)
    returns: int  # reviews returning or reopening the unit's items of the year
    overdue_days: int  # working days late, summed over the unit's items (see docs/scoring.md)
    sample_problems: int  # sample re-audits of the unit's items that found a problem
    on_time_deduction: Decimal
    returns_deduction: Decimal
    overdue_deduction: Decimal
    sample_deduction: Decimal
    score: Decimal
    rank: int = 0


def compute_score(
    weights: ScoreWeights,
    *,
    on_time: int,
    due_or_done: int,
    returns: int,
    overdue_days: int,
    sample_problems: int,
) -> tuple[Decimal | None, dict[str, Decimal], Decimal]:
    """(rate, deductions, score) for one unit's components; the formula of docs/scoring.md."""
    rate = Decimal(on_time) / Decimal(due_or_done) if due_or_done else None
    missed = Decimal(due_or_done - on_time) / Decimal(due_or_done) if due_or_done else ZERO
    deductions = {
        "on_time": Decimal(weights.on_time_weight) * missed,
        "returns": Decimal(weights.returned_penalty) * returns,
        "overdue": Decimal(weights.overdue_day_penalty) * overdue_days,
        "sample": Decimal(weights.sample_problem_penalty) * sample_problems,
    }
    raw = Decimal(weights.base) - sum(deductions.values(), ZERO)
    score = max(raw, ZERO).quantize(CENT, rounding=ROUND_HALF_UP)
    return rate, {k: v.quantize(CENT, rounding=ROUND_HALF_UP) for k, v in deductions.items()}, score


def _item_counts(session: Session, conds: list[Any], *, today: date, timezone: str) -> dict:
    """Per unit: items, due-or-done and on-time counts (one GROUP BY query)."""
    due_or_done = or_(ChecklistItem.status == ItemStatus.APPROVED, ChecklistItem.due_date < today)
    rows = session.execute(
        select(
            ChecklistItem.unit_id,
            func.count(ChecklistItem.id),
            func.count(when((due_or_done, 1))),
            func.count(when((on_time_condition(timezone), 1))),
        )
        .join(ChecklistItem.unit)
        .where(*conds)
        .group_by(ChecklistItem.unit_id)
    )
    return {unit_id: (items, due, on_time) for unit_id, items, due, on_time in rows}


def _returns(session: Session, conds: list[Any]) -> dict[int, int]:
    rows = session.execute(
        select(ChecklistItem.unit_id, func.count(Review.id))
        .join(Review, Review.item_id == ChecklistItem.id)
        .join(ChecklistItem.unit)
        .where(*conds, Review.decision.in_([ReviewDecision.RETURN, ReviewDecision.REOPEN]))
        .group_by(ChecklistItem.unit_id)
    )
    return dict(rows.tuples().all())


def _sample_problems(session: Session, conds: list[Any]) -> dict[int, int]:
    rows = session.execute(
        select(ChecklistItem.unit_id, func.count(AuditSampleItem.id))
        .join(AuditSampleItem, AuditSampleItem.item_id == ChecklistItem.id)
        .join(ChecklistItem.unit)
        .where(*conds, AuditSampleItem.result == SampleResult.PROBLEM)
        .group_by(ChecklistItem.unit_id)
    )
    return dict(rows.tuples().all())


def _overdue_days(
    session: Session,
    conds: list[Any],
    *,
    today: date,
    timezone: str,
    calendar: WorkingCalendar,
) -> dict[int, int]:
    """Working days late per unit: owed items up to today, late hand-ins up to the submission.

    Rows are grouped by (unit, due date, end date) in SQL; the working days between the two
    dates (due date excluded, end date included) are counted in Python with the calendar.
    """
    submitted = last_submitted_at()
    owed = ChecklistItem.is_overdue(today)
    handed_in_late = and_(
        ChecklistItem.status.in_([ItemStatus.SUBMITTED, ItemStatus.APPROVED]),
        submitted >= deadline_of(ChecklistItem.due_date, timezone),
    )
    end = when(
        (ChecklistItem.status.in_([s.value for s in OWED_STATUSES]), literal(today, Date())),
        else_=local_date_of(submitted, timezone),
    ).label("end_day")
    rows = session.execute(
        select(ChecklistItem.unit_id, ChecklistItem.due_date, end, func.count(ChecklistItem.id))
        .join(ChecklistItem.unit)
        .where(*conds, or_(owed, handed_in_late))
        .group_by(ChecklistItem.unit_id, ChecklistItem.due_date, end)
    )
    result: dict[int, int] = {}
    for unit_id, due, end_day, count in rows:
        if isinstance(end_day, str):  # SQLite returns date() of a raw expression as text
            end_day = date.fromisoformat(end_day)
        days = max(calendar.working_days_between(due, end_day), 0)
        result[unit_id] = result.get(unit_id, 0) + days * count
    return result


def unit_scores(
    session: Session,
    *,
    year: int,
    viewer: User,
    today: date,
    weights: ScoreWeights,
    calendar: WorkingCalendar,
    timezone: str,
) -> list[UnitScore]:
    """Scores of the units the viewer sees that have items in the year, best first.

    Each unit is scored on its own items (a chief's subtree is listed unit by unit, not summed).
    Six queries whatever the number of units and items.
    """
    conds = [year_condition(year)]
    scope = unit_scope(viewer)
    if scope is not None:
        conds.append(scope)
    counts = _item_counts(session, conds, today=today, timezone=timezone)
    returns = _returns(session, conds)
    problems = _sample_problems(session, conds)
    late = _overdue_days(session, conds, today=today, timezone=timezone, calendar=calendar)
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(list(counts))))}
    scores = []
    for unit_id, (items, due_or_done, on_time) in counts.items():
        rate, deductions, score = compute_score(
            weights,
            on_time=on_time,
            due_or_done=due_or_done,
            returns=returns.get(unit_id, 0),
            overdue_days=late.get(unit_id, 0),
            sample_problems=problems.get(unit_id, 0),
        )
        scores.append(
            UnitScore(
                unit=units[unit_id],
                items=items,
                due_or_done=due_or_done,
                on_time=on_time,
                rate=rate,
                returns=returns.get(unit_id, 0),
                overdue_days=late.get(unit_id, 0),
                sample_problems=problems.get(unit_id, 0),
                on_time_deduction=deductions["on_time"],
                returns_deduction=deductions["returns"],
                overdue_deduction=deductions["overdue"],
                sample_deduction=deductions["sample"],
                score=score,
            )
        )
    scores.sort(key=lambda s: (-s.score, s.unit.path))
    ranked: list[UnitScore] = []
    for position, entry in enumerate(scores, start=1):
        # Equal scores share a rank (1, 2, 2, 4), as in an assessment circular.
        same = bool(ranked) and ranked[-1].score == entry.score
        ranked.append(replace(entry, rank=ranked[-1].rank if same else position))
    return ranked
