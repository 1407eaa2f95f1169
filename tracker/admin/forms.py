"""Forms for units and users."""

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    URLField,
)
from wtforms.validators import URL, DataRequired, Email, Length, Optional, Regexp, ValidationError

from tracker.models import UnitKind
from tracker.notify.dingtalk import webhook_problem

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
    dingtalk_webhook = URLField(
        _l("DingTalk robot webhook"),
        validators=[
            Optional(),
            Length(max=500),
            URL(require_tld=False, message=_l("Enter a valid web address.")),
        ],
        description=_l(
            "Optional. The group robot's address (https://oapi.dingtalk.com/robot/send?"
            "access_token=…); the unit's reminders are also posted to that group."
        ),
    )
    # Never rendered back into the page (PasswordField): the view describes it as set or not set.
    dingtalk_secret = PasswordField(
        _l("DingTalk robot signing secret"),
        validators=[
            Optional(),
            Length(max=200),
            Regexp(r"^\S+$", message=_l("The secret has no spaces.")),
        ],
    )
    dingtalk_secret_clear = BooleanField(_l("Remove the signing secret"))
    submit = SubmitField(_l("Save"))

    def validate_dingtalk_webhook(self, field: URLField) -> None:
        """https only: the webhook carries the robot's token (plain http only where allowed)."""
        allow_http = bool(current_app.config.get("TRACKER_DINGTALK_ALLOW_HTTP", False))
        if field.data and webhook_problem(field.data, allow_http=allow_http):
            raise ValidationError(_l("The webhook address must start with https://."))


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
