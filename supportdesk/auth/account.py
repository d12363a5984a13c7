"""The staff member's security page: two-step login (TOTP) on and off, recovery codes.

Also the gate that sends someone who must use two-step login (``SUPPORTDESK_MFA_REQUIRED``)
to this page until they have set it up.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from supportdesk.audit.listeners import record_event
from supportdesk.auth import devices
from supportdesk.auth.forms import (
    ConfirmPasswordForm,
    EnableMfaForm,
    ProfileForm,
    RenewCodesForm,
    RevokeTokenForm,
    TokenForm,
)
from supportdesk.db import unit_of_work, utcnow
from supportdesk.errors import DomainError, is_api_request
from supportdesk.extensions import limiter
from supportdesk.users import mfa, tokens
from supportdesk.users import service as users_service
from supportdesk.users.models import TokenScope, User

bp = Blueprint("account", __name__, url_prefix="/account")
# /profile: one's name and time zone (a blueprint of its own: it lives at the top).
profile_bp = Blueprint("profile", __name__)

# What someone who must set up two-step login may reach before they have.
SETUP_ENDPOINTS = frozenset({"account.security", "account.enable_mfa", "auth.logout",
                             "auth.change_password", "auth.security_txt"})  # fmt: skip
NO_STORE = {"Cache-Control": "no-store"}


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def init_app(app: Flask) -> None:
    """Install the gate after the request-wide hooks (it needs the logged-in user)."""
    app.before_request(require_second_factor)


def require_second_factor() -> ResponseReturnValue | None:
    """Send a logged-in user who must use MFA and has not set it up to the set-up page."""
    if is_api_request():
        return None  # a token's owner logged in with MFA to make it; the cookie is not read
    if not current_user.is_authenticated or request.endpoint in SETUP_ENDPOINTS:
        return None
    if request.endpoint is None or request.endpoint == "static":
        return None
    user: User = current_user._get_current_object()
    if user.has_mfa or user.must_change_password or not mfa.required_for(user):
        return None
    flash("Set up two-step login before you go on: your role requires it.", "info")
    return redirect(url_for("account.security"))


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


def _setup_page(form: EnableMfaForm | None = None, code: int = 200) -> ResponseReturnValue:
    """Render the enrolment page; a form sent back keeps its secret (the app scanned it)."""
    user = _user()
    secret: str | None = None
    if form is not None and form.setup.data:
        try:
            secret = mfa.secret_from_setup(user, form.setup.data)
        except mfa.MfaError as exc:
            form.code.errors = [*form.code.errors, str(exc)]
    if secret is None or form is None:
        secret, token = mfa.new_setup(user)
        form = form or EnableMfaForm()
        form.setup.data = token
    page = render_template(
        "account/security.html", user=user, setup_form=form, secret=mfa.grouped(secret),
        qr=mfa.qr_data_uri(mfa.provisioning_uri(user, secret)),
        required=mfa.required_for(user),
    )  # fmt: skip
    return page, code, NO_STORE


@bp.get("/security")
def security() -> ResponseReturnValue:
    """Two-step login: set it up, or see its state and manage it."""
    user = _user()
    if not user.has_mfa:
        return _setup_page()
    return _manage_page()


def _manage_page(renew: RenewCodesForm | None = None, disable: ConfirmPasswordForm | None = None,
                 code: int = 200) -> ResponseReturnValue:  # fmt: skip
    user = _user()
    page = render_template(
        "account/security.html", user=user, required=mfa.required_for(user),
        codes_left=mfa.recovery_codes_left(user), trusted_until=devices.mfa_trusted_until(user),
        renew_form=renew or RenewCodesForm(), disable_form=disable or ConfirmPasswordForm(),
    )  # fmt: skip
    return page, code, NO_STORE


def _codes_page(codes: list[str], *, first: bool) -> ResponseReturnValue:
    page = render_template("account/recovery_codes.html", first=first,
                           codes=[mfa.format_recovery_code(c) for c in codes])  # fmt: skip
    return page, 200, NO_STORE


@bp.post("/security/enable")
@limiter.limit(_login_limit)
def enable_mfa() -> ResponseReturnValue:
    """Turn two-step login on with the first code from the app; show the recovery codes."""
    user = _user()
    form = EnableMfaForm()
    if user.has_mfa:
        return redirect(url_for(".security"), code=303)
    if not form.validate_on_submit():
        return _setup_page(form, 422)
    try:
        secret = mfa.secret_from_setup(user, form.setup.data or "")
        with unit_of_work():
            codes = mfa.enable(user, secret, form.code.data or "")
            record_event("user.mfa_enabled", entity=user)
    except mfa.MfaError as exc:
        form.code.errors = [*form.code.errors, str(exc)]
        return _setup_page(form, 422)
    return _codes_page(codes, first=True)


@bp.post("/security/recovery-codes")
@limiter.limit(_login_limit)
def renew_codes() -> ResponseReturnValue:
    """Ten new recovery codes (the old ones stop working), with a current code."""
    user = _user()
    form = RenewCodesForm()
    if not user.has_mfa:
        return redirect(url_for(".security"), code=303)
    if form.validate_on_submit():
        with unit_of_work():
            confirmed = users_service.confirm_code(user, form.code.data or "")
            codes = mfa.renew_recovery_codes(user) if confirmed else None
            if codes is not None:
                record_event("user.recovery_codes_renewed", entity=user)
        if codes is not None:
            return _codes_page(codes, first=False)
        form.code.errors = [*form.code.errors, "That code is wrong, expired or used already."]
    return _manage_page(renew=form, code=422)


@bp.post("/security/disable")
@limiter.limit(_login_limit)
def disable_mfa() -> ResponseReturnValue:
    """Turn two-step login off (not where it is required), with the password."""
    user = _user()
    form = ConfirmPasswordForm()
    if not user.has_mfa:
        return redirect(url_for(".security"), code=303)
    if mfa.required_for(user):
        form.password.errors = ["Your role requires two-step login; it cannot be turned off."]
        return _manage_page(disable=form, code=422)
    if form.validate_on_submit():
        with unit_of_work():
            confirmed = users_service.confirm_password(user, form.password.data or "")
            if confirmed:
                mfa.disable(user)
                record_event("user.mfa_disabled", entity=user)
        if confirmed:
            flash("Two-step login is off. Your recovery codes no longer work.", "success")
            return redirect(url_for(".security"), code=303)
        form.password.errors = [*form.password.errors, "That password is wrong."]
    return _manage_page(disable=form, code=422)


def _tokens_page(form: TokenForm | None = None, made: tokens.NewToken | None = None,
                 code: int = 200) -> ResponseReturnValue:  # fmt: skip
    """Render the tokens page; a token just made is shown in this response only."""
    user = _user()
    now = utcnow()
    rows = [(t, tokens.status_of(t, user, now)) for t in tokens.tokens_of(user)]
    page = render_template("account/tokens.html", form=form or TokenForm(), rows=rows,
                           made=made, revoke_form=RevokeTokenForm())  # fmt: skip
    return page, code, NO_STORE


@bp.get("/tokens")
def tokens_page() -> ResponseReturnValue:
    """Personal access tokens for the API: make one, see when each was last used, revoke."""
    return _tokens_page()


@bp.post("/tokens")
def create_token() -> ResponseReturnValue:
    """Make a token and show it once (it is stored hashed: it cannot be shown again)."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _tokens_page(form, code=422)
    try:
        with unit_of_work(expire=False):
            made = tokens.create_token(_user(), name=form.name.data or "",
                                       scope=TokenScope(form.scope.data),
                                       expires_days=form.expires_days.data)  # fmt: skip
    except DomainError as exc:
        form.name.errors = [*form.name.errors, str(exc)]
        return _tokens_page(form, code=422)
    return _tokens_page(made=made)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of my tokens (at once: its next request gets 401)."""
    if not RevokeTokenForm().validate_on_submit():
        return _tokens_page(code=400)
    try:
        with unit_of_work():
            name = tokens.revoke(token_id, owner=_user()).name
    except DomainError:
        abort(404)
    flash(f"The token “{name}” is revoked.", "success")
    return redirect(url_for(".tokens_page"), code=303)


@profile_bp.route("/profile", methods=["GET", "POST"])
def profile() -> ResponseReturnValue:
    """Change one's own name and time zone; links to the password and security pages."""
    user = _user()
    form = ProfileForm(obj=user, time_zone=user.time_zone or "")
    form.time_zone.choices = [SelectChoice("", "UTC"), *(
        SelectChoice(z, z.replace("_", " ")) for z in users_service.time_zones())]  # fmt: skip
    if form.validate_on_submit():
        try:
            with unit_of_work():
                changed = users_service.update_profile(
                    user, full_name=form.full_name.data or "", time_zone=form.time_zone.data
                )
        except DomainError as exc:
            form.full_name.errors = [*form.full_name.errors, str(exc)]
        else:
            flash("Your profile is saved." if changed else "Nothing to save.", "success")
            return redirect(url_for(".profile"), code=303)
    code = 422 if form.errors else 200
    return render_template("account/profile.html", form=form, user=user, now=utcnow()), code
