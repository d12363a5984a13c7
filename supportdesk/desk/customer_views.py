"""The customers pages: a searchable list, a customer with their tickets, edit, merge."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from supportdesk.customers import queries, service
from supportdesk.customers.forms import CustomerForm, CustomerMergeForm, CustomerSearchForm
from supportdesk.customers.models import Customer
from supportdesk.db import unit_of_work
from supportdesk.errors import DomainError
from supportdesk.paging import InvalidCursorError
from supportdesk.policy import admin_required
from supportdesk.tickets import requesters

bp = Blueprint("customers", __name__, url_prefix="/customers")


@bp.get("/")
def index() -> ResponseReturnValue:
    """List customers by email; search by the start of an email or a name."""
    form = CustomerSearchForm(formdata=request.args)
    form.validate()
    q = (form.q.data or "") if "q" not in form.errors else ""
    secret = current_app.config["SECRET_KEY"]
    try:
        customers, next_cursor = queries.customer_page(q, secret=secret,
                                                       cursor=form.cursor.data or None)  # fmt: skip
    except InvalidCursorError as exc:
        flash(str(exc), "error")
        customers, next_cursor = queries.customer_page(q, secret=secret)
    return render_template("customers/index.html", form=form, customers=customers, q=q,
                           next_cursor=next_cursor)  # fmt: skip


@bp.get("/lookup")
def lookup() -> ResponseReturnValue:
    """Return up to 8 customers whose email or name starts with ``q`` (the form's type-ahead)."""
    form = CustomerSearchForm(formdata=request.args)
    q = (form.q.data or "").strip() if form.validate() else ""
    if len(q) < 2:
        return jsonify(customers=[])
    found, _ = queries.customer_page(q, secret=current_app.config["SECRET_KEY"], size=8)
    return jsonify(customers=[
        {"id": c.id, "email": c.email, "name": c.name,
         "value": service.format_address(c.name, c.email)}
        for c in found
    ])  # fmt: skip


def _load(customer_id: int) -> Customer:
    customer = queries.get_customer(customer_id)
    if customer is None:
        abort(404, "There is no such customer.")
    return customer


@bp.route("/<int:customer_id>", methods=["GET", "POST"])
def detail(customer_id: int) -> ResponseReturnValue:
    """Show a customer with their tickets; POST saves their details."""
    customer = _load(customer_id)
    form = CustomerForm(obj=customer if request.method == "GET" else None)
    code = 200
    if request.method == "POST":
        if form.validate():
            values = service.CustomerValues(
                email=form.email.data or "", name=form.name.data or "",
                organisation=form.organisation.data or "", notes=form.notes.data or "",
                is_blocked=bool(form.is_blocked.data),
            )  # fmt: skip
            try:
                with unit_of_work():
                    service.update_customer(customer, values)
            except DomainError as exc:
                form.email.errors = [*form.email.errors, str(exc)]
            else:
                flash("Saved.", "success")
                return redirect(url_for(".detail", customer_id=customer_id), 303)
        code = 422
        customer = _load(customer_id)
    return _render(customer, form, code)


def _render(customer: Customer, form: CustomerForm, code: int = 200) -> ResponseReturnValue:
    secret = current_app.config["SECRET_KEY"]
    try:
        tickets, next_cursor, open_count, total = requesters.customer_tickets(
            customer.id, secret=secret, cursor=request.args.get("cursor") or None)  # fmt: skip
    except InvalidCursorError as exc:
        flash(str(exc), "error")
        tickets, next_cursor, open_count, total = requesters.customer_tickets(
            customer.id, secret=secret)  # fmt: skip
    return render_template(
        "customers/detail.html", customer=customer, form=form, tickets=tickets,
        next_cursor=next_cursor, open_count=open_count, total=total,
        merge_form=CustomerMergeForm(formdata=None),
    ), code  # fmt: skip


@bp.post("/<int:customer_id>/merge")
@admin_required
def merge(customer_id: int) -> ResponseReturnValue:
    """Merge this customer into the one with the email typed (admins)."""
    source = _load(customer_id)
    form = CustomerMergeForm()
    target = service.find_customer(form.into.data or "") if form.validate() else None
    if target is None:
        flash("Type the email of an existing customer to merge into.", "error")
        return redirect(url_for(".detail", customer_id=customer_id), 303)
    target_id, source_label = target.id, source.label
    try:
        with unit_of_work():
            actor = current_user._get_current_object()
            moved = requesters.merge_customers(source, target, actor=actor)
    except DomainError as exc:
        flash(f"Not merged: {exc}", "error")
        return redirect(url_for(".detail", customer_id=customer_id), 303)
    flash(f"{source_label} was merged into this customer; {moved} tickets moved.", "success")
    return redirect(url_for(".detail", customer_id=target_id), 303)
