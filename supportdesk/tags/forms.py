"""Tag form."""

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Regexp

from supportdesk.tags.service import COLOUR


class TagForm(FlaskForm):
    """Name, colour and description of a tag."""

    name = StringField("Name", validators=[DataRequired(), Length(max=50)])
    colour = StringField(
        "Colour",
        default="#6b7280",
        # InputRequired, not DataRequired: a colour input always has a value, and
        # `required` is not allowed on it (HTML: the attribute does not apply to colour).
        validators=[InputRequired(), Regexp(COLOUR, message="Use the form #1a2b3c.")],
        render_kw={"type": "color", "required": False},
    )
    description = TextAreaField("Description", validators=[Length(max=500)])
