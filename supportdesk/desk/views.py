"""The staff workspace's ticket pages: list, ticket, create, edit, reply, bulk, trash.

Each POST view parses its form, calls one service (``desk.service`` or the tickets
package) inside one unit of work, then flashes and redirects or renders.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from supportdesk.csvexport import stream_csv
from supportdesk.db import parse_id, unit_of_work, utcnow
from supportdesk.desk import pages
from supportdesk.desk import service as desk
from supportdesk.desk.forms import (
    BulkForm,
    accept_uploads,
    invalid_quick_update,
    list_filters,
    quick_values,
    ticket_values,
)
from supportdesk.errors import DomainError
from supportdesk.macros import queries as macro_queries
from supportdesk.macros import service as macros
from supportdesk.paging import InvalidCursorError
from supportdesk.policy import admin_required
from supportdesk.replicas import from_replica, reading_replica
from supportdesk.tickets import (
    badges,
    conflicts,
    export,
    followers,
    formtokens,
    queries,
    queue,
    search,
    service,
)
from supportdesk.tickets import (
    merge as merging,
)
from supportdesk.tickets.forms import (
    CommentForm,
    MergeForm,
    QuickUpdateForm,
    TakeNextForm,
    TicketFilterForm,
    TicketForm,
    choices,
)
from supportdesk.tickets.models import Ticket, TicketStatus

bp = Blueprint("tickets", __name__, url_prefix="/tickets")
bp.record_once(lambda state: state.app.jinja_env.globals.update(badges.GLOBALS))


def _options() -> queries.FilterOptions:
    """Tags, active staff and macros for the page's selects, in one statement."""
    return queries.filter_options(macros=macro_queries.option_rows())


def _filter_form(formdata: Any, options: queries.FilterOptions | None = None) -> TicketFilterForm:
    form = TicketFilterForm(formdata=formdata)
    tags = (options or queries.filter_options()).tags
    form.tag.choices = choices((o.id, o.label) for o in tags)
    form.validate()
    return form


@bp.get("/")
def index() -> ResponseReturnValue:
    """List tickets with bookmarkable filters and keyset paging."""
    options = _options()
    form = _filter_form(request.args, options)
    # A search may read from a replica (seconds of lag are harmless when looking for
    # words); the plain lists stay on the primary, where "Mine" must be exact at once.
    with reading_replica() if form.q.data else nullcontext():
        listing = pages.ticket_list(form, user=current_user, tags=options.tags,
                                    secret=current_app.config["SECRET_KEY"],
                                    sort_given="sort" in request.args)  # fmt: skip
    if listing.go_to is not None:  # "SD-1042" or "1042" in the box: straight to that ticket
        return redirect(url_for("tickets.detail", number=listing.go_to))
    return render_template(
        "tickets/index.html", form=form, page=listing.page, problems=listing.problems,
        options=options, filter_args=(args := form.query_args()),
        sidebar=pages.sidebar(current_user, args),
        chips=pages.filter_chips(args, options, index_url=url_for("tickets.index")),
        filtered=bool(set(args) - {"sort", "dir"}), loaded_at=utcnow().isoformat(),
        bulk_actions=desk.BULK_ACTIONS, candidates=search.CANDIDATES, probe=search.PROBE,
    )  # fmt: skip


@bp.get("/export.csv")
def export_csv() -> ResponseReturnValue:
    """Stream every ticket the list's filters match as CSV (all pages, constant memory)."""
    form = _filter_form(request.args)
    if form.errors:  # an export must be exactly what was asked for, never "close enough"
        invalid = "; ".join(
            f"{getattr(form, n).label.text}: {e[0]}" for n, e in form.errors.items()
        )
        abort(400, description=f"The export was not made: {invalid}")
    problems: list[str] = []
    filters = pages.list_filters(form, problems, user=current_user,
                                 sort_given="sort" in request.args)  # fmt: skip
    if problems:
        abort(400, description="The export was not made. " + " ".join(problems))
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    headers = {"Content-Disposition": f'attachment; filename="tickets-{stamp}.csv"'}
    rows = from_replica(export.rows(filters, user_id=current_user.id))
    return Response(
        stream_with_context(stream_csv(export.COLUMNS, rows, joined=export.JOINED_COLUMNS)),
        mimetype="text/csv",
        headers=headers,
    )


@bp.route("/new", methods=["GET", "POST"])
def create() -> ResponseReturnValue:
    """Create a ticket (with attachments); redirect (303) to its page.

    A replayed form (double click, browser retry) is sent to the ticket it created.
    """
    form = TicketForm()
    pages.fill_choices(form, queries.filter_options())
    if request.method == "GET":
        form.form_token.data = formtokens.new_form_token()
    elif form.validate_on_submit() and (files := accept_uploads(form.attachments)) is not None:
        try:
            with unit_of_work():
                done = desk.submit_ticket(ticket_values(form), actor=_actor(), files=files,
                                          form_token=form.form_token.data)  # fmt: skip
        except DomainError as exc:
            form.form_errors.append(str(exc))
        else:
            if not done.replayed:
                flash(f"Created SD-{queries.ticket_number(done.ticket_id)}.", "success")
            return _redirect_to_ticket(done.ticket_id)
    code = 422 if form.is_submitted() else 200
    return render_template("tickets/form.html", form=form, ticket=None, conflict=None), code


def _render_detail(
    ticket: Ticket, comment_form: CommentForm, code: int = 200, following: bool | None = None
) -> ResponseReturnValue:
    context = pages.detail(ticket, comment_form, _options(), user=current_user,
                           following=following)  # fmt: skip
    pages.fill_choices(context["quick"], context["options"], ticket)
    return render_template("tickets/detail.html", **context), code


def _actor() -> Any:
    return current_user._get_current_object()


def _redirect_to_ticket(ticket_id: int, anchor: str | None = None) -> ResponseReturnValue:
    number = queries.ticket_number(ticket_id)
    return redirect(url_for(".detail", number=number, _anchor=anchor), code=303)


def _load(number: int, loader: Any = queries.ticket_for_page, *,
          include_deleted: bool = False) -> Ticket:  # fmt: skip
    # Deleted tickets are in the trash: admins can still open them, agents get 404.
    ticket = loader(number, include_deleted=include_deleted or current_user.is_admin)
    if ticket is None:
        abort(404, f"There is no ticket SD-{number}.")
    return ticket


@bp.get("/<int:number>")
def detail(number: int) -> ResponseReturnValue:
    """Show a ticket, its comments and the forms to reply and change it.

    A ticket merged into another redirects there (its history stays in the audit log).
    """
    # Its own short transaction, committed (see followers.py); it changes no loaded object.
    with unit_of_work(expire=False):
        following = followers.open_ticket(number, current_user.id)
    ticket = _load(number)
    if ticket.merged_into_id is not None:
        into = queries.ticket_number(ticket.merged_into_id)
        flash(f"{ticket.reference} was merged into SD-{into}.", "info")
        return redirect(url_for("tickets.detail", number=into))
    return _render_detail(ticket, CommentForm(), following=following)


@bp.post("/<int:number>/follow")
def follow(number: int) -> ResponseReturnValue:
    """Follow this ticket (``unfollow=1`` stops following it)."""
    ticket = _load(number, queries.ticket_for_edit)
    with unit_of_work():
        if request.form.get("unfollow"):
            followers.unfollow(ticket.id, current_user.id)
        else:
            followers.follow([ticket.id], current_user.id, seen=True)
    return redirect(url_for("tickets.detail", number=number), 303)


@bp.post("/<int:number>/merge")
def merge(number: int) -> ResponseReturnValue:
    """Merge this ticket into the one named in the field ``into`` (``SD-1042`` or ``1042``)."""
    source = _load(number, queries.ticket_for_edit)
    form = MergeForm()
    into = queries.parse_reference(form.into.data or "") if form.validate_on_submit() else None
    if into is None:
        flash("Type the number of the ticket to merge into, e.g. SD-1042.", "error")
        return redirect(url_for("tickets.detail", number=number), 303)
    try:
        with unit_of_work():
            target = merging.merge_ticket(source.id, into_number=into, actor=_actor())
            target_number = target.number
    except merging.MergeRefusedError as exc:
        flash(f"Not merged: {exc}", "error")
        return redirect(url_for("tickets.detail", number=number), 303)
    flash(f"SD-{number} was merged into SD-{target_number}.", "success")
    return redirect(url_for("tickets.detail", number=target_number), 303)


@bp.route("/<int:number>/edit", methods=["GET", "POST"])
def edit(number: int) -> ResponseReturnValue:
    """Edit a ticket; a save over someone else's newer save gets the 409 conflict page."""
    ticket = _load(number, queries.ticket_for_edit)
    options = queries.filter_options()
    if request.method == "GET":
        form = TicketForm(
            formdata=None, requester=conflicts.requester_text(ticket),
            cc=conflicts.cc_text(ticket.ccs), title=ticket.title, description=ticket.description,
            status=ticket.status.value, priority=ticket.priority.value,
            assignee=ticket.assignee_id, tags=[t.id for t in ticket.tags],
            due=ticket.due_at if ticket.due_is_manual else None, version=ticket.version,
            original=conflicts.fingerprints(conflicts.editable_values(ticket)),
        )  # fmt: skip
        pages.fill_choices(form, options, ticket)
        return render_template("tickets/form.html", form=form, ticket=ticket, conflict=None)
    form = TicketForm()
    pages.fill_choices(form, options, ticket)
    if form.validate() and form.version.data is None:
        form.form_errors.append("The form is missing its version; reload the page.")
    if form.errors or form.form_errors:
        return render_template("tickets/form.html", form=form, ticket=ticket, conflict=None), 422
    return _save(ticket, form, ticket_values(form), form.version.data)


@bp.post("/<int:number>/update")
def quick_update(number: int) -> ResponseReturnValue:
    """Change status, priority, assignee and tags from the ticket page's side panel."""
    ticket = _load(number, queries.ticket_for_edit)
    options = queries.filter_options()
    quick = QuickUpdateForm()
    pages.fill_choices(quick, options, ticket)
    if not quick.validate():
        flash(invalid_quick_update(quick), "error")
        return redirect(url_for(".detail", number=number), code=303)
    form = TicketForm(formdata=None, original=quick.original.data)
    pages.fill_choices(form, options, ticket)
    return _save(ticket, form, quick_values(quick, ticket), quick.version.data)


def _save(
    ticket: Ticket, form: TicketForm, values: desk.TicketValues, version: int | None
) -> ResponseReturnValue:
    """Save ``values``; on a version conflict render the merge page (409)."""
    number, reference = ticket.number, ticket.reference
    submitted = pages.as_strings(values, ticket)  # before a rollback expires the ticket
    try:
        with unit_of_work():
            changed = desk.save_edit(ticket, values, actor=_actor(), expected_version=version)
    except (service.StaleTicketError, StaleDataError):
        return _conflict(number, form, submitted)
    except DomainError as exc:
        form.form_errors.append(str(exc))
        pages.prefill(form, submitted)
        return render_template("tickets/form.html", form=form, ticket=ticket, conflict=None), 422
    flash(f"Saved {reference}." if changed else "Nothing to save.", "success")
    return redirect(url_for(".detail", number=number), code=303)


def _conflict(number: int, form: TicketForm, submitted: dict[str, str]) -> ResponseReturnValue:
    ticket = _load(number, queries.ticket_for_edit)  # the version that won
    report = conflicts.explain_conflict(ticket, original=form.original.data, submitted=submitted)
    pages.prefill(form, report.merged)
    form.version.data = ticket.version
    form.original.data = conflicts.fingerprints(conflicts.editable_values(ticket))
    form.version.raw_data = form.original.raw_data = None  # render the new values, not the posted
    pages.fill_choices(form, queries.filter_options(), ticket)
    labels = {c.value: c.label for c in form.assignee.choices}
    tag_labels = {c.value: c.label for c in form.tags.choices}
    return render_template(
        "tickets/form.html", form=form, ticket=ticket, conflict=report, submitted=submitted,
        describe=lambda field, value: pages.describe(field, value, labels, tag_labels),
    ), 409  # fmt: skip


@bp.post("/<int:number>/comments")
def comment(number: int) -> ResponseReturnValue:
    """Add a public reply or internal note, with attachments; redirect (303) to it.

    With a macro chosen, its changes are applied in the same transaction and an empty
    box sends its text. ``insert`` (the no-JavaScript path) only fills the box with the
    macro's text and shows the page again; nothing is saved.
    """
    ticket = _load(number, queries.ticket_for_edit)
    form = CommentForm()
    macro = _chosen_macro(form) if form.validate() else None
    if form.errors:
        return _render_detail(_load(number), form, 422)
    if "insert" in request.form:  # fill the box with the macro's text; save nothing
        ticket = _load(number)
        problem = pages.insert_macro(form, macro, ticket, _actor())
        return _render_detail(ticket, form, 422 if problem else 200)
    if (files := accept_uploads(form.attachments)) is None:
        return _render_detail(_load(number), form, 422)
    reply = desk.ReplyValues(body=form.body.data or "", is_internal=bool(form.is_internal.data),
                             macro=macro, version=form.version.data,
                             then_status=TicketStatus(form.then_status.data)
                             if form.then_status.data else None)  # fmt: skip
    try:
        with unit_of_work():
            done = desk.submit_reply(ticket, reply, actor=_actor(), files=files,
                                     form_token=form.form_token.data)  # fmt: skip
    except (service.StaleTicketError, StaleDataError):
        return _stale_reply(number, form)
    except DomainError as exc:
        form.body.errors = [*form.body.errors, str(exc)]
        return _render_detail(_load(number), form, 422)
    if not done.replayed:
        flash(pages.reply_message(done.comment, macro, done.changed), "success")
    return _redirect_to_ticket(done.ticket_id, f"c{done.comment_id}" if done.comment_id else None)


def _chosen_macro(form: CommentForm) -> Any:
    """Return the macro chosen in the reply box (None: none), or note on the form why not."""
    if form.macro.data in (None, "", "None"):
        return None
    macro = macros.load_for_apply(parse_id(form.macro.data) or 0)
    if macro is None:
        form.macro.errors = [*form.macro.errors, "That macro no longer exists; pick another."]
    return macro


def _stale_reply(number: int, form: CommentForm) -> ResponseReturnValue:
    form.macro.errors = [*form.macro.errors, (
        f"SD-{number} was changed by someone else since you opened it, so the macro was "
        "not applied and nothing was saved. Check the ticket below, then add again."
    )]  # fmt: skip
    ticket = _load(number)
    form.version.data, form.version.raw_data = ticket.version, None
    return _render_detail(ticket, form, 409)


@bp.post("/take-next")
def take_next() -> ResponseReturnValue:
    """Assign me the most urgent, oldest unassigned open ticket and open it.

    The optional form field ``tag`` (a tag id) limits the queue to tickets with that tag.
    """
    form = TakeNextForm()
    if not form.validate_on_submit():
        flash("The queue filter was not understood; nothing was taken.", "error")
        return redirect(url_for("tickets.index"), 303)
    with unit_of_work():
        ticket = queue.take_next(_actor(), tag_id=form.tag.data)
        number = ticket.number if ticket is not None else None
    if number is None:
        flash("No unassigned open ticket is waiting" + (" with that tag." if form.tag.data
              else "."), "info")  # fmt: skip
        return redirect(url_for("tickets.index"), 303)
    flash(f"SD-{number} is yours now.", "success")
    return redirect(url_for("tickets.detail", number=number), 303)


@bp.post("/bulk")
def bulk() -> ResponseReturnValue:
    """Apply one action to the selected tickets, or to every ticket the filters match."""
    filters_form = list_filters(request.form)
    filters_form.tag.choices = choices((o.id, o.label) for o in queries.filter_options().tags)
    filters_form.validate()
    filters = filters_form.filters()
    filters.include_deleted = False
    form = BulkForm(formdata=request.form)
    form.validate()
    loaded_at = form.loaded_time()
    request_ = desk.BulkRequest(
        action=form.action.data or "", value=form.chosen_value(), ids=form.ids.data or [],
        versions={} if form.all_matching else form.versions.data, loaded_at=loaded_at,
        all_matching=filters if form.all_matching else None,
    )  # fmt: skip
    try:
        with unit_of_work():
            result = desk.submit_bulk(request_, actor=_actor())
    except DomainError as exc:
        flash(str(exc), "error")
    else:
        flash(result.summary(), "success" if result.updated else "info")
    return redirect(url_for(".index", **filters_form.query_args()), code=303)


@bp.post("/<int:number>/delete")
def delete(number: int) -> ResponseReturnValue:
    """Move a ticket to the trash."""
    ticket = _load(number, queries.ticket_for_edit)
    with unit_of_work():
        service.delete_ticket(ticket, actor=_actor())
    # The flash's category carries the number: the message shows an Undo button for it.
    flash(f"{ticket.reference} is in the trash.", f"undo:{number}")
    return redirect(url_for(".index"), code=303)


@bp.post("/<int:number>/restore")
def restore(number: int) -> ResponseReturnValue:
    """Take a ticket out of the trash (admins; Undo: its deleter within 30 seconds)."""
    ticket = _load(number, queries.ticket_for_edit, include_deleted=True)
    try:
        with unit_of_work():
            service.restore_ticket(ticket, actor=_actor())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".index"), code=303)
    flash(f"{ticket.reference} restored: it is back out of the trash.", "success")
    return redirect(url_for(".detail", number=number), code=303)


@bp.get("/trash")
@admin_required
def trash() -> ResponseReturnValue:
    """List deleted tickets with who deleted them and when (admins)."""
    secret = current_app.config["SECRET_KEY"]
    try:
        tickets, next_cursor = queries.trash_page(secret, request.args.get("cursor") or None)
    except InvalidCursorError as exc:
        flash(str(exc), "error")
        tickets, next_cursor = queries.trash_page(secret)
    return render_template("tickets/trash.html", tickets=tickets, next_cursor=next_cursor)
