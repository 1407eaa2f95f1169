"""Forms of the evidence panel: upload files, add a link, record an indicator value.

The rules (required date for count items, URL schemes, lengths, limits) belong to the evidence
service; the forms only parse input and carry the CSRF token. Field ids are distinct because the
forms share one page.
"""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import DateField, StringField, SubmitField, TextAreaField
from wtforms.validators import Optional


class EvidenceUploadForm(FlaskForm):
    files = MultipleFileField(_l("Files"), id="evidence-files")
    note = TextAreaField(_l("Note"), id="evidence-note", validators=[Optional()])
    occurred_on = DateField(
        _l("Date of the occurrence"), id="evidence-occurred-on", validators=[Optional()]
    )
    submit = SubmitField(_l("Upload"), id="evidence-upload")


class EvidenceLinkForm(FlaskForm):
    url = StringField(_l("Address (http:// or https://)"), id="link-url")
    title = StringField(_l("Title"), id="link-title", validators=[Optional()])
    note = TextAreaField(_l("Note"), id="link-note", validators=[Optional()])
    occurred_on = DateField(
        _l("Date of the occurrence"), id="link-occurred-on", validators=[Optional()]
    )
    submit = SubmitField(_l("Add link"), id="link-add")


class IndicatorValueForm(FlaskForm):
    value = StringField(_l("Value"), id="indicator-value")
    submit = SubmitField(_l("Save value"), id="indicator-save")
