"""Form of the reminder rules (admins)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, SubmitField
from wtforms.validators import InputRequired, NumberRange, ValidationError

from tracker.services.reminders import MAX_INTERVAL, MAX_OFFSET

_SEPARATORS = re.compile(r"[\s,，、;；]+")
_INTERVAL = _l("Enter a whole number of working days from 1 to %(max)d.", max=MAX_INTERVAL)


def parse_offsets(text: str | None) -> list[int]:
    """'7, 3, 1, 0' (Chinese commas too) -> [7, 3, 1, 0]; ValueError on anything else."""
    parts = [p for p in _SEPARATORS.split(text or "") if p]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(text)
    return [int(p) for p in parts]


def _interval_field(label) -> IntegerField:
    return IntegerField(
        label,
        validators=[
            InputRequired(message=_INTERVAL),
            NumberRange(min=1, max=MAX_INTERVAL, message=_INTERVAL),
        ],
        render_kw={"min": 1, "max": MAX_INTERVAL, "inputmode": "numeric"},
    )


class ReminderPolicyForm(FlaskForm):
    before_due_working_days = StringField(
        _l("Remind before the due date (working days)"),
        validators=[InputRequired(message=_l("Give at least one day, e.g. 7, 3, 1, 0."))],
        description=_l(
            "Working days before the due date, separated by commas; 0 is the due date itself. "
            "From 0 to %(max)d, each at most once.",
            max=MAX_OFFSET,
        ),
    )
    overdue_every_working_days = _interval_field(_l("While overdue, remind every (working days)"))
    escalate_chief_after = _interval_field(
        _l("Escalate to the unit chief when overdue more than (working days)")
    )
    escalate_leaders_after = _interval_field(
        _l("Escalate to administrators and leaders when overdue more than (working days)")
    )
    review_waiting_after = _interval_field(
        _l("Remind inspectors when a submission has waited more than (working days)")
    )
    submit = SubmitField(_l("Save"))

    def validate_before_due_working_days(self, field: StringField) -> None:
        try:
            field.parsed = parse_offsets(field.data)
        except ValueError:
            raise ValidationError(
                _l("Enter whole numbers separated by commas, e.g. 7, 3, 1, 0.")
            ) from None
        if not field.parsed:
            raise ValidationError(_l("Give at least one day, e.g. 7, 3, 1, 0."))
