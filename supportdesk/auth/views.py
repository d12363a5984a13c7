"""Staff login and logout."""

from __future__ import annotations

import datetime as dt
import time
from email.utils import parseaddr
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from supportdesk.audit.context import update_actor
from supportdesk.audit.listeners import record_event
from supportdesk.auth import devices, resets
from supportdesk.auth.forms import (
    ChangePasswordForm,
    CodeForm,
    ForgotPasswordForm,
    LoginForm,
    ResetPasswordForm,
)
from supportdesk.db import unit_of_work, utcnow
from supportdesk.errors import DomainError
from supportdesk.extensions import db, limiter, login_manager
from supportdesk.users import mfa
from supportdesk.users import service as users_service
from supportdesk.users.models import User
from supportdesk.users.service import authenticate, end_sessions
from supportdesk.web import start_session

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Return the logged-in staff member for the session, if still active."""
    try:
        user = db.session.get(User, int(user_id))
    except ValueError:
        return None
    if user is None or not user.is_active or session.get("epoch") != user.session_epoch:
        return None  # deactivated, or the session was ended (logout elsewhere)
    return user


def safe_next_url(target: str | None) -> str | None:
    """Return ``target`` only if it is a path on this site (no open redirects).

    Control characters are refused: a line break in a ``Location`` header is a 500 (or,
    on a server that allowed it, a header injection).
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or ch in "\u2028\u2029\x85" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _account_limit() -> str:
    return str(current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"])


def _client_and_account() -> str:
    """Return the rate-limit key of a login attempt: client address and account.

    One address guessing one account is stopped soon, without one address's failures
    counting against everybody's account.
    """
    email = (request.form.get("email") or "").strip().lower()[:254]
    return f"{request.remote_addr}|{email}"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_account_limit, methods=["POST"], key_func=_client_and_account)
def login() -> Response | str | tuple[str, int]:
    """Show the login form; log the staff member in on valid credentials."""
    next_url = safe_next_url(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("tickets.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = (form.email.data or "").strip()
        with unit_of_work():
            user = authenticate(email, form.password.data or "",
                                known_device_user=devices.known_user_id())  # fmt: skip
            pending = user is not None and user.has_mfa and not devices.trusted_for_mfa(user)
            if user is not None and not pending:
                if user.has_mfa:  # a browser trusted for 30 days skips the code
                    users_service.finish_login(user)
                update_actor(user.id, user.email)
                how = {"mfa": "trusted browser"} if user.has_mfa else None
                record_event("user.login", entity=user, changes=how)
            elif user is None:
                # Failed logins are security events; the typed email says who was tried.
                record_event("user.login_failed", entity=("users", None),
                             changes={"email": email[:254]})  # fmt: skip
        if user is not None and pending:
            # Password right; the second step decides. Nothing of a login is in the
            # session yet: only who is half-way, since when, and where to go after.
            session.clear()
            session["mfa"] = {"u": user.id, "e": user.session_epoch, "t": time.time(),
                              "n": next_url}  # fmt: skip
            return redirect(url_for("auth.login_code"), code=303)
        if user is not None:
            return _complete_login(user, next_url)
        form.password.errors.append("Email or password is wrong, or the account is disabled.")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


def _complete_login(user: User, next_url: str | None, *, trust_mfa: bool | None = None
                    ) -> Response:  # fmt: skip
    # A new session for the new login: nothing planted before it (a CSRF secret, a
    # flash) survives into the signed-in session (session fixation).
    session.clear()
    login_user(user)
    start_session(user.id, user.session_epoch)
    response = redirect(next_url or url_for("tickets.index"), code=303)
    devices.remember(response, user, trust_mfa=trust_mfa)
    return response


PENDING_SECONDS = 300


def _pending_login() -> tuple[User, str | None] | None:
    """Return the user half-way through logging in (password right, code to come)."""
    pending = session.get("mfa")
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("t", 0)) > PENDING_SECONDS:
        return None
    user = db.session.get(User, int(pending.get("u", 0)))
    if (user is None or not user.is_active or not user.has_mfa
            or user.session_epoch != pending.get("e")):  # fmt: skip
        return None  # deactivated, reset or logged out everywhere meanwhile
    return user, safe_next_url(pending.get("n"))


def _client_and_pending_user() -> str:
    pending = session.get("mfa")
    user_id = pending.get("u") if isinstance(pending, dict) else None
    return f"{request.remote_addr}|code|{user_id}"


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_account_limit, methods=["POST"], key_func=_client_and_pending_user)
def login_code() -> Response | str | tuple[str, int]:
    """Ask for the second step of a login with MFA: an app's code or a recovery code."""
    pending = _pending_login()
    if pending is None:
        session.pop("mfa", None)
        flash("Please log in again: the step for the code timed out.", "info")
        return redirect(url_for("auth.login"), code=303)
    user, next_url = pending
    form = CodeForm()
    if form.validate_on_submit():
        known = devices.known_user_id() == user.id
        with unit_of_work():
            method = users_service.check_second_step(user, form.code.data or "",
                                                     known_device=known)  # fmt: skip
            if method is not None:
                update_actor(user.id, user.email)
                record_event("user.login", entity=user, changes={"mfa": method})
                left = mfa.recovery_codes_left(user) if method == "recovery" else None
            else:
                record_event("user.login_failed", entity=user, changes={"step": "code"})
        if method is not None:
            response = _complete_login(user, next_url, trust_mfa=bool(form.remember.data) or None)
            if left is not None:
                flash(f"You used a recovery code; {left} left. If your phone is lost, set up "
                      "two-step login again on your security page.", "warning")  # fmt: skip
            return response
        form.code.errors.append("That code is wrong, expired or used already.")
        return render_template("auth/code.html", form=form), 401
    return render_template("auth/code.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def forgot_password() -> Response | str | tuple[str, int]:
    """Ask for a reset link by email; the answer is the same whether the address exists."""
    form = ForgotPasswordForm()
    if not resets.enabled():
        return render_template("auth/forgot.html", form=None, sent=False), 404
    if form.validate_on_submit():
        with unit_of_work():
            resets.request_reset(form.email.data or "", remote_addr=request.remote_addr)
        return render_template("auth/forgot.html", form=None, sent=True)
    code = 422 if form.is_submitted() else 200
    return render_template("auth/forgot.html", form=form, sent=False), code


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def reset_password(token: str) -> Response | str | tuple[str, int]:
    """Choose a new password through an emailed link (once, within 30 minutes)."""
    if resets.valid_reset(token) is None:
        return render_template("auth/reset.html", form=None), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                user = resets.complete_reset(token, form.new.data or "")
        except DomainError as exc:
            form.new.errors = [*form.new.errors, str(exc)]
        else:
            if user is None:  # used by a second tab meanwhile
                return render_template("auth/reset.html", form=None), 404
            session.clear()
            flash("Your password was changed. Log in with it now.", "success")
            return redirect(url_for("auth.login"), code=303)
    code = 422 if form.is_submitted() else 200
    return render_template("auth/reset.html", form=form), code


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def change_password() -> Response | str | tuple[str, int]:
    """Change one's own password (required after an admin reset).

    Guesses of the current password are limited like logins: per client address, and
    counted towards the same lock as failed logins.
    """
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            with unit_of_work():
                changed = users_service.change_password(
                    user, current=form.current.data or "", new=form.new.data or ""
                )
                record_event("user.password_changed" if changed
                             else "user.password_change_failed", entity=user)  # fmt: skip
        except DomainError as exc:
            form.new.errors = [*form.new.errors, str(exc)]
        else:
            if not changed:
                form.current.errors = [*form.current.errors, "The current password is wrong."]
                return render_template("auth/password.html", form=form), 422
            start_session(user.id, user.session_epoch)  # this session goes on; others end
            flash("Your password was changed. Other sessions were logged out.", "success")
            return redirect(url_for("tickets.index"), code=303)
    code = 422 if form.is_submitted() else 200
    return render_template("auth/password.html", form=form), code


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Log out (a POST with CSRF, so no link can log staff out)."""
    if current_user.is_authenticated:
        with unit_of_work():
            user = current_user._get_current_object()
            record_event("user.logout", entity=user)
            end_sessions(user)  # every copy of the old cookie stops working
    logout_user()
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.get("/.well-known/security.txt")
def security_txt() -> Response:
    """RFC 9116: whom to tell about a vulnerability (docs/SECURITY.md says how)."""
    config = current_app.config
    contact = config["SECURITY_CONTACT"] or "mailto:" + parseaddr(config["MAIL_FROM"])[1]
    expires = (utcnow() + dt.timedelta(days=180)).replace(microsecond=0)
    body = (f"Contact: {contact}\nExpires: {expires.isoformat().replace('+00:00', 'Z')}\n"
            "Preferred-Languages: en\n")  # fmt: skip
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "max-age=86400"})
