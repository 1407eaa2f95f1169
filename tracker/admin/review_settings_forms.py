"""Forms of the review settings: return-reason templates and inspector exclusions."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from tracker.services.review_settings import TEMPLATE_TEXT_MAX

_AT_MOST = _l("At most %(max)d characters.")


class ReasonTemplateForm(FlaskForm):
    text_zh = TextAreaField(
        _l("Reason (Chinese)"),
        validators=[
            DataRequired(message=_l("Write the reason in both languages.")),
            Length(max=TEMPLATE_TEXT_MAX, message=_AT_MOST),
        ],
        render_kw={"rows": 3, "maxlength": TEMPLATE_TEXT_MAX},
    )
    text_en = TextAreaField(
        _l("Reason (English)"),
        validators=[
            DataRequired(message=_l("Write the reason in both languages.")),
            Length(max=TEMPLATE_TEXT_MAX, message=_AT_MOST),
        ],
        render_kw={"rows": 3, "maxlength": TEMPLATE_TEXT_MAX},
    )
    position = IntegerField(
        _l("Position in the list"),
        validators=[Optional(), NumberRange(min=0, max=100_000)],
        description=_l("Smaller numbers come first; left empty, a new reason goes to the end."),
    )
    submit = SubmitField(_l("Save"))


class ExclusionForm(FlaskForm):
    # Choices are set by the view: active inspectors and administrators; units.
    inspector_id = SelectField(
        _l("Inspector"), coerce=int, validators=[DataRequired(message=_l("Choose an inspector."))]
    )
    unit_id = SelectField(
        _l("Unit"), coerce=int, validators=[DataRequired(message=_l("Choose a unit."))]
    )
    submit = SubmitField(_l("Add exclusion"))
