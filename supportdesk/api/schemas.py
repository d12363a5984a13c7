"""What the API reads and writes, as marshmallow schemas (the OpenAPI document's source).

flask-smorest validates every request against these (422 with a field map) and documents
them; nothing here is written twice in a hand-kept OpenAPI file.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from supportdesk.tickets.models import TicketPriority, TicketStatus
from supportdesk.users.models import TokenScope

ID_MAX = 2**31 - 1
STATUSES = [s.value for s in TicketStatus]
PRIORITIES = [p.value for p in TicketPriority]
SORTS = ["created", "updated", "priority", "number", "due", "relevance"]
MAX_TEXT = 100_000


def _storable(text: str) -> None:
    """Refuse what no database column can hold: NUL, and lone UTF-16 surrogates."""
    if "\x00" in text:
        raise ValidationError("Text cannot contain a NUL character.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValidationError("Text must be valid Unicode (no lone surrogates).") from error


def Text(*, max_length: int, min_length: int = 0, **kwargs: Any) -> fields.String:  # noqa: N802
    """Return a string field of bounded length that the database can store."""
    return fields.String(
        validate=[validate.Length(min=min_length, max=max_length), _storable], **kwargs
    )


def Id(*, strict: bool = True, **kwargs: Any) -> fields.Integer:  # noqa: N802
    """Return a row id field: 1 to 2**31 - 1 (a larger one cannot exist).

    ``strict``: a JSON number only (bodies); False for query strings, which are text.
    """
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=ID_MAX), **kwargs)


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    request_id = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()),
        metadata={"description": "Field name -> what is wrong with it (validation errors)."},
    )  # fmt: skip


# --- reading -------------------------------------------------------------------------


class PersonSchema(Schema):
    """A staff member as a ticket names them."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)


class CustomerRefSchema(Schema):
    """A customer as a ticket names them."""

    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)


class TagRefSchema(Schema):
    """A tag on a ticket."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)


class TicketSummarySchema(Schema):
    """A ticket as the list shows it."""

    number = fields.Integer(required=True)
    reference = fields.String(required=True, metadata={"example": "SD-1042"})
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    assignee = fields.Nested(PersonSchema, required=True, allow_none=True)
    requester = fields.Nested(CustomerRefSchema, required=True, allow_none=True)
    tags = fields.List(fields.Nested(TagRefSchema), required=True)
    comment_count = fields.Integer(required=True)
    due_at = fields.DateTime(required=True, allow_none=True)
    updated_at = fields.DateTime(required=True)
    overdue = fields.Boolean(required=True)
    deleted = fields.Boolean(required=True)
    version = fields.Integer(required=True)


class TicketSchema(TicketSummarySchema):
    """A ticket in full."""

    due_is_manual = fields.Boolean(required=True, metadata={
        "description": "Whether `due_at` was set by hand (a priority change keeps it) or "
                       "follows the priority's SLA."})  # fmt: skip
    description = fields.String(required=True)
    ccs = fields.List(fields.Nested(CustomerRefSchema), required=True)
    created_at = fields.DateTime(required=True)
    resolved_at = fields.DateTime(required=True, allow_none=True)
    first_reply_at = fields.DateTime(required=True, allow_none=True)


class CommentSchema(Schema):
    """A public reply or an internal note."""

    id = fields.Integer(required=True)
    body = fields.String(required=True)
    internal = fields.Boolean(required=True)
    author = fields.Nested(PersonSchema, required=True, allow_none=True)
    customer = fields.Nested(CustomerRefSchema, required=True, allow_none=True)
    created_at = fields.DateTime(required=True)


class TagSchema(Schema):
    """A tag of the desk."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    colour = fields.String(required=True)
    description = fields.String(required=True)


class UserSchema(Schema):
    """A staff member."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(["agent", "admin"]))
    active = fields.Boolean(required=True)


class CustomerSchema(Schema):
    """A customer (a ticket's requester or CC)."""

    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    organisation = fields.String(required=True)
    blocked = fields.Boolean(required=True)


class AuditEntrySchema(Schema):
    """One row of the audit trail."""

    id = fields.Integer(required=True)
    occurred_at = fields.DateTime(required=True)
    actor_id = fields.Integer(required=True, allow_none=True)
    actor = fields.String(required=True)
    channel = fields.String(required=True, metadata={"example": "api"})
    action = fields.String(required=True, metadata={"example": "ticket.updated"})
    entity_type = fields.String(required=True)
    entity_id = fields.Integer(required=True, allow_none=True)
    ticket_id = fields.Integer(required=True, allow_none=True)
    changes = fields.Dict(required=True)
    request_id = fields.String(required=True, allow_none=True)


class MeSchema(Schema):
    """The token in use and its owner."""

    user = fields.Nested(UserSchema, required=True)
    token_name = fields.String(required=True)
    scope = fields.String(required=True, validate=validate.OneOf([s.value for s in TokenScope]))
    expires_at = fields.DateTime(required=True, allow_none=True)


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """Return the schema of a page of ``item``: ``items`` and the ``next`` cursor."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "next_cursor": fields.String(required=True, allow_none=True),
        },
        name=name,
    )


TicketPageSchema = page_of(TicketSummarySchema, "TicketPage")
CommentPageSchema = page_of(CommentSchema, "CommentPage")
CustomerPageSchema = page_of(CustomerSchema, "CustomerPage")
AuditPageSchema = page_of(AuditEntrySchema, "AuditPage")


class ReportSchema(Schema):
    """The reports page's figures for a range (the same computation, as JSON)."""

    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)
    computed_at = fields.DateTime(required=True)
    figures = fields.Dict(required=True)


# --- arguments -----------------------------------------------------------------------


class PageArgs(Schema):
    """Keyset paging: an opaque cursor from the previous page, and a page size."""

    cursor = Text(max_length=1000, load_default=None)
    limit = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class TicketListArgs(PageArgs):
    """The web list's filters, by the same names."""

    q = Text(max_length=200, load_default="")
    status = fields.List(fields.String(validate=validate.OneOf(STATUSES)), load_default=list)
    priority = fields.List(fields.String(validate=validate.OneOf(PRIORITIES)),
                           load_default=list)  # fmt: skip
    assignee = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^(me|none|[1-9][0-9]{0,8})$",
                                 error="Choose a user id, “me” or “none”."),
    )  # fmt: skip
    tag = fields.List(Id(strict=False), load_default=list)
    created_from = fields.Date(load_default=None)
    created_to = fields.Date(load_default=None)
    sort = fields.String(load_default=None, validate=validate.OneOf(SORTS))
    dir = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))
    include_deleted = fields.Boolean(load_default=False)
    following = fields.Boolean(load_default=False)
    requester = Id(strict=False, load_default=None)


class CustomerListArgs(PageArgs):
    """Customers: an optional name or address fragment."""

    q = Text(max_length=200, load_default="")


class AuditListArgs(PageArgs):
    """The audit trail's filters."""

    action = Text(max_length=64, load_default="")
    entity_type = Text(max_length=64, load_default="")
    entity_id = Id(strict=False, load_default=None)
    ticket = Id(strict=False, load_default=None, metadata={"description": "A ticket's number."})
    actor_id = Id(strict=False, load_default=None)
    since = fields.Date(load_default=None)
    until = fields.Date(load_default=None)


class ReportArgs(Schema):
    """The reports page's range and filters."""

    date_from = fields.Date(load_default=None)
    date_to = fields.Date(load_default=None)
    tag = Id(strict=False, load_default=None)
    assignee = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^(none|[1-9][0-9]{0,8})$", error="A user id or “none”."),
    )


# --- writing -------------------------------------------------------------------------

_ADDRESS = {
    "description": "An email address, optionally with a name: `Ana <ana@example.org>`.",
    "example": "Ana Lima <ana@example.org>",
}


def DueAt(**kwargs: Any) -> fields.AwareDateTime:  # noqa: N802
    """Return the field of a due time set by hand (ISO 8601 with an offset; null: the SLA)."""
    return fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "A due time set by hand (ISO 8601 with an offset, in the "
                  "future, at most five years ahead; kept to the minute), or null: the "
                  "priority's SLA sets it.", "example": "2026-12-24T09:00:00+01:00"},
        **kwargs,
    )  # fmt: skip


class TicketCreateSchema(Schema):
    """A new ticket. The requester (and CCs) become customers when new."""

    title = Text(
        required=True,
        min_length=1,
        max_length=200,
        metadata={"example": "The VPN drops every hour"},
    )
    description = Text(
        required=True,
        min_length=1,
        max_length=MAX_TEXT,
        metadata={"example": "Since this morning, for everyone on floor 3."},
    )
    requester = Text(required=True, min_length=3, max_length=320, metadata=_ADDRESS)
    cc = fields.List(Text(max_length=320, metadata=_ADDRESS), load_default=list,
                     validate=validate.Length(max=50))  # fmt: skip
    status = fields.String(load_default="open", validate=validate.OneOf(STATUSES))
    priority = fields.String(load_default="medium", validate=validate.OneOf(PRIORITIES))
    assignee_id = Id(load_default=None, allow_none=True)
    tag_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=50))
    due_at = DueAt(load_default=None)


class TicketPatchSchema(Schema):
    """A partial update: only the fields given change (JSON merge patch semantics)."""

    title = Text(min_length=1, max_length=200)
    description = Text(min_length=1, max_length=MAX_TEXT)
    requester = Text(min_length=3, max_length=320, metadata=_ADDRESS)
    cc = fields.List(Text(max_length=320, metadata=_ADDRESS), validate=validate.Length(max=50))
    status = fields.String(validate=validate.OneOf(STATUSES))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    assignee_id = Id(allow_none=True)
    tag_ids = fields.List(Id(), validate=validate.Length(max=50))
    due_at = DueAt()


class CommentCreateSchema(Schema):
    """A public reply (mailed to the requester and CCs) or an internal note."""

    body = Text(
        required=True,
        min_length=1,
        max_length=MAX_TEXT,
        metadata={"example": "We are on it and will write again within the hour."},
    )
    internal = fields.Boolean(load_default=False)
