"""Forms of the customers pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class CustomerForm(FlaskForm):
    """A customer's details, as staff edit them."""

    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=120)])
    organisation = StringField("Organisation", validators=[Optional(), Length(max=120)])
    notes = TextAreaField("Notes (staff only)", validators=[Optional(), Length(max=20_000)])
    is_blocked = BooleanField("Blocked: park their mail, never send them anything automatic")


class CustomerMergeForm(FlaskForm):
    """Merge this customer into another, named by email (admins)."""

    into = StringField("Merge into (email)", validators=[DataRequired(), Length(max=254)])


class CustomerSearchForm(FlaskForm):
    """The customers list's search box and page cursor."""

    class Meta:
        csrf = False  # a GET form

    q = StringField("Email or name starts with", validators=[Optional(), Length(max=254)])
    cursor = HiddenField()
