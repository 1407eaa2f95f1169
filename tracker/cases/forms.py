"""Forms for registering, editing and importing enforcement cases."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Optional

# Length and order of dates are the service's rules (CaseInvalid): they are not repeated here.


class CaseEditForm(FlaskForm):
    """What may change on a registered case (its unit owns its items and cannot change)."""

    case_no = StringField(
        _l("Case number"), validators=[DataRequired(message=_l("The case number is required."))]
    )
    decided_on = DateField(_l("Decision date"), validators=[Optional()])
    served_on = DateField(_l("Service date"), validators=[Optional()])
    closed_on = DateField(_l("Closing date"), validators=[Optional()])
    registered_on = DateField(_l("Filing date"), validators=[Optional()])
    major = BooleanField(_l("Major enforcement decision"))
    party = StringField(_l("Party"), validators=[Optional()])
    submit = SubmitField(_l("Save"))


class CaseForm(CaseEditForm):
    """A new case: the edit form plus the case-handling unit."""

    unit_id = SelectField(_l("Case-handling unit"), coerce=int)
    submit = SubmitField(_l("Register"))


class CaseImportForm(FlaskForm):
    file = FileField(
        _l("CSV file"), validators=[FileRequired(message=_l("Choose a CSV file to import."))]
    )
    submit = SubmitField(_l("Import"))
