"""Ticket pages: list, detail, create, edit, quick update, comments."""

from __future__ import annotations

import datetime as dt
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

from supportdesk.attachments import service as attachments
from supportdesk.audit import queries as audit_queries
from supportdesk.auth.policy import admin_required
from supportdesk.csvexport import stream_csv
from supportdesk.db import parse_id, unit_of_work, utcnow
from supportdesk.errors import DomainError
from supportdesk.macros import service as macros
from supportdesk.tickets import export, followers, queries, queue, search, service
from supportdesk.tickets import merge as merge_module
from supportdesk.tickets.bulk import BULK_LIMIT, BulkAction, bulk_update
from supportdesk.tickets.forms import (
    CommentForm,
    MergeForm,
    QuickUpdateForm,
    TakeNextForm,
    TicketFilterForm,
    TicketForm,
    choices,
)
from supportdesk.tickets.models import Ticket, TicketPriority, TicketStatus

bp = Blueprint("tickets", __name__, url_prefix="/tickets")

ACTIVE = [TicketStatus.OPEN.value, TicketStatus.IN_PROGRESS.value,
          TicketStatus.WAITING_ON_CUSTOMER.value]  # fmt: skip
BULK_ACTIONS = [
    (BulkAction.STATUS.value, "Set status"),
    (BulkAction.ASSIGN.value, "Assign to"),
    (BulkAction.ADD_TAG.value, "Add tag"),
    (BulkAction.REMOVE_TAG.value, "Remove tag"),
    (BulkAction.DELETE.value, "Delete"),
    ("macro", "Apply macro"),
]
BULK_VALUE = {"status": "status", "assign": "person", "add_tag": "tag", "remove_tag": "tag",
              "macro": "macro"}  # fmt: skip
SAVED_VIEWS: list[tuple[str, dict[str, Any]]] = [
    ("My open tickets", {"assignee": "me", "status": ACTIVE}),
    ("Unassigned", {"assignee": "none", "status": ACTIVE}),
    ("Urgent", {"priority": ["urgent"], "status": ACTIVE}),
    ("Waiting on customer", {"status": [TicketStatus.WAITING_ON_CUSTOMER.value]}),
    ("Following", {"following": "y"}),
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
    filters = _list_filters(form, problems)
    cursor = form.cursor.data or None
    number = queries.parse_reference(filters.q) if filters.q and not cursor else None
    if number is not None:  # "SD-1042" or "1042" in the box: straight to that ticket
        found = queries.ticket_exists(number, include_deleted=filters.include_deleted)
        if found:
            return redirect(url_for("tickets.detail", number=number))
    secret = current_app.config["SECRET_KEY"]
    try:
        page = queries.list_tickets(filters, user_id=current_user.id, secret=secret, cursor=cursor)
    except queries.InvalidCursorError as exc:
        problems.append(str(exc))
        page = queries.list_tickets(filters, user_id=current_user.id, secret=secret)
    typed = filters.search
    if (
        typed is not None
        and typed.usable
        and not page.rows
        and not cursor
        and not search.has_lexemes(typed)
    ):
        problems.append(
            "The search has only very common words (like “the” or “and”), which are "
            "not indexed; add a more specific word."
        )
    return render_template(
        "tickets/index.html",
        form=form,
        page=page,
        problems=problems,
        options=options,
        saved_views=SAVED_VIEWS,
        filter_args=(args := _filter_args(form)),
        filtered=bool(set(args) - {"sort", "dir"}),
        loaded_at=utcnow().isoformat(),
        bulk_actions=BULK_ACTIONS,
        candidates=search.CANDIDATES,
        probe=search.PROBE,
    )


@bp.get("/export.csv")
def export_csv() -> ResponseReturnValue:
    """Stream every ticket the list's filters match as CSV (all pages, constant memory)."""
    form = TicketFilterForm(formdata=request.args)
    form.tag.choices = choices((o.id, o.label) for o in queries.filter_options().tags)
    form.validate()
    if form.errors:  # an export must be exactly what was asked for, never "close enough"
        invalid = "; ".join(
            f"{getattr(form, n).label.text}: {e[0]}" for n, e in form.errors.items()
        )
        abort(400, description=f"The export was not made: {invalid}")
    problems: list[str] = []
    filters = _list_filters(form, problems)
    if problems:
        abort(400, description="The export was not made. " + " ".join(problems))
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    headers = {"Content-Disposition": f'attachment; filename="tickets-{stamp}.csv"'}
    rows = export.rows(filters, user_id=current_user.id)
    return Response(
        stream_with_context(stream_csv(export.COLUMNS, rows)), mimetype="text/csv", headers=headers
    )


def _list_filters(form: TicketFilterForm, problems: list[str]) -> queries.TicketFilters:
    """Return the list's filters; explain in ``problems`` what had to be left out."""
    filters = _filters_from(form)
    if filters.include_deleted and not current_user.is_admin:
        problems.append("Only admins can list deleted tickets; they were left out.")
        filters.include_deleted = False
        form.include_deleted.data = False
    if filters.q and "sort" not in request.args:
        filters.sort = form.sort.data = "relevance"  # a search is ranked unless told otherwise
    if filters.search is not None and not filters.search.usable:
        problems.append(f"Search: {filters.search.problem}")
        filters.q = form.q.data = ""
        del filters.search
    if filters.sort == "relevance" and not filters.q:
        filters.sort = form.sort.data = "created"
    return filters


def _filters_from(form: TicketFilterForm) -> queries.TicketFilters:
    """Keep the valid fields; an invalid one is treated as not given."""
    ok = {name: name not in form.errors for name in form.data}
    filters = queries.TicketFilters(
        q=(form.q.data or "").strip() if ok["q"] else "",
        statuses=[TicketStatus(s) for s in form.status.data or []] if ok["status"] else [],
        priorities=[TicketPriority(p) for p in form.priority.data or []] if ok["priority"] else [],
        assignee=(form.assignee.data or "").strip() if ok["assignee"] else "",
        tag_ids=list(form.tag.data or []) if ok["tag"] else [],
        created_from=form.created_from.data if ok["created_from"] else None,
        created_to=form.created_to.data if ok["created_to"] else None,
        sort=form.sort.data if ok["sort"] and form.sort.data else "created",
        direction=form.dir.data if ok["dir"] and form.dir.data else "desc",
        include_deleted=bool(form.include_deleted.data),
        following=bool(form.following.data),
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
                 "sort", "dir", "include_deleted", "following"):  # fmt: skip
        value = getattr(form, name).data
        if value in (None, "", [], False):
            continue
        if value is True:
            value = "y"
        args[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return args


@bp.route("/new", methods=["GET", "POST"])
def create() -> ResponseReturnValue:
    """Create a ticket (with attachments); redirect (303) to its page.

    A replayed form (double click, browser retry) is sent to the ticket it created.
    """
    options = queries.filter_options()
    form = TicketForm()
    _fill_choices(form, options)
    if request.method == "GET":
        form.form_token.data = service.new_form_token()
    elif form.validate_on_submit():
        pending = _accept_uploads(form.attachments)
        if pending is not None:
            try:
                with unit_of_work():
                    claimed = service.claim_form_token(form.form_token.data, kind="ticket")
                    if claimed is not None and claimed.ticket_id is not None:
                        attachments.discard(pending)
                        return _redirect_to_ticket(claimed.ticket_id)
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
                    attachments.attach_files(
                        pending, ticket_id=ticket.id, uploader=current_user._get_current_object()
                    )
                    service.record_form_result(form.form_token.data, ticket_id=ticket.id)
            except DomainError as exc:
                attachments.discard(pending)
                form.form_errors.append(str(exc))
            else:
                flash(f"Created {ticket.reference}.", "success")
                return redirect(url_for(".detail", number=ticket.number), code=303)
    code = 422 if form.is_submitted() else 200
    return render_template("tickets/form.html", form=form, ticket=None, conflict=None), code


def _accept_uploads(field: Any) -> list[attachments.PendingFile] | None:
    """Check every uploaded file; on a refusal add the error to ``field`` and return None."""
    limit = current_app.config["MAX_ATTACHMENT_MB"] * 1024 * 1024
    pending: list[attachments.PendingFile] = []
    for upload in field.data or []:
        if not getattr(upload, "filename", None):
            continue  # an empty file input
        try:
            pending.append(attachments.accept_upload(upload.filename, upload.stream,
                                                     max_bytes=limit))  # fmt: skip
        except attachments.RejectedFileError as exc:
            attachments.discard(pending)
            field.errors = [*field.errors, f"{exc} Nothing was saved; choose the files again."]
            return None
    return pending


def _redirect_to_ticket(ticket_id: int, anchor: str | None = None) -> ResponseReturnValue:
    number = queries.ticket_number(ticket_id)
    return redirect(url_for(".detail", number=number, _anchor=anchor), code=303)


def _load(number: int, loader: Any = queries.ticket_for_page) -> Ticket:
    # Deleted tickets are in the trash: admins can still open them, agents get 404.
    ticket = loader(number, include_deleted=current_user.is_admin)
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
            target = merge_module.merge_ticket(
                source.id, into_number=into, actor=current_user._get_current_object()
            )
            target_number = target.number
    except merge_module.MergeRefusedError as exc:
        flash(f"Not merged: {exc}", "error")
        return redirect(url_for("tickets.detail", number=number), 303)
    flash(f"SD-{number} was merged into SD-{target_number}.", "success")
    return redirect(url_for("tickets.detail", number=target_number), 303)


def _render_detail(
    ticket: Ticket, comment_form: CommentForm, code: int = 200, following: bool | None = None
) -> Any:
    if not comment_form.form_token.data:
        comment_form.form_token.data = service.new_form_token()
    if comment_form.version.data is None:
        comment_form.version.data = ticket.version
    picker = macros.picker_options(ticket, current_user) if not ticket.is_closed else []
    options = queries.filter_options()
    quick = QuickUpdateForm(
        formdata=None,
        status=ticket.status.value,
        assignee=ticket.assignee_id,
        version=ticket.version,
        original=service.fingerprints(service.editable_values(ticket)),
    )
    _fill_choices(quick, options, ticket)
    people = {o.id: o.label for o in options.staff}
    tags = {o.id: o.label for o in options.tags}
    timeline: list[tuple[str, Any, Any]] = [("comment", c, c.created_at) for c in ticket.comments]
    for entry in audit_queries.ticket_history(ticket.id):
        if entry.log.action != "comment.created":  # the comment itself is in the thread
            text = audit_queries.describe(entry, people, tags)
            timeline.append(("event", (entry, text), entry.log.occurred_at))
    timeline.sort(key=lambda item: (item[2], item[0] == "event"))
    return render_template(
        "tickets/detail.html", ticket=ticket, comment_form=comment_form, quick=quick,
        timeline=timeline, picker=picker,
        following=followers.is_following(ticket.id, current_user.id)
        if following is None else following,
    ), code  # fmt: skip


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
    """Add a public reply or internal note, with attachments; redirect (303) to it.

    With a macro chosen, its changes are applied in the same transaction and an empty
    box sends its text. ``insert`` (the no-JavaScript path) only fills the box with the
    macro's text and shows the page again; nothing is saved.
    """
    ticket = _load(number, queries.ticket_for_edit)
    form = CommentForm()
    macro = None
    if form.validate() and form.macro.data not in (None, "", "None"):
        macro = macros.load_for_apply(parse_id(form.macro.data) or 0)
        if macro is None:
            form.macro.errors = [*form.macro.errors, "That macro no longer exists; pick another."]
    if form.macro.errors or form.errors:
        return _render_detail(_load(number), form, 422)
    actor = current_user._get_current_object()
    if "insert" in request.form:
        return _insert_macro(number, form, macro, actor)
    pending = _accept_uploads(form.attachments)
    if pending is None:
        return _render_detail(_load(number), form, 422)
    try:
        with unit_of_work():
            claimed = service.claim_form_token(form.form_token.data, kind="comment")
            if claimed is not None and claimed.ticket_id is not None:
                attachments.discard(pending)
                anchor = f"c{claimed.comment_id}" if claimed.comment_id else None
                return _redirect_to_ticket(claimed.ticket_id, anchor)
            new, changed = _add_reply(ticket, form, macro, actor)
            if new is not None:
                attachments.attach_files(
                    pending, ticket_id=ticket.id, comment_id=new.id, uploader=actor
                )
            elif pending:
                raise service.InvalidTicketError("Attachments need a reply to go with.")
            service.record_form_result(
                form.form_token.data, ticket_id=ticket.id, comment_id=new.id if new else None
            )
    except (service.StaleTicketError, StaleDataError):
        attachments.discard(pending)
        form.macro.errors = [*form.macro.errors, (
            f"SD-{number} was changed by someone else since you opened it, so the macro was "
            "not applied and nothing was saved. Check the ticket below, then add again."
        )]  # fmt: skip
        ticket = _load(number)
        form.version.data, form.version.raw_data = ticket.version, None
        return _render_detail(ticket, form, 409)
    except DomainError as exc:
        attachments.discard(pending)
        form.body.errors = [*form.body.errors, str(exc)]
        return _render_detail(_load(number), form, 422)
    flash(_reply_message(new, macro, changed), "success")
    anchor = f"c{new.id}" if new is not None else None
    return redirect(url_for(".detail", number=number, _anchor=anchor), code=303)


def _add_reply(ticket: Ticket, form: CommentForm, macro: Any, actor: Any) -> tuple[Any, set[str]]:
    if macro is None:
        new = service.add_comment(ticket, author=actor, body=form.body.data or "",
                                  is_internal=bool(form.is_internal.data))  # fmt: skip
        return new, set()
    applied = macros.apply_macro(
        ticket, macro, actor=actor, body=(form.body.data or "").strip() or None,
        is_internal=bool(form.is_internal.data), expected_version=form.version.data,
    )  # fmt: skip
    return applied.comment, applied.changed


def _reply_message(new: Any, macro: Any, changed: set[str]) -> str:
    parts = []
    if new is not None:
        parts.append("internal note added" if new.is_internal else "reply added")
    if changed:
        parts.append(f"changed {', '.join(sorted(changed))}")
    if macro is None:
        return parts[0].capitalize() + "."
    return f"Applied “{macro.name}”: " + ("; ".join(parts) or "nothing needed changing") + "."


def _insert_macro(number: int, form: CommentForm, macro: Any, actor: Any) -> ResponseReturnValue:
    """Fill the reply box with the macro's text (kept after what was typed); save nothing."""
    ticket = _load(number)
    if macro is None:
        form.macro.errors = [*form.macro.errors, "Choose a macro to insert."]
        return _render_detail(ticket, form, 422)
    try:
        text = macros.render_body(macro, ticket, actor)
    except DomainError as exc:
        form.macro.errors = [*form.macro.errors, str(exc)]
        return _render_detail(ticket, form, 422)
    typed = (form.body.data or "").rstrip()
    form.body.data = f"{typed}\n\n{text}" if typed and text else (typed or text)
    form.is_internal.data = bool(form.is_internal.data or macro.is_internal)
    if form.version.data is None:
        form.version.data = ticket.version
    return _render_detail(ticket, form)


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
        ticket = queue.take_next(current_user._get_current_object(), tag_id=form.tag.data)
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
    form = TicketFilterForm(formdata=request.form, meta={"csrf": False})
    form.tag.choices = choices((o.id, o.label) for o in queries.filter_options().tags)
    form.validate()
    filters = _filters_from(form)
    filters.include_deleted = False
    back = url_for(".index", **_filter_args(form))
    try:
        loaded_at = dt.datetime.fromisoformat(request.form.get("loaded_at", ""))
        if loaded_at.tzinfo is None:
            raise ValueError
    except ValueError:
        loaded_at = None
    if request.form.get("select_all_matching") == "1":
        ids = queries.matching_ids(filters, user_id=current_user.id, limit=BULK_LIMIT + 1)
        versions: dict[int, int] = {}
        if loaded_at is None:
            flash("The list was too old to act on; reload it and try again.", "error")
            return redirect(back, code=303)
    else:
        ids = [int(v) for v in request.form.getlist("ids") if _is_id(v)]
        versions = {i: int(v) for i in ids if _is_id(v := request.form.get(f"v{i}", ""))}
    action = request.form.get("action", "")
    # The list sends one select per kind of value (a tag id must never be read as a
    # person's id); scripts may send a plain "value".
    value = request.form.get("value") or request.form.get(f"value_{BULK_VALUE.get(action)}", "")
    actor = current_user._get_current_object()
    try:
        with unit_of_work():
            if action == "macro":
                macro = macros.load_for_apply(parse_id(value) or 0)
                if macro is None:
                    raise macros.InvalidMacroError("Choose an existing macro.")
                result = macros.apply_bulk(
                    ids, macro, actor=actor, versions=versions, loaded_at=loaded_at
                )
            else:
                result = bulk_update(ids, action=action, value=value, actor=actor,
                                     versions=versions, loaded_at=loaded_at)  # fmt: skip
    except DomainError as exc:
        flash(str(exc), "error")
    else:
        flash(result.summary(), "success" if result.updated else "info")
    return redirect(back, code=303)


def _is_id(text: str) -> bool:
    return parse_id(text) is not None


@bp.post("/<int:number>/delete")
def delete(number: int) -> ResponseReturnValue:
    """Move a ticket to the trash."""
    ticket = _load(number, queries.ticket_for_edit)
    with unit_of_work():
        service.delete_ticket(ticket, actor=current_user._get_current_object())
    flash(f"{ticket.reference} moved to the trash. An admin can restore it.", "success")
    return redirect(url_for(".index"), code=303)


@bp.post("/<int:number>/restore")
@admin_required
def restore(number: int) -> ResponseReturnValue:
    """Take a ticket out of the trash (admins)."""
    ticket = _load(number, queries.ticket_for_edit)
    with unit_of_work():
        service.restore_ticket(ticket, actor=current_user._get_current_object())
    flash(f"{ticket.reference} restored.", "success")
    return redirect(url_for(".detail", number=number), code=303)


@bp.get("/trash")
@admin_required
def trash() -> ResponseReturnValue:
    """List deleted tickets with who deleted them and when (admins)."""
    before = None
    raw = request.args.get("before", "")
    if raw:
        try:
            stamp, _, ident = raw.rpartition("_")
            before = (dt.datetime.fromisoformat(stamp), int(ident))
            if before[0].tzinfo is None:
                raise ValueError
        except ValueError:
            flash("The page link was damaged; showing the first page.", "error")
            before = None
    tickets = queries.trash_page(before)
    more = len(tickets) > queries.TRASH_PAGE
    tickets = tickets[: queries.TRASH_PAGE]
    next_before = None
    if more and tickets:
        next_before = f"{tickets[-1].deleted_at.isoformat()}_{tickets[-1].id}"
    return render_template("tickets/trash.html", tickets=tickets, next_before=next_before)
