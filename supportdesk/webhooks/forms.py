"""The webhook form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from supportdesk.webhooks.models import EVENTS


class WebhookForm(FlaskForm):
    """Where to send which events."""

    url = StringField(
        "URL",
        validators=[DataRequired(), Length(max=2000)],
        description="https:// only; it must not resolve to a private address.",
    )
    description = StringField("Description", validators=[Length(max=200)])
    events = SelectMultipleField(
        "Events", choices=[SelectChoice(e, e) for e in EVENTS],
        validators=[DataRequired(message="Choose at least one event.")],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
    )  # fmt: skip
    is_active = BooleanField("Active", default=True)


class ConfirmForm(FlaskForm):
    """A button (CSRF only): delete, renew the secret, send a test event."""
