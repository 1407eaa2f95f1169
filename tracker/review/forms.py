"""Forms of the inspectors' pages: drawing a sample, recording a re-audit, choosing a package."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional, Regexp

from tracker.services.reviews import COMMENT_MAX
from tracker.services.sampling import MAX_SEED_CHARS

PERIOD_MAX = 8  # ChecklistItem.period is String(8)


def int_or_zero(value: object) -> int:
    """Select values: "" (the "all" option, or an empty query argument) is 0."""
    return 0 if value in ("", None) else int(value)  # type: ignore[call-overload]


# The rules of a draw (size or percentage, their bounds, the seed's length, an empty population)
# are the sampling service's: the form only checks that the numbers are numbers.


class SampleDrawForm(FlaskForm):
    size = StringField(
        _l("Number of items"),
        validators=[
            Optional(),
            Regexp(r"^\s*\d{1,6}\s*$", message=_l("Enter a whole number of items.")),
        ],
    )
    percent = StringField(
        _l("Or a percentage"),
        validators=[
            Optional(),
            Regexp(
                r"^\s*\d{1,3}(\.\d{1,2})?\s*$",
                message=_l("Enter a percentage such as 5 or 2.5."),
            ),
        ],
    )
    seed = StringField(
        _l("Seed (optional)"),
        description=_l("Leave empty and a random seed is generated and recorded."),
        validators=[
            Optional(),
            Length(max=MAX_SEED_CHARS, message=_l("At most %(max)d characters.")),
        ],
    )
    period = StringField(
        _l("Period"),
        validators=[Optional(), Length(max=PERIOD_MAX, message=_l("At most %(max)d characters."))],
    )
    family = SelectField(_l("Family"), default="")
    unit = SelectField(_l("Unit"), coerce=int_or_zero, default=0)
    submit = SubmitField(_l("Draw the sample"))


class SampleResultForm(FlaskForm):
    """One sampled item's re-audit; the two buttons carry the result."""

    # Whether the result is valid and whether a note is needed is the sampling service's rule.
    result = StringField()
    note = TextAreaField(
        _l("Note (required for a problem)"),
        validators=[Optional(), Length(max=COMMENT_MAX, message=_l("At most %(max)d characters."))],
    )


class PackageForm(FlaskForm):
    """The package filters, sent by GET: a download changes nothing, so no CSRF token."""

    class Meta:
        csrf = False

    unit = SelectField(_l("Unit"), coerce=int_or_zero, default=0)
    period = StringField(
        _l("Period"),
        validators=[Optional(), Length(max=PERIOD_MAX, message=_l("At most %(max)d characters."))],
    )
    family = SelectField(_l("Family"), default="")
    sample = SelectField(_l("Random sample"), coerce=int_or_zero, default=0)
    submit = SubmitField(_l("Download the package"))
