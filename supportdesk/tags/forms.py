"""Tag form."""

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

from supportdesk.tags.service import COLOUR


class TagForm(FlaskForm):
    """Name, colour and description of a tag."""

    name = StringField("Name", validators=[DataRequired(), Length(max=50)])
    colour = StringField(
        "Colour",
        default="#6b7280",
        validators=[DataRequired(), Regexp(COLOUR, message="Use the form #1a2b3c.")],
        render_kw={"type": "color"},
    )
    description = TextAreaField("Description", validators=[Length(max=500)])
