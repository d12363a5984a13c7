"""What the workspace's pages show: list, ticket thread and conflict text (read-only).

The views call these to build a page's context; nothing here writes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from supportdesk.audit import queries as audit_queries
from supportdesk.desk.service import TicketValues
from supportdesk.errors import DomainError
from supportdesk.macros import service as macros
from supportdesk.mail import service as mail
from supportdesk.paging import InvalidCursorError
from supportdesk.rendering import local_time
from supportdesk.tickets import conflicts, followers, formtokens, queries, search
from supportdesk.tickets.forms import (
    CommentForm,
    QuickUpdateForm,
    TicketFilterForm,
    TicketForm,
    choices,
)
from supportdesk.tickets.models import Ticket, TicketPriority, TicketStatus
from supportdesk.tickets.rules import UNSET


@dataclass
class Listing:
    """The list page: a page of rows, or a ticket number to go to instead."""

    page: queries.TicketPage | None = None
    problems: list[str] = field(default_factory=list)
    go_to: int | None = None


def ticket_list(form: TicketFilterForm, *, user: Any, secret: str, sort_given: bool,
                tags: list[queries.Option]) -> Listing:  # fmt: skip
    """Return the list for the (validated) filter form; problems say what was ignored."""
    problems = [
        f"{form[name].label.text}: {errors[0]} The filter was ignored."
        for name, errors in form.errors.items()
    ]
    filters = list_filters(form, problems, user=user, sort_given=sort_given)
    cursor = form.cursor.data or None
    number = queries.parse_reference(filters.q) if filters.q and not cursor else None
    if number is not None and queries.ticket_exists(
        number, include_deleted=filters.include_deleted
    ):
        return Listing(go_to=number)
    try:
        page = queries.list_tickets(filters, user_id=user.id, secret=secret, tags=tags,
                                    cursor=cursor)  # fmt: skip
    except InvalidCursorError as exc:
        problems.append(str(exc))
        page = queries.list_tickets(filters, user_id=user.id, secret=secret, tags=tags)
    if not cursor and search.only_stop_words(filters.search, found=bool(page.rows)):
        problems.append(search.STOP_WORDS_ONLY)
    return Listing(page=page, problems=problems)


def list_filters(
    form: TicketFilterForm, problems: list[str], *, user: Any, sort_given: bool
) -> queries.TicketFilters:
    """Return the list's filters; explain in ``problems`` what had to be left out."""
    filters = form.filters()
    if filters.include_deleted and not user.is_admin:
        problems.append("Only admins can list deleted tickets; they were left out.")
        filters.include_deleted = False
        form.include_deleted.data = False
    if filters.q and not sort_given:
        filters.sort = form.sort.data = "relevance"  # a search is ranked unless told otherwise
    if filters.search is not None and not filters.search.usable:
        problems.append(f"Search: {filters.search.problem}")
        filters.q = form.q.data = ""
        del filters.search
    if filters.sort == "relevance" and not filters.q:
        filters.sort = form.sort.data = "created"
    return filters


def staff_choices(options: queries.FilterOptions, ticket: Ticket | None) -> list[Any]:
    """Return the assignee select's choices (an inactive current assignee stays)."""
    pairs: list[tuple[Any, str]] = [("", "Unassigned")]
    pairs += [(o.id, o.label) for o in options.staff]
    # Keep a deactivated assignee selectable on their ticket so the form still validates.
    if ticket is not None and ticket.assignee is not None and not ticket.assignee.is_active:
        pairs.append((ticket.assignee.id, f"{ticket.assignee.full_name} (inactive)"))
    return choices(pairs)


def fill_choices(form: TicketForm | QuickUpdateForm, options: queries.FilterOptions,
                 ticket: Ticket | None = None) -> None:  # fmt: skip
    """Fill the assignee (and tag) choices of a ticket form."""
    form.assignee.choices = staff_choices(options, ticket)
    form.tags.choices = choices((o.id, o.label) for o in options.tags)


def detail(
    ticket: Ticket, comment_form: CommentForm, options: queries.FilterOptions, *, user: Any,
    following: bool | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Return the ticket page's context: the thread with its history, forms, macros."""
    if not comment_form.form_token.data:
        comment_form.form_token.data = formtokens.new_form_token()
    if comment_form.version.data is None:
        comment_form.version.data = ticket.version
    # The option lists name every macro: with none (or a closed ticket) the picker's own
    # statement is not needed.
    picker = macros.picker_options(ticket, user) if options.macros and not ticket.is_closed else []
    quick = QuickUpdateForm(
        formdata=None,
        status=ticket.status.value,
        priority=ticket.priority.value,
        tags=[t.id for t in ticket.tags],
        tags_shown="1",
        due=ticket.due_at if ticket.due_is_manual else None,
        assignee=ticket.assignee_id,
        version=ticket.version,
        original=conflicts.fingerprints(conflicts.editable_values(ticket)),
    )
    people = {o.id: o.label for o in options.staff}
    tags = {o.id: o.label for o in options.tags}
    timeline: list[tuple[str, Any, Any]] = [("comment", c, c.created_at) for c in ticket.comments]
    for entry in audit_queries.ticket_history(ticket.id):
        if entry.log.action != "comment.created":  # the comment itself is in the thread
            text = audit_queries.describe(entry, people, tags)
            timeline.append(("event", (entry, text), entry.log.occurred_at))
    timeline.sort(key=lambda item: (item[2], item[0] == "event"))
    if following is None:
        following = followers.is_following(ticket.id, user.id)
    return {"ticket": ticket, "comment_form": comment_form, "quick": quick,
            "requester_tickets": queries.requester_tickets(ticket),
            "deliveries": mail.deliveries_by_comment(ticket.id),
            "timeline": timeline, "picker": picker, "following": following,
            "options": options}  # fmt: skip


def describe(field: str, value: str, labels: dict[Any, str], tag_labels: dict[Any, str]) -> str:
    """Return how the conflict page shows a field's value."""
    if field in ("requester", "cc"):
        return value or "nobody"
    if field == "assignee":
        return labels.get(int(value), "someone") if value else "Unassigned"
    if field == "tags":
        return ", ".join(tag_labels.get(int(i), "?") for i in value.split(",") if i) or "no tags"
    if field == "status":
        return TicketStatus(value).label
    if field == "priority":
        return TicketPriority(value).label
    if field == "due":
        due = conflicts.due_of(value)
        return local_time(due) if due is not None else "set by the SLA"
    return value if len(value) <= 120 else value[:117] + "…"


def reply_message(new: Any, macro: Any, changed: set[str]) -> str:
    """Return the flash message after a reply (and a macro)."""
    parts = []
    if new is not None:
        parts.append("internal note added" if new.is_internal else "reply added")
    if changed:
        parts.append(f"changed {', '.join(sorted(changed))}")
    if macro is None:
        return "; ".join(parts).capitalize() + "."
    return f"Applied “{macro.name}”: " + ("; ".join(parts) or "nothing needed changing") + "."


def insert_macro(form: CommentForm, macro: Any, ticket: Ticket, actor: Any) -> str | None:
    """Put the macro's text in the reply box after what was typed; return a problem or None."""
    if macro is None:
        problem: str | None = "Choose a macro to insert."
    else:
        try:
            text = macros.render_body(macro, ticket, actor)
        except DomainError as exc:
            problem = str(exc)
        else:
            problem = None
            typed = (form.body.data or "").rstrip()
            form.body.data = f"{typed}\n\n{text}" if typed and text else (typed or text)
            form.is_internal.data = bool(form.is_internal.data or macro.is_internal)
    if problem is not None:
        form.macro.errors = [*form.macro.errors, problem]
    if form.version.data is None:
        form.version.data = ticket.version
    return problem


def as_strings(values: TicketValues, ticket: Ticket) -> dict[str, str]:
    """Return the form's values as the conflict page compares them.

    A field the form did not carry counts as the ticket's current value.
    """
    requester = values.requester
    if requester is None:
        requester = conflicts.requester_text(ticket)
    cc = values.cc if values.cc is not None else conflicts.cc_text(ticket.ccs)
    if values.due is UNSET:
        due = conflicts.editable_values(ticket, fields=["due"])["due"]
    else:
        due = conflicts.due_text(values.due)
    return conflicts.as_strings(
        requester=requester, cc=cc,
        title=values.title, description=values.description, status=values.status.value,
        priority=values.priority.value, assignee_id=values.assignee_id, tag_ids=values.tag_ids,
        due=due,
    )  # fmt: skip


def prefill(form: TicketForm, values: dict[str, str]) -> None:
    """Put comparable string values back into the edit form."""
    form.requester.data = values["requester"]
    form.cc.data = values["cc"]
    form.title.data = values["title"]
    form.description.data = values["description"]
    form.status.data = values["status"]
    form.priority.data = values["priority"]
    form.assignee.data = int(values["assignee"]) if values["assignee"] else None
    form.tags.data = [int(i) for i in values["tags"].split(",") if i]
    form.due.data = conflicts.due_of(values["due"])


ACTIVE = [TicketStatus.OPEN.value, TicketStatus.IN_PROGRESS.value,
          TicketStatus.WAITING_ON_CUSTOMER.value]  # fmt: skip
# The sidebar's saved views: a label and the list's query arguments (bookmarkable).
SAVED_VIEWS: list[tuple[str, dict[str, Any]]] = [
    ("All open", {"status": ACTIVE}),
    ("Mine", {"assignee": "me", "status": ACTIVE}),
    ("Unassigned", {"assignee": "none", "status": ACTIVE}),
    ("Urgent", {"priority": ["urgent"], "status": ACTIVE}),
    ("Waiting on customer", {"status": [TicketStatus.WAITING_ON_CUSTOMER.value]}),
    ("Following", {"following": "y"}),
    ("Overdue", {"overdue": "y"}),
]


@dataclass(frozen=True)
class SidebarView:
    """One saved view as the sidebar shows it."""

    label: str
    args: dict[str, Any]
    count: str  # "12", "1,000+"
    current: bool


def _plain(args: dict[str, Any]) -> dict[str, list[str]]:
    """Return the filter part of query arguments, comparable (sort, order, page left out)."""
    return {k: sorted(v) if isinstance(v, list) else [str(v)] for k, v in args.items()
            if k not in ("sort", "dir", "cursor") and v not in (None, "", [], False)}  # fmt: skip


@functools.cache
def _view_filters() -> tuple[queries.TicketFilters, ...]:
    """Return the saved views' filters, parsed once per process by the list's own form.

    ("me" stays "me": the user is named when counting.) Parsing seven forms per page cost
    1.7 ms, more than counting.
    """
    return tuple(TicketFilterForm(formdata=MultiDict(args), meta={"csrf": False}).filters()
                 for _, args in SAVED_VIEWS)  # fmt: skip


def sidebar(user: Any, current_args: dict[str, Any]) -> tuple[list[SidebarView], str | None]:
    """Return the saved views with their live counts, and the trash's count (admins).

    One statement for every count (capped like the list's), once per request.
    """
    counts = queries.view_counts(_view_filters(), user_id=user.id, trash=user.is_admin)
    here = _plain(current_args)
    views = [SidebarView(label, args, queries.count_label(count), _plain(args) == here)
             for (label, args), count in zip(SAVED_VIEWS, counts, strict=False)]  # fmt: skip
    trash = queries.count_label(counts[-1]) if user.is_admin else None
    return views, trash


_CHIP_NAMES = {"q": "Search", "status": "Status", "priority": "Priority", "tag": "Tag",
               "assignee": "Assignee", "created_from": "From", "created_to": "To",
               "requester": "Requester", "following": "Following", "overdue": "Overdue",
               "include_deleted": "With deleted"}  # fmt: skip


def _chip_values(tags: dict[int, str], staff: dict[str, str]) -> dict[str, Callable[[Any], str]]:
    return {
        "status": lambda v: str(v).replace("_", " "),
        "priority": str,
        "tag": lambda v: tags.get(int(v), f"#{v}"),
        "assignee": lambda v: staff.get(str(v), f"#{v}"),
        "q": lambda v: f"“{v}”",
    }


def filter_chips(args: dict[str, Any], options: queries.FilterOptions, *, index_url: str
                 ) -> list[tuple[str, str]]:  # fmt: skip
    """Return (label, link without it) for each active filter value, to remove one by one."""
    staff = {str(o.id): o.label for o in options.staff} | {"me": "me", "none": "nobody"}
    tags = {o.id: o.label for o in options.tags}
    values = _chip_values(tags, staff)
    chips = []
    for name, value in args.items():
        if name not in _CHIP_NAMES:
            continue
        for one in value if isinstance(value, list) else [value]:
            rest = {k: ([x for x in v if x != one] if k == name and isinstance(v, list) else v)
                    for k, v in args.items() if k != name or isinstance(v, list)}  # fmt: skip
            rest = {k: v for k, v in rest.items() if v not in ([], None, "") and k != "cursor"}
            shown = values.get(name)  # fmt: skip
            label = _CHIP_NAMES[name] + (f": {shown(one)}" if shown else (
                "" if one in (True, "y") else f": {one}"))  # fmt: skip
            chips.append((label, index_url + ("?" + urlencode(rest, doseq=True) if rest else "")))
    return chips
