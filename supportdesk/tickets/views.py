"""Ticket pages: list, detail, create, edit, quick update, comments."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from supportdesk.db import unit_of_work
from supportdesk.errors import DomainError
from supportdesk.tickets import queries, service
from supportdesk.tickets.forms import (
    CommentForm,
    QuickUpdateForm,
    TicketFilterForm,
    TicketForm,
    choices,
)
from supportdesk.tickets.models import Ticket, TicketPriority, TicketStatus

bp = Blueprint("tickets", __name__, url_prefix="/tickets")

ACTIVE = [TicketStatus.OPEN.value, TicketStatus.IN_PROGRESS.value,
          TicketStatus.WAITING_ON_CUSTOMER.value]  # fmt: skip
SAVED_VIEWS: list[tuple[str, dict[str, Any]]] = [
    ("My open tickets", {"assignee": "me", "status": ACTIVE}),
    ("Unassigned", {"assignee": "none", "status": ACTIVE}),
    ("Urgent", {"priority": ["urgent"], "status": ACTIVE}),
    ("Waiting on customer", {"status": [TicketStatus.WAITING_ON_CUSTOMER.value]}),
]


def _staff_choices(options: queries.FilterOptions, ticket: Ticket | None) -> list[Any]:
    pairs: list[tuple[Any, str]] = [("", "Unassigned")]
    pairs += [(o.id, o.label) for o in options.staff]
    # Keep a deactivated assignee selectable on their ticket so the form still validates.
    if ticket is not None and ticket.assignee is not None and not ticket.assignee.is_active:
        pairs.append((ticket.assignee.id, f"{ticket.assignee.full_name} (inactive)"))
    return choices(pairs)


def _fill_choices(form: TicketForm | QuickUpdateForm, options: queries.FilterOptions,
                  ticket: Ticket | None = None) -> None:  # fmt: skip
    form.assignee.choices = _staff_choices(options, ticket)
    if isinstance(form, TicketForm):
        form.tags.choices = choices((o.id, o.label) for o in options.tags)


@bp.get("/")
def index() -> ResponseReturnValue:
    """List tickets with bookmarkable filters and keyset paging."""
    options = queries.filter_options()
    form = TicketFilterForm(formdata=request.args)
    form.tag.choices = choices((o.id, o.label) for o in options.tags)
    form.validate()
    problems = [
        f"{getattr(form, name).label.text}: {errors[0]} The filter was ignored."
        for name, errors in form.errors.items()
    ]
    filters = _filters_from(form)
    cursor = form.cursor.data or None
    secret = current_app.config["SECRET_KEY"]
    try:
        page = queries.list_tickets(filters, user_id=current_user.id, secret=secret, cursor=cursor)
    except queries.InvalidCursorError as exc:
        problems.append(str(exc))
        page = queries.list_tickets(filters, user_id=current_user.id, secret=secret)
    return render_template(
        "tickets/index.html",
        form=form,
        page=page,
        problems=problems,
        options=options,
        saved_views=SAVED_VIEWS,
        filter_args=(args := _filter_args(form)),
        filtered=bool(set(args) - {"sort", "dir"}),
    )


def _filters_from(form: TicketFilterForm) -> queries.TicketFilters:
    """Keep the valid fields; an invalid one is treated as not given."""
    ok = {name: name not in form.errors for name in form.data}
    filters = queries.TicketFilters(
        q=(form.q.data or "").strip() if ok["q"] else "",
        statuses=[TicketStatus(s) for s in form.status.data or []] if ok["status"] else [],
        priorities=[TicketPriority(p) for p in form.priority.data or []] if ok["priority"] else [],
        assignee=(form.assignee.data or "") if ok["assignee"] else "",
        tag_ids=list(form.tag.data or []) if ok["tag"] else [],
        created_from=form.created_from.data if ok["created_from"] else None,
        created_to=form.created_to.data if ok["created_to"] else None,
        sort=form.sort.data if ok["sort"] and form.sort.data else "created",
        direction=form.dir.data if ok["dir"] and form.dir.data else "desc",
    )
    for name, valid in ok.items():  # show invalid fields as unfiltered
        if not valid:
            field = getattr(form, name)
            field.data = field.default
    return filters


def _filter_args(form: TicketFilterForm) -> dict[str, Any]:
    """Return the current filters as query arguments (for paging links)."""
    args: dict[str, Any] = {}
    for name in ("q", "status", "priority", "assignee", "tag", "created_from", "created_to",
                 "sort", "dir"):  # fmt: skip
        value = getattr(form, name).data
        if value in (None, "", []):
            continue
        args[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return args


@bp.route("/new", methods=["GET", "POST"])
def create() -> ResponseReturnValue:
    """Create a ticket; redirect (303) to its page."""
    options = queries.filter_options()
    form = TicketForm()
    _fill_choices(form, options)
    if form.validate_on_submit():
        try:
            with unit_of_work():
                assignee, tags = service.resolve_form_values(
                    assignee_id=form.assignee.data,
                    tag_ids=form.tags.data or [],
                    new_tag_names=form.new_tags.data or "",
                    may_create_tags=current_user.is_admin,
                )
                ticket = service.create_ticket(
                    title=form.title.data or "",
                    description=form.description.data or "",
                    creator=current_user._get_current_object(),
                    priority=TicketPriority(form.priority.data),
                    status=TicketStatus(form.status.data),
                    assignee=assignee,
                    tags=tags,
                )
        except DomainError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(f"Created {ticket.reference}.", "success")
            return redirect(url_for(".detail", number=ticket.number), code=303)
    code = 422 if form.is_submitted() else 200
    return render_template("tickets/form.html", form=form, ticket=None, conflict=None), code


def _load(number: int, loader: Any = queries.ticket_for_page) -> Ticket:
    ticket = loader(number)
    if ticket is None:
        abort(404, f"There is no ticket SD-{number}.")
    return ticket


@bp.get("/<int:number>")
def detail(number: int) -> ResponseReturnValue:
    """Show a ticket, its comments and the forms to reply and change it."""
    return _render_detail(_load(number), CommentForm())


def _render_detail(ticket: Ticket, comment_form: CommentForm, code: int = 200) -> Any:
    options = queries.filter_options()
    quick = QuickUpdateForm(
        formdata=None,
        status=ticket.status.value,
        assignee=ticket.assignee_id,
        version=ticket.version,
        original=service.fingerprints(service.editable_values(ticket)),
    )
    _fill_choices(quick, options, ticket)
    return render_template(
        "tickets/detail.html", ticket=ticket, comment_form=comment_form, quick=quick
    ), code


@bp.route("/<int:number>/edit", methods=["GET", "POST"])
def edit(number: int) -> ResponseReturnValue:
    """Edit a ticket; a save over someone else's newer save gets the 409 conflict page."""
    ticket = _load(number, queries.ticket_for_edit)
    options = queries.filter_options()
    if request.method == "GET":
        form = TicketForm(
            formdata=None,
            title=ticket.title,
            description=ticket.description,
            status=ticket.status.value,
            priority=ticket.priority.value,
            assignee=ticket.assignee_id,
            tags=[t.id for t in ticket.tags],
            version=ticket.version,
            original=service.fingerprints(service.editable_values(ticket)),
        )
        _fill_choices(form, options, ticket)
        return render_template("tickets/form.html", form=form, ticket=ticket, conflict=None)

    form = TicketForm()
    _fill_choices(form, options, ticket)
    if not form.validate():
        return render_template("tickets/form.html", form=form, ticket=ticket, conflict=None), 422
    if form.version.data is None:
        form.form_errors.append("The form is missing its version; reload the page.")
        return render_template("tickets/form.html", form=form, ticket=ticket, conflict=None), 422
    submitted = {
        "title": form.title.data or "",
        "description": form.description.data or "",
        "status": form.status.data,
        "priority": form.priority.data,
        "assignee": "" if form.assignee.data is None else str(form.assignee.data),
        "tags": ",".join(str(i) for i in sorted(set(form.tags.data or []))),
    }
    return _save(ticket, form, form.version.data, submitted, new_tags=form.new_tags.data or "")


@bp.post("/<int:number>/update")
def quick_update(number: int) -> ResponseReturnValue:
    """Change status and assignee from the ticket page."""
    ticket = _load(number, queries.ticket_for_edit)
    options = queries.filter_options()
    quick = QuickUpdateForm()
    _fill_choices(quick, options, ticket)
    if not quick.validate():
        flash("The status or assignee was not valid; nothing was changed.", "error")
        return redirect(url_for(".detail", number=number), code=303)
    current = service.editable_values(ticket)
    submitted = dict(
        current,
        status=quick.status.data,
        assignee="" if quick.assignee.data is None else str(quick.assignee.data),
    )
    form = TicketForm(formdata=None, original=quick.original.data)
    _fill_choices(form, options, ticket)
    return _save(ticket, form, quick.version.data, submitted)


def _save(
    ticket: Ticket, form: TicketForm, version: int | None, submitted: dict[str, str],
    *, new_tags: str = "",
) -> ResponseReturnValue:  # fmt: skip
    """Apply ``submitted`` to ``ticket``; on a version conflict render the merge page."""
    number = ticket.number
    try:
        with unit_of_work():
            assignee, tags = service.resolve_form_values(
                assignee_id=int(submitted["assignee"]) if submitted["assignee"] else None,
                tag_ids=[int(i) for i in submitted["tags"].split(",") if i],
                new_tag_names=new_tags,
                may_create_tags=current_user.is_admin,
            )
            changed = service.update_ticket(
                ticket,
                actor=current_user._get_current_object(),
                expected_version=version,
                changes={
                    "title": submitted["title"],
                    "description": submitted["description"],
                    "status": submitted["status"],
                    "priority": submitted["priority"],
                    "assignee": assignee,
                    "tags": tags,
                },
            )
    except (service.StaleTicketError, StaleDataError):
        return _conflict(number, form, submitted)
    except DomainError as exc:
        form.form_errors.append(str(exc))
        _prefill(form, submitted)
        return render_template("tickets/form.html", form=form, ticket=ticket, conflict=None), 422
    flash(f"Saved {ticket.reference}." if changed else "Nothing to save.", "success")
    return redirect(url_for(".detail", number=number), code=303)


def _prefill(form: TicketForm, values: dict[str, str]) -> None:
    form.title.data = values["title"]
    form.description.data = values["description"]
    form.status.data = values["status"]
    form.priority.data = values["priority"]
    form.assignee.data = int(values["assignee"]) if values["assignee"] else None
    form.tags.data = [int(i) for i in values["tags"].split(",") if i]


def _conflict(number: int, form: TicketForm, submitted: dict[str, str]) -> ResponseReturnValue:
    ticket = _load(number, queries.ticket_for_edit)  # the version that won
    report = service.explain_conflict(ticket, original=form.original.data, submitted=submitted)
    _prefill(form, report.merged)
    form.version.data = ticket.version
    form.original.data = service.fingerprints(service.editable_values(ticket))
    form.version.raw_data = form.original.raw_data = None  # render the new values, not the posted
    _fill_choices(form, queries.filter_options(), ticket)
    labels = {c.value: c.label for c in form.assignee.choices}  # type: ignore[union-attr]
    tag_labels = {c.value: c.label for c in form.tags.choices}  # type: ignore[union-attr]
    return render_template(
        "tickets/form.html",
        form=form,
        ticket=ticket,
        conflict=report,
        submitted=submitted,
        describe=lambda field, value: _describe(field, value, labels, tag_labels),
    ), 409


def _describe(field: str, value: str, labels: dict[Any, str], tag_labels: dict[Any, str]) -> str:
    if field == "assignee":
        return labels.get(int(value), "someone") if value else "Unassigned"
    if field == "tags":
        return ", ".join(tag_labels.get(int(i), "?") for i in value.split(",") if i) or "no tags"
    if field == "status":
        return TicketStatus(value).label
    if field == "priority":
        return TicketPriority(value).label
    return value if len(value) <= 120 else value[:117] + "…"


@bp.post("/<int:number>/comments")
def comment(number: int) -> ResponseReturnValue:
    """Add a public reply or internal note; redirect (303) to it."""
    ticket = _load(number, queries.ticket_for_edit)
    form = CommentForm()
    if form.validate():
        try:
            with unit_of_work():
                new = service.add_comment(
                    ticket,
                    author=current_user._get_current_object(),
                    body=form.body.data or "",
                    is_internal=bool(form.is_internal.data),
                )
        except DomainError as exc:
            form.body.errors = [*form.body.errors, str(exc)]
        else:
            flash("Internal note added." if new.is_internal else "Reply added.", "success")
            return redirect(url_for(".detail", number=number, _anchor=f"c{new.id}"), code=303)
    return _render_detail(_load(number), form, 422)
