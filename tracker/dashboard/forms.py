"""Forms of the dashboard pages: the weights of the assessment score."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, SubmitField
from wtforms.validators import NumberRange, StopValidation

MAX_WEIGHT = Decimal("1000")


class WeightField(DecimalField):
    """A decimal with a translated message for text that is not a number (or NaN, Infinity)."""

    def process_formdata(self, valuelist: list) -> None:
        if not valuelist:
            return
        try:
            value = Decimal(valuelist[0].strip().replace(",", "."))
        except (InvalidOperation, ValueError, AttributeError):
            value = None
        if value is None or not value.is_finite():
            self.data = None
            raise ValueError(_l("Enter a number, e.g. 2 or 0.5."))
        if abs(value) > MAX_WEIGHT:
            self.data = value  # the range check says what is allowed (quantize cannot: 1e30)
            return
        if value != value.quantize(Decimal("0.01")):
            self.data = None
            raise ValueError(_l("Use at most two decimal places."))
        self.data = value

    def pre_validate(self, form: FlaskForm) -> None:
        # Text that is not a number has its message already; the range check would add another.
        if self.process_errors:
            raise StopValidation()


def _range(low: str) -> NumberRange:
    return NumberRange(
        min=Decimal(low),
        max=MAX_WEIGHT,
        message=_l("Enter a number between %(min)s and %(max)s."),
    )


class ScoreWeightsForm(FlaskForm):
    base = WeightField(
        _l("Base score"),
        places=2,
        validators=[_range("0.01")],
        description=_l("The score of a unit with nothing to deduct."),
    )
    on_time_weight = WeightField(
        _l("Weight of on-time completion"),
        places=2,
        validators=[_range("0")],
        description=_l("Points deducted when no item is completed on time (in proportion)."),
    )
    returned_penalty = WeightField(
        _l("Points per return"),
        places=2,
        validators=[_range("0")],
        description=_l("Deducted for each return or reopening of the unit's items."),
    )
    overdue_day_penalty = WeightField(
        _l("Points per overdue working day"),
        places=2,
        validators=[_range("0")],
        description=_l("Deducted for each working day an item is late."),
    )
    sample_problem_penalty = WeightField(
        _l("Points per sample-audit problem"),
        places=2,
        validators=[_range("0")],
        description=_l("Deducted for each sampled item whose re-audit found a problem."),
    )
    submit = SubmitField(_l("Save"))
