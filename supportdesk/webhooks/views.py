"""``/settings/webhooks``: admins register, change and watch webhooks."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from supportdesk.db import unit_of_work
from supportdesk.errors import DomainError, NotFoundError
from supportdesk.policy import admin_required
from supportdesk.webhooks import service
from supportdesk.webhooks.forms import ConfirmForm, WebhookForm
from supportdesk.webhooks.models import Webhook

bp = Blueprint("webhooks", __name__, url_prefix="/settings/webhooks")
NO_STORE = {"Cache-Control": "no-store"}


def _values(form: WebhookForm) -> service.HookValues:
    return service.HookValues(url=form.url.data or "", events=list(form.events.data or []),
                              description=form.description.data or "",
                              is_active=bool(form.is_active.data))  # fmt: skip


def _hook(hook_id: int) -> Webhook:
    try:
        return service.get_hook(hook_id)
    except NotFoundError:
        abort(404, "There is no such webhook.")


@bp.get("/")
@admin_required
def index() -> ResponseReturnValue:
    """List the hooks, with a form for a new one."""
    return render_template("webhooks/index.html", hooks=service.all_hooks(), form=WebhookForm())


@bp.post("/")
@admin_required
def create() -> ResponseReturnValue:
    """Register a hook; its page shows the new signing secret, this once."""
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            with unit_of_work(expire=False):
                hook = service.create_hook(_values(form), owner=current_user)
            return _page(hook, secret=hook.secret)
        except DomainError as exc:
            form.url.errors = [*form.url.errors, str(exc)]
    page = render_template("webhooks/index.html", hooks=service.all_hooks(), form=form)
    return page, 422


def _page(hook: Webhook, *, form: WebhookForm | None = None, secret: str | None = None,
          code: int = 200) -> ResponseReturnValue:  # fmt: skip
    form = form or WebhookForm(obj=hook)
    page = render_template("webhooks/detail.html", hook=hook, form=form, secret=secret,
                           deliveries=service.recent_deliveries(hook.id),
                           confirm=ConfirmForm())  # fmt: skip
    return page, code, NO_STORE


@bp.get("/<int:hook_id>")
@admin_required
def detail(hook_id: int) -> ResponseReturnValue:
    """Show a hook: its settings and its last 50 deliveries with every attempt."""
    return _page(_hook(hook_id))


@bp.post("/<int:hook_id>")
@admin_required
def update(hook_id: int) -> ResponseReturnValue:
    """Change a hook (turning it on again clears its failure record)."""
    hook, form = _hook(hook_id), WebhookForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                service.update_hook(hook, _values(form))
            flash("The webhook is saved.", "success")
            return redirect(url_for(".detail", hook_id=hook_id), code=303)
        except DomainError as exc:
            form.url.errors = [*form.url.errors, str(exc)]
    return _page(_hook(hook_id), form=form, code=422)


@bp.post("/<int:hook_id>/secret")
@admin_required
def renew_secret(hook_id: int) -> ResponseReturnValue:
    """Give the hook a new signing secret, shown this once."""
    hook = _hook(hook_id)
    if not ConfirmForm().validate_on_submit():
        return _page(hook, code=400)
    with unit_of_work(expire=False):
        secret = service.renew_secret(hook)
    return _page(hook, secret=secret)


@bp.post("/<int:hook_id>/ping")
@admin_required
def ping(hook_id: int) -> ResponseReturnValue:
    """Queue a ``ping`` event to the hook (to test the receiver)."""
    hook = _hook(hook_id)
    if ConfirmForm().validate_on_submit():
        with unit_of_work():
            service.send_ping(hook)
        flash("A ping is queued; the worker sends it within seconds.", "success")
    return redirect(url_for(".detail", hook_id=hook_id), code=303)


@bp.post("/<int:hook_id>/delete")
@admin_required
def delete(hook_id: int) -> ResponseReturnValue:
    """Delete a hook and its delivery record."""
    hook = _hook(hook_id)
    if ConfirmForm().validate_on_submit():
        with unit_of_work():
            service.delete_hook(hook)
        flash("The webhook is deleted.", "success")
    return redirect(url_for(".index"), code=303)
