"""Login, password and two-step login forms."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional


class LoginForm(FlaskForm):
    """Email and password; the CSRF field comes from Flask-WTF."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class ChangePasswordForm(FlaskForm):
    """The current password, and the new one twice."""

    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new", message="The two new passwords differ.")],
    )


class CodeForm(FlaskForm):
    """The login's second step: a code from the app, or a recovery code."""

    code = StringField("Code", validators=[DataRequired(), Length(max=40)])
    remember = BooleanField("Don't ask again on this browser for 30 days")


class EnableMfaForm(FlaskForm):
    """Confirm enrolment with the first code the app shows."""

    code = StringField("Code from the app", validators=[DataRequired(), Length(max=40)])
    setup = HiddenField(validators=[DataRequired(), Length(max=400)])


class RenewCodesForm(FlaskForm):
    """New recovery codes, with a current code from the app."""

    code = StringField("Code from the app", validators=[DataRequired(), Length(max=40)])


class ConfirmPasswordForm(FlaskForm):
    """A sensitive change, confirmed with the password."""

    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1024)])


class ForgotPasswordForm(FlaskForm):
    """The address to send a reset link to."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    """A new password, twice, chosen through a reset link."""

    new = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new", message="The two new passwords differ.")],
    )


class TokenForm(FlaskForm):
    """A new personal access token for the API."""

    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=80)],
        description="What it is for, e.g. “monitoring” or “shop lookup”.",
    )
    scope = SelectField("Scope", choices=[
        SelectChoice("read", "read — look only"),
        SelectChoice("write", "write — also create and change tickets"),
        SelectChoice("admin", "admin — also the audit trail (admins)"),
    ], default="read")  # fmt: skip
    expires_days = IntegerField(
        "Expires after (days)",
        validators=[Optional(), NumberRange(min=1, max=3650)],
        description="Empty: never (revoke it when it is no longer used).",
    )


class RevokeTokenForm(FlaskForm):
    """The revoke button (CSRF only)."""


class ProfileForm(FlaskForm):
    """One's own name and time zone (the choices are filled by the view)."""

    full_name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    time_zone = SelectField(
        "Time zone",
        validate_choice=True,
        description="Times on every page are shown in it (UTC if none).",
    )
