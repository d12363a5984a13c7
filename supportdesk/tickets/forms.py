"""Ticket, comment and filter forms (choices are filled in by the views)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from supportdesk.db import parse_id
from supportdesk.fields import DayField, LocalDateTimeField
from supportdesk.tickets.models import TicketPriority, TicketStatus
from supportdesk.tickets.queries import TicketFilters


def choices(pairs: Iterable[tuple[Any, str]]) -> list[SelectChoice]:
    """Return WTForms choices for ``(value, label)`` pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


STATUS_CHOICES = choices((s.value, s.label) for s in TicketStatus)
PRIORITY_CHOICES = choices((p.value, p.label) for p in reversed(TicketPriority))
SORT_CHOICES = choices(
    [
        ("created", "Created"),
        ("updated", "Updated"),
        ("priority", "Priority"),
        ("number", "Number"),
        ("due", "Due (SLA)"),
        ("relevance", "Relevance (with a search)"),
    ]  # fmt: skip
)


def optional_int(value: Any) -> int | None:
    """Coerce a select's value to an id, or None for the empty choice."""
    if value in (None, "", "None"):
        return None
    return int(value)


ID_MAX = 2**31 - 1

DUE_HINT = "In your time zone. Empty: the priority's SLA sets it; a time set here stays."

MARKDOWN_HINT = "Markdown: **bold**, _italic_, `code`, lists, > quotes, [links](https://…)."


class TicketForm(FlaskForm):
    """Create or edit a ticket."""

    requester = StringField(
        "Requester",
        description="Their email, or Name <email>; a new address makes a new customer.",
        validators=[Optional(), Length(max=400)],
    )
    cc = StringField(
        "CC",
        description="More people to copy on replies: addresses separated by commas.",
        validators=[Optional(), Length(max=6000)],
    )
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(
        "Description",
        description=MARKDOWN_HINT,
        validators=[DataRequired(), Length(max=100_000)],
    )
    status = SelectField("Status", choices=STATUS_CHOICES, default=TicketStatus.OPEN.value)
    priority = SelectField("Priority", choices=PRIORITY_CHOICES, default="medium")
    assignee = SelectField("Assignee", coerce=optional_int, validate_choice=True)
    tags = SelectMultipleField("Tags", coerce=int)
    due = LocalDateTimeField("Due", validators=[Optional()], description=DUE_HINT)
    new_tags = StringField(
        "New tags",
        description="Comma-separated; created if they do not exist (admins only).",
        validators=[Optional(), Length(max=300)],
    )
    version = IntegerField(widget=HiddenInput(), validators=[Optional()])
    original = HiddenField()
    attachments = MultipleFileField("Attachments")
    form_token = HiddenField()


class QuickUpdateForm(FlaskForm):
    """The ticket page's side panel: status, priority, assignee, tags and due, saved together.

    ``priority``, ``tags`` and ``due`` may be missing (an older page, a script): they then
    stay as they are; ``tags_shown`` says that the tag select was on the page (an empty
    multi-select sends nothing at all).
    """

    status = SelectField("Status", choices=STATUS_CHOICES)
    priority = SelectField("Priority", choices=PRIORITY_CHOICES, validators=[Optional()])
    assignee = SelectField("Assignee", coerce=optional_int, validate_choice=True)
    tags = SelectMultipleField("Tags", coerce=int)
    tags_shown = HiddenField()
    due = LocalDateTimeField("Due", validators=[Optional()], description=DUE_HINT)
    version = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    original = HiddenField()


class CommentForm(FlaskForm):
    """A public reply or an internal note."""

    # Optional here: with a macro chosen an empty box sends the macro's own text; without
    # one the service refuses an empty reply with its own message.
    body = TextAreaField(
        "Reply", description=MARKDOWN_HINT, validators=[Optional(), Length(max=100_000)]
    )
    is_internal = BooleanField("Internal note (staff only)")
    attachments = MultipleFileField("Attachments")
    form_token = HiddenField()
    macro = SelectField("Macro or canned reply", validate_choice=False)
    version = IntegerField(widget=HiddenInput(), validators=[Optional()])
    # "Send and set status": the split button's value (a submit button, not a field shown).
    then_status = StringField(
        validators=[
            Optional(),
            AnyOf(
                [TicketStatus.WAITING_ON_CUSTOMER.value, TicketStatus.RESOLVED.value],
                message="Choose Waiting on customer or Resolved.",
            ),
        ]
    )

    def validate_macro(self, field: SelectField) -> None:
        """Refuse a malformed id (a deleted macro is explained by the view)."""
        if field.data not in (None, "", "None") and parse_id(field.data) is None:
            raise ValidationError("Choose a macro from the list.")


_ASSIGNEE = re.compile(r"me|none|\d{1,9}")


def _assignee_filter(form: FlaskForm, field: StringField) -> None:
    if field.data and not _ASSIGNEE.fullmatch(field.data):
        raise ValidationError("Choose a person, “me” or “none”.")


class TicketFilterForm(FlaskForm):
    """The list's query-string filters. Invalid fields are reported and ignored."""

    class Meta:
        csrf = False  # a GET form: filters are bookmarkable URLs

    q = StringField("Search", validators=[Optional(), Length(max=200)])
    status = SelectMultipleField("Status", choices=STATUS_CHOICES)
    priority = SelectMultipleField("Priority", choices=PRIORITY_CHOICES)
    assignee = StringField("Assignee", validators=[Optional(), _assignee_filter])
    tag = SelectMultipleField("Tags", coerce=int)
    created_from = DayField("Created from", validators=[Optional()])
    created_to = DayField("Created to", validators=[Optional()])
    sort = SelectField("Sort by", choices=SORT_CHOICES, default="created")
    dir = SelectField(
        "Order", choices=choices([("desc", "Descending"), ("asc", "Ascending")]), default="desc"
    )
    cursor = HiddenField()
    include_deleted = BooleanField("Include deleted (admins)")
    following = BooleanField("Only tickets I follow")
    overdue = BooleanField("Only overdue")
    requester = IntegerField(
        "Requester", widget=HiddenInput(), validators=[Optional(), NumberRange(min=1, max=ID_MAX)]
    )

    ARGS = ("q", "status", "priority", "assignee", "tag", "created_from", "created_to",
            "sort", "dir", "include_deleted", "following", "requester", "overdue")  # fmt: skip

    def filters(self) -> TicketFilters:
        """Return the valid filters; an invalid field is treated (and shown) as not given."""
        value = {name: self[name].data for name in self.ARGS if name not in self.errors}
        for name in self.errors:  # show invalid fields as unfiltered
            self[name].data = self[name].default
        return TicketFilters(
            q=(value.get("q") or "").strip(),
            statuses=[TicketStatus(s) for s in value.get("status") or []],
            priorities=[TicketPriority(p) for p in value.get("priority") or []],
            assignee=(value.get("assignee") or "").strip(),
            tag_ids=list(value.get("tag") or []),
            created_from=value.get("created_from"),
            created_to=value.get("created_to"),
            sort=value.get("sort") or "created",
            direction=value.get("dir") or "desc",
            include_deleted=bool(value.get("include_deleted")),
            following=bool(value.get("following")),
            requester_id=value.get("requester"),
            overdue=bool(value.get("overdue")),
        )

    def query_args(self) -> dict[str, Any]:
        """Return the current filters as query arguments (for paging and bulk links)."""
        args: dict[str, Any] = {}
        for name in self.ARGS:
            value = self[name].data
            if value in (None, "", [], False):
                continue
            if value is True:
                value = "y"
            args[name] = value.isoformat() if hasattr(value, "isoformat") else value
        return args


class TakeNextForm(FlaskForm):
    """The "Take next" button; ``tag`` optionally limits the queue to one tag."""

    tag = IntegerField(validators=[Optional(), NumberRange(min=1, max=2**31 - 1)])


class MergeForm(FlaskForm):
    """Merge this ticket into another: ``into`` is its number (``SD-1042`` or ``1042``)."""

    into = StringField("Merge into", validators=[DataRequired(), Length(max=20)])
