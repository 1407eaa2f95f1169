"""Forms for the catalogue and holiday-calendar admin pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tracker.services.calendar import DayKind

# Whether a value is valid for the catalogue is the catalogue validator's rule (the same one the
# file import uses); the form only collects text and reports that validator's messages per field.


class RequirementForm(FlaskForm):
    title_zh = StringField(_l("Title (Chinese)"))
    title_en = StringField(_l("Title (English)"))
    description_zh = TextAreaField(_l("Description (Chinese)"), render_kw={"rows": 3})
    description_en = TextAreaField(_l("Description (English)"), render_kw={"rows": 3})
    legal_basis = TextAreaField(_l("Legal basis"), render_kw={"rows": 2})
    evidence_hint_zh = TextAreaField(_l("Evidence hint (Chinese)"), render_kw={"rows": 2})
    evidence_hint_en = TextAreaField(_l("Evidence hint (English)"), render_kw={"rows": 2})
    owners = StringField(
        _l("Owner units"),
        description=_l(
            "Unit codes or selectors separated by commas, e.g. FGK, kind:station, case_unit."
        ),
    )
    deadline = StringField(
        _l("Deadline rule"),
        description=_l("As in the catalogue file, e.g. {type: working_days, days: 20}."),
    )
    target_count = StringField(_l("Target count"), validators=[Optional()])
    target_value = StringField(_l("Target value"), validators=[Optional()])
    submit = SubmitField(_l("Save"))


DAY_KIND_LABELS = {
    DayKind.REST: _l("Rest day (holiday)"),
    DayKind.WORKDAY: _l("Make-up working day"),
}


class HolidayDayForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired(message=_l("Enter a date."))])
    kind = SelectField(
        _l("Kind of day"), choices=[SelectChoice(k.value, v) for k, v in DAY_KIND_LABELS.items()]
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(message=_l("Enter a name.")), Length(max=64)],
        description=_l("e.g. 春节 / Spring Festival"),
    )
    submit = SubmitField(_l("Save day"))


class HolidayImportForm(FlaskForm):
    file = FileField(
        _l("CSV file"), validators=[FileRequired(message=_l("Choose a CSV file to import."))]
    )
    submit = SubmitField(_l("Import"))
