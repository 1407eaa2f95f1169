"""Random-sample re-audits (双随机): draw approved items with a recorded seed, record results.

A draw is reproducible: the population is the approved items matching the filters, in id order,
and the sample is `random.Random(seed).sample(population, k)`. The seed, the request, the
population size and a hash of the population ids are stored with the sample and in the audit log,
so anyone can redraw it and see the same items (or see that the population has changed since).
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import (
    AuditSample,
    AuditSampleItem,
    ChecklistItem,
    Family,
    ItemStatus,
    Requirement,
    SampleResult,
    User,
)
from tracker.permissions import Permission, can_review_item, has_permission
from tracker.services import audit, reviews
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed

MAX_SEED_CHARS = 64
MAX_SAMPLE_SIZE = 1000


def draw_ids(population: Sequence[int], seed: str, k: int) -> list[int]:
    """The sample of a sorted population: the one rule every draw and redraw goes through."""
    # Reproducibility is the point here, not unpredictability: the seed is published.
    return random.Random(seed).sample(list(population), k)  # noqa: S311


def population_hash(population: Sequence[int]) -> str:
    return hashlib.sha256(",".join(map(str, population)).encode()).hexdigest()


def population_ids(
    session: Session,
    *,
    period: str | None = None,
    family: str | None = None,
    unit_id: int | None = None,
) -> list[int]:
    """Ids of the approved items matching the filters, ascending."""
    stmt = select(ChecklistItem.id).where(ChecklistItem.status == ItemStatus.APPROVED)
    if period:
        stmt = stmt.where(ChecklistItem.period.startswith(period, autoescape=True))
    if family:
        stmt = stmt.join(ChecklistItem.requirement).where(Requirement.family == family)
    if unit_id:
        stmt = stmt.where(ChecklistItem.unit_id == unit_id)
    return list(session.scalars(stmt.order_by(ChecklistItem.id)))


def _sample_size(population: int, size: int | None, percent: Decimal | None) -> int:
    if (size is None) == (percent is None):
        raise ValidationFailed(_l("Give either a number of items or a percentage."), field="size")
    if size is not None:
        if not 1 <= size <= MAX_SAMPLE_SIZE:
            raise ValidationFailed(
                _l("The sample size must be between 1 and %(max)d.", max=MAX_SAMPLE_SIZE),
                field="size",
            )
        return min(size, population)
    assert percent is not None
    if not Decimal(0) < percent <= Decimal(100):
        raise ValidationFailed(
            _l("The percentage must be more than 0 and at most 100."), field="percent"
        )
    return min(population, max(1, math.ceil(population * percent / 100)))


def draw_sample(
    session: Session,
    *,
    actor: User,
    now: datetime,
    size: int | None = None,
    percent: Decimal | None = None,
    seed: str | None = None,
    period: str | None = None,
    family: str | None = None,
    unit_id: int | None = None,
) -> AuditSample:
    """Draw and record a sample; a seed is generated when none is given."""
    if not has_permission(actor, Permission.REVIEW_ITEMS):
        raise PermissionDenied(_l("Only inspectors draw samples."))
    seed = (seed or "").strip() or secrets.token_hex(8)
    if len(seed) > MAX_SEED_CHARS:
        raise ValidationFailed(
            _l("The seed is longer than %(n)d characters.", n=MAX_SEED_CHARS), field="seed"
        )
    if family and family not in {f.value for f in Family}:
        raise ValidationFailed(_l("Unknown family."), field="family")
    population = population_ids(session, period=period, family=family, unit_id=unit_id)
    if not population:
        raise ValidationFailed(_l("No approved item matches these filters: nothing to sample."))
    k = _sample_size(len(population), size, percent)
    chosen = draw_ids(population, seed, k)
    request: dict[str, Any] = {
        "size": size,
        "percent": None if percent is None else str(percent),
        "period": period or None,
        "family": family or None,
        "unit_id": unit_id or None,
    }
    sample = AuditSample(
        seed=seed,
        request=request,
        population=len(population),
        population_hash=population_hash(population),
        drawn_by_id=actor.id,
        drawn_at=now,
    )
    session.add(sample)
    session.flush()
    session.add_all(
        AuditSampleItem(sample_id=sample.id, item_id=item_id, position=n)
        for n, item_id in enumerate(chosen, start=1)
    )
    audit.record(
        session,
        actor=actor,
        action="sample.drawn",
        object_type="audit_sample",
        object_id=sample.id,
        data={
            "seed": seed,
            "request": request,
            "population": len(population),
            "population_hash": sample.population_hash,
            "items": chosen,
        },
        at=now,
    )
    session.flush()
    return sample


def redraw(session: Session, sample: AuditSample) -> tuple[list[int], bool]:
    """Redraw a recorded sample now: (item ids, whether the population is still the same)."""
    request = sample.request
    population = population_ids(
        session, period=request["period"], family=request["family"], unit_id=request["unit_id"]
    )
    percent = None if request["percent"] is None else Decimal(request["percent"])
    k = _sample_size(len(population), request["size"], percent) if population else 0
    return draw_ids(population, sample.seed, k), population_hash(
        population
    ) == sample.population_hash


def record_result(
    session: Session,
    *,
    actor: User,
    entry: AuditSampleItem,
    result: SampleResult | str,
    note: str | None = None,
    now: datetime,
) -> AuditSampleItem:
    """Record a sampled item's re-audit; a problem reopens the item with the note as reason."""
    item = entry.item
    if not can_review_item(actor, item):
        raise PermissionDenied(_l("You may not re-audit this item."))
    if SampleResult(entry.result) != SampleResult.PENDING:
        raise InvalidTransition(_l("This item's re-audit result is already recorded."))
    try:
        outcome = SampleResult(result)
    except ValueError:
        outcome = SampleResult.PENDING
    if outcome == SampleResult.PENDING:
        raise ValidationFailed(_l("Choose confirmed or problem found."), field="result")
    note = (note or "").strip() or None
    if outcome == SampleResult.PROBLEM:
        if note is None:
            raise ValidationFailed(
                _l("Describe the problem found: it is sent to the unit."), field="note"
            )
        reviews.reopen(session, actor=actor, item=item, reason=note, now=now)
    entry.result = outcome
    entry.note = note
    entry.checked_by_id = actor.id
    entry.checked_at = now
    audit.record(
        session,
        actor=actor,
        action="sample.checked",
        object_type="audit_sample",
        object_id=entry.sample_id,
        data={"item_id": item.id, "result": str(outcome), "note": note},
        at=now,
    )
    session.flush()
    return entry
