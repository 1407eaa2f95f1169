"""Responsibility assessment (考核): the weights of the per-unit score, one row for the bureau."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from tracker.models.base import Base, UTCDateTime, utcnow

WEIGHTS_ID = 1  # the table holds one row; without it the documented defaults apply

# Documented defaults (docs/scoring.md): score = base − on_time_weight × (1 − on-time rate)
# − returned_penalty × returns − overdue_day_penalty × overdue working days
# − sample_problem_penalty × sample problems, floored at 0.
DEFAULT_WEIGHTS: dict[str, Decimal] = {
    "base": Decimal("100"),
    "on_time_weight": Decimal("100"),
    "returned_penalty": Decimal("2"),
    "overdue_day_penalty": Decimal("0.5"),
    "sample_problem_penalty": Decimal("5"),
}


class ScoreWeights(Base):
    """The weights of the assessment score, edited by admins (every change is audited)."""

    __tablename__ = "score_weights"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    base: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=DEFAULT_WEIGHTS["base"])
    on_time_weight: Mapped[Decimal] = mapped_column(
        Numeric(8, 2), default=DEFAULT_WEIGHTS["on_time_weight"]
    )
    returned_penalty: Mapped[Decimal] = mapped_column(
        Numeric(8, 2), default=DEFAULT_WEIGHTS["returned_penalty"]
    )
    overdue_day_penalty: Mapped[Decimal] = mapped_column(
        Numeric(8, 2), default=DEFAULT_WEIGHTS["overdue_day_penalty"]
    )
    sample_problem_penalty: Mapped[Decimal] = mapped_column(
        Numeric(8, 2), default=DEFAULT_WEIGHTS["sample_problem_penalty"]
    )
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
