"""Forms for units and users."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from tracker.models import UnitKind

UNIT_KIND_LABELS = {
    UnitKind.BUREAU: _l("Bureau"),
    UnitKind.OFFICE: _l("Office"),
    UnitKind.SECTION: _l("Section"),
    UnitKind.STATION: _l("Market supervision station"),
    UnitKind.BRIGADE: _l("Brigade"),
}


class UnitForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(),
            Length(max=32),
            Regexp(r"^[A-Za-z0-9_-]+$", message=_l("Letters, digits, - and _ only.")),
        ],
    )
    name = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=200)])
    kind = SelectField(
        _l("Kind"), choices=[SelectChoice(k.value, v) for k, v in UNIT_KIND_LABELS.items()]
    )
    parent_id = SelectField(_l("Parent unit"), coerce=int, validators=[Optional()])
    submit = SubmitField(_l("Save"))


class UserForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[
            DataRequired(),
            Email(message=_l("Enter a valid email address.")),
            Length(max=254),
        ],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Role"))
    unit_id = SelectField(_l("Unit"), coerce=int)
    locale = SelectField(
        _l("Language"),
        choices=[
            SelectChoice("", _l("Browser default")),
            SelectChoice("zh_CN", "中文"),
            SelectChoice("en", "English"),
        ],
    )
    password = PasswordField(_l("Password"), validators=[Optional(), Length(min=10, max=200)])
    submit = SubmitField(_l("Save"))


class ConfirmForm(FlaskForm):
    """An empty form: carries the CSRF token of one-click POST actions."""
