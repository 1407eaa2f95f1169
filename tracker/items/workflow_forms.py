"""Forms of the item workflow: submit for review, the inspector's decision, reopening, comments."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from tracker.models import ReviewDecision
from tracker.services.comments import BODY_MAX
from tracker.services.reviews import COMMENT_MAX
from tracker.services.submissions import NOTE_MAX

# Whether a reason is needed (on a return) is the review service's rule: not repeated here.
# Remarks on evidence are fields named remark-<evidence id>, one per piece of evidence of the
# round under review: their number varies, so the view reads them from the request itself.
REMARK_PREFIX = "remark-"


def optional_id(value: object) -> int | None:
    """A select's value as an id; the empty choice ("no template") is None."""
    if value in (None, ""):
        return None
    return int(str(value))


class SubmitItemForm(FlaskForm):
    note = TextAreaField(
        _l("Note to the inspector (optional)"),
        validators=[
            Optional(),
            Length(max=NOTE_MAX, message=_l("At most %(max)d characters.")),
        ],
    )
    submit = SubmitField(_l("Submit for review"))


class ReviewForm(FlaskForm):
    decision = RadioField(
        _l("Decision"),
        choices=[
            SelectChoice(ReviewDecision.APPROVE.value, _l("Approve")),
            SelectChoice(ReviewDecision.RETURN.value, _l("Return for rework")),
        ],
        validators=[InputRequired(message=_l("Choose whether to approve or return the item."))],
        validate_choice=False,  # the review service checks the decision
    )
    # Choices (the active templates) are set by the view; the review service checks the id.
    reason_template = SelectField(
        _l("Common return reason"), coerce=optional_id, choices=[], validate_choice=False
    )
    comment = TextAreaField(
        _l("Reason or comment (required when returning)"),
        validators=[Length(max=COMMENT_MAX, message=_l("At most %(max)d characters."))],
    )
    submit = SubmitField(_l("Record decision"))


class ReopenForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for reopening"),
        validators=[Length(max=COMMENT_MAX, message=_l("At most %(max)d characters."))],
    )
    submit = SubmitField(_l("Reopen"))


class CommentForm(FlaskForm):
    body = TextAreaField(
        _l("Comment"),
        validators=[
            DataRequired(message=_l("Write a comment first.")),
            Length(max=BODY_MAX, message=_l("At most %(max)d characters.")),
        ],
    )
    submit = SubmitField(_l("Post comment"))
