"""The macro form (choices for people and tags are filled in by the view)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import HiddenInput

from supportdesk.macros.models import AssignMode
from supportdesk.macros.placeholders import MAX_LENGTH
from supportdesk.tickets.forms import (
    MARKDOWN_HINT,
    PRIORITY_CHOICES,
    STATUS_CHOICES,
    choices,
    optional_int,
)

KEEP = [("", "Leave as it is")]
ASSIGN_CHOICES = choices(
    [
        (AssignMode.KEEP.value, "Leave as it is"),
        (AssignMode.ME.value, "The agent applying it"),
        (AssignMode.USER.value, "This person:"),
        (AssignMode.NOBODY.value, "Nobody (unassign)"),
    ]
)


class MacroForm(FlaskForm):
    """A canned reply (name and text) with optional actions on the ticket."""

    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    body = TextAreaField(
        "Reply text",
        description=MARKDOWN_HINT + " Placeholders are listed below the form.",
        validators=[Optional(), Length(max=MAX_LENGTH)],
    )
    is_internal = BooleanField("Send as an internal note (staff only)")
    set_status = SelectField("Set status", choices=choices(KEEP) + STATUS_CHOICES, default="")
    set_priority = SelectField("Set priority", choices=choices(KEEP) + PRIORITY_CHOICES, default="")
    assign = SelectField("Assign to", choices=ASSIGN_CHOICES, default=AssignMode.KEEP.value)
    assign_user = SelectField("Person", coerce=optional_int, validate_choice=True)
    add_tags = SelectMultipleField("Add tags", coerce=int)
    remove_tags = SelectMultipleField("Remove tags", coerce=int)
    version = IntegerField(widget=HiddenInput(), validators=[Optional()])
