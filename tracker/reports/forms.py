"""Forms of the reports pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, Length

from tracker.services.annual_report import NARRATIVE_MAX, SECTION_KEYS


class NarrativeForm(FlaskForm):
    """One text area per report section (the fields are added below, one per key)."""

    submit = SubmitField(_l("Save"))


for _key in SECTION_KEYS:
    setattr(
        NarrativeForm,
        _key,
        TextAreaField(_key, validators=[Length(max=NARRATIVE_MAX)], render_kw={"rows": 6}),
    )


class FeedForm(FlaskForm):
    """Create (or replace) the personal calendar feed, or revoke it."""

    action = HiddenField(validators=[AnyOf(["create", "revoke"])])
