"""Forms for assigning checklist items (one on the item page, many from the checklist)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SelectMultipleField, SubmitField
from wtforms.widgets import CheckboxInput, ListWidget

# The value of "nobody" in the assignee selects.
UNASSIGNED = 0


class AssignForm(FlaskForm):
    """Choose the person in charge of one item."""

    # Who may be chosen is the service's rule (one message per reason), so any id is accepted here.
    assignee_id = SelectField(_l("Person in charge"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("Assign"))


class BulkAssignForm(FlaskForm):
    """Assign the items ticked on the checklist; the checkboxes live in the table rows."""

    item_ids = SelectMultipleField(
        _l("Items"),
        coerce=int,
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    assignee_id = SelectField(_l("Assign the selected items to"), coerce=int, validate_choice=False)
    next = HiddenField()
    submit = SubmitField(_l("Assign selected"))
