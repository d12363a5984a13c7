"""Read-only queries for the ticket pages: filters, keyset paging, eager loading."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload, undefer
from sqlalchemy.orm.attributes import set_committed_value

from supportdesk import paging
from supportdesk.attachments.models import Attachment
from supportdesk.customers.models import Customer, customer_label
from supportdesk.db import SQLColumn
from supportdesk.extensions import db
from supportdesk.paging import InvalidCursorError
from supportdesk.tags.models import Tag, ticket_tags
from supportdesk.tickets import search as search_module
from supportdesk.tickets.models import (
    OPEN_STATUSES,
    TICKET_PREFIX,
    Comment,
    Ticket,
    TicketFollower,
    TicketPriority,
    TicketStatus,
    is_overdue,
)
from supportdesk.users.models import User

PAGE_SIZE = 25
# Counts stop here ("1,000+"): at 1M tickets an exact count of a broad filter costs more
# than the page itself, and nobody pages through a thousand tickets to check it.
COUNT_CAP = 1_000
_REFERENCE = re.compile(r"(?:SD-?)?(\d{1,9})", re.IGNORECASE)

# The keyset of each sort: its columns, ending in a unique one so that paging is exact.
SORT_KEYS: dict[str, tuple[SQLColumn, ...]] = {
    "created": (Ticket.created_at, Ticket.id),
    "updated": (Ticket.updated_at, Ticket.id),
    "priority": (Ticket.priority, Ticket.created_at, Ticket.id),
    "number": (Ticket.number,),
    "due": (Ticket.due_at, Ticket.id),
}
# What each key value is, for reading it back from a cursor ("relevance" needs a search:
# its first key is the search's rank, see _sort_columns).
SORT_KINDS: dict[str, tuple[str, ...]] = {
    "created": ("datetime", "int"),
    "updated": ("datetime", "int"),
    "priority": ("priority", "datetime", "int"),
    "number": ("int",),
    "due": ("datetime", "int"),
    "relevance": ("float", "datetime", "int"),
}


@dataclass
class TicketFilters:
    """Validated list filters; empty values mean "no filter"."""

    q: str = ""
    statuses: list[TicketStatus] = field(default_factory=list)
    priorities: list[TicketPriority] = field(default_factory=list)
    assignee: str = ""  # "", "me", "none" or a user id
    tag_ids: list[int] = field(default_factory=list)
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    sort: str = "created"
    direction: str = "desc"
    include_deleted: bool = False  # admins only; the view enforces it
    following: bool = False  # only tickets the user follows
    requester_id: int | None = None  # only this customer's tickets
    overdue: bool = False  # only open tickets past their due time

    @cached_property
    def search(self) -> search_module.Search | None:
        """The parsed search box, or None when it is empty."""
        return search_module.parse(self.q) if self.q else None

    @property
    def ranked(self) -> bool:
        """Whether the list is ordered by relevance (a usable search, sort "relevance")."""
        return (
            self.sort == "relevance"
            and self.search is not None
            and self.search.usable
            and self.search.kind != "like"  # substring matching has no relevance
        )


class ListedTag(NamedTuple):
    """A tag as a list row shows it."""

    id: int
    name: str
    colour: str


class ListedRequester(NamedTuple):
    """A requester as a list row shows it."""

    id: int
    email: str
    name: str

    @property
    def label(self) -> str:
        """The name, else the email (as :attr:`Customer.label`)."""
        return customer_label(self.name, self.email)


@dataclass(slots=True)
class ListedTicket:
    """What a list row shows of a ticket: plain values read from one row, no ORM object.

    Building ORM objects (identity map, eager loads, de-duplication) cost the list page
    more than its SQL; the list only reads.
    """

    id: int
    number: int
    title: str
    status: TicketStatus
    priority: TicketPriority
    due_at: dt.datetime | None
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    version: int
    assignee_name: str | None
    requester: ListedRequester | None
    tags: list[ListedTag] = field(default_factory=list)
    assignee_id: int | None = None
    preview: str = ""  # the start of the latest public message, on one line

    @property
    def reference(self) -> str:
        """The number as staff say it, e.g. ``SD-1042``."""
        return f"{TICKET_PREFIX}{self.number}"

    @property
    def is_deleted(self) -> bool:
        """In the trash (admins list it with "include deleted")."""
        return self.deleted_at is not None

    @property
    def is_overdue(self) -> bool:
        """Open past its due time (the rule of :attr:`Ticket.is_overdue`)."""
        return is_overdue(self.status, self.due_at)


PREVIEW_CHARS = 160
_ASSIGNEE = sa.orm.aliased(User, name="assignee")
_REQUESTER = sa.orm.aliased(Customer, name="requester")
# The row's first columns, in ListedTicket's order (then the requester's id).
_LISTED = (
    Ticket.id, Ticket.number, Ticket.title, Ticket.status, Ticket.priority, Ticket.due_at,
    Ticket.updated_at, Ticket.deleted_at, Ticket.version, _ASSIGNEE.full_name,
    _REQUESTER.email, _REQUESTER.name, Ticket.requester_id, Ticket.assignee_id,
    # The tags' ids ("3,17"), named from the desk's tags the page has already read: a
    # statement of their own cost the list more than this subquery.
    sa.select(sa.func.aggregate_strings(sa.cast(ticket_tags.c.tag_id, sa.String), ","))
    .where(ticket_tags.c.ticket_id == Ticket.id)
    .correlate(Ticket)
    .scalar_subquery(),
    # The latest public message, to preview under the title: the last public reply (the
    # customer's or an agent's), else the description (the customer's first message).
    sa.func.coalesce(
        sa.select(sa.func.substr(Comment.body, 1, PREVIEW_CHARS))
        .where(Comment.ticket_id == Ticket.id, Comment.is_internal.is_(False))
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(1)
        .correlate(Ticket)
        .scalar_subquery(),
        sa.func.substr(Ticket.description, 1, PREVIEW_CHARS),
    ),
)  # fmt: skip
_N = len(_LISTED)


def _listed(row: Any, tags: dict[int, Option]) -> ListedTicket:
    requester = ListedRequester(row[12], row[10], row[11]) if row[12] is not None else None
    ticket = ListedTicket(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                          row[9], requester, assignee_id=row[13],
                          preview=" ".join((row[15] or "").split()))  # fmt: skip
    if row[14]:
        # A tag made since the page read the desk's tags is left out of this one row.
        named = [tags[int(i)] for i in row[14].split(",") if int(i) in tags]
        ticket.tags = [ListedTag(o.id, o.label, o.colour or "") for o in
                       sorted(named, key=lambda o: o.label)]  # fmt: skip
    return ticket


@dataclass
class TicketRow:
    """One line of the list."""

    ticket: ListedTicket
    comment_count: int
    title_html: Any = None  # the title with <mark>ed matches (searches only)
    snippet_html: Any = None  # a fragment of the description around the matches
    unseen: bool = False  # I follow it and it changed since I last opened it


@dataclass
class TicketPage:
    """A page of the list, with cursors for its neighbours."""

    rows: list[TicketRow]
    next_cursor: str | None
    prev_cursor: str | None
    total: int | None  # capped at COUNT_CAP + 1 (shown as "1,000+")
    ranked: bool = False

    @property
    def total_label(self) -> str | None:
        """Return the match count as shown ("1,000+" past the cap)."""
        if self.total is None:
            return None
        return f"{COUNT_CAP:,}+" if self.total > COUNT_CAP else f"{self.total:,}"


def encode_cursor(
    secret: str, key: tuple[Any, ...], sort: str, direction: str, towards: str
) -> str:
    """Return a signed cursor pointing after (``next``) or before (``prev``) a row's key."""
    return paging.encode_cursor(secret, key, scope="tickets", s=sort, d=direction, t=towards)


def decode_cursor(secret: str, token: str, sort: str, direction: str) -> tuple[str, list[Any]]:
    """Return ``(towards, key values)`` of a cursor made for this sort and direction.

    :raises InvalidCursorError: the cursor is forged, damaged, or for another sort.
    """
    kinds = [TicketPriority if k == "priority" else k for k in SORT_KINDS[sort]]
    meta, values = paging.decode_cursor(secret, token, scope="tickets", kinds=kinds,
                                        expect={"s": sort, "d": direction})  # fmt: skip
    if meta.get("t") not in ("next", "prev"):
        raise InvalidCursorError(paging.DAMAGED)
    return meta["t"], values


def filter_conditions(
    filters: TicketFilters, *, user_id: int, with_search: bool = True
) -> list[sa.ColumnElement[bool]]:
    """Return the WHERE conditions for ``filters`` (live tickets only).

    :param with_search: include the search box (every match, uncapped); a ranked list
        adds its capped candidates instead.
    """
    conditions: list[sa.ColumnElement[bool]] = []
    if not filters.include_deleted:
        conditions.append(Ticket.deleted_at.is_(None))
    if with_search and filters.search is not None and filters.search.usable:
        conditions.append(filters.search.condition())
    if filters.statuses:
        conditions.append(Ticket.status.in_(filters.statuses))
    if filters.priorities:
        conditions.append(Ticket.priority.in_(filters.priorities))
    if filters.following:
        conditions.append(
            sa.exists().where(
                TicketFollower.ticket_id == Ticket.id, TicketFollower.user_id == user_id
            )  # fmt: skip
        )
    if filters.assignee == "me":
        conditions.append(Ticket.assignee_id == user_id)
    elif filters.assignee == "none":
        conditions.append(Ticket.assignee_id.is_(None))
    elif filters.assignee:
        conditions.append(Ticket.assignee_id == int(filters.assignee))
    for tag_id in filters.tag_ids:  # every tag must match
        # A per-row probe of the (ticket_id, tag_id) primary key, not EXISTS: PostgreSQL
        # turns EXISTS into a hash join over every ticket carrying the tag, which cannot
        # stop at the page's LIMIT (42 ms against 14 ms for "open + high + tag" at 1M).
        probe = (
            sa.select(sa.literal(1))
            .where(ticket_tags.c.ticket_id == Ticket.id, ticket_tags.c.tag_id == tag_id)
            .correlate(Ticket)
            .scalar_subquery()
        )
        conditions.append(probe.is_not(None))
    if filters.requester_id is not None:
        conditions.append(Ticket.requester_id == filters.requester_id)
    if filters.overdue:
        conditions.append(cast(sa.ColumnElement[bool], Ticket.is_overdue))
    if filters.created_from:
        conditions.append(Ticket.created_at >= _day_start(filters.created_from))
    if filters.created_to:
        conditions.append(Ticket.created_at < _day_start(filters.created_to + dt.timedelta(days=1)))
    return conditions


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def parse_reference(text: str) -> int | None:
    """Return the number in ``SD-1042`` or ``1042``, or None."""
    match = _REFERENCE.fullmatch(text.strip())
    return int(match.group(1)) if match else None


def _sort_columns(filters: TicketFilters) -> tuple[SQLColumn, ...]:
    if filters.ranked and filters.search is not None:  # (ranked implies a search)
        return (filters.search.rank(), Ticket.created_at, Ticket.id)
    return SORT_KEYS[filters.sort if filters.sort in SORT_KEYS else "created"]


def list_tickets(
    filters: TicketFilters, *, user_id: int, secret: str, tags: Sequence[Option],
    cursor: str | None = None, limit: int = PAGE_SIZE,
) -> TicketPage:  # fmt: skip
    """Return one page of tickets in one statement; ``tags`` (all of them) name the rows'.

    The rows statement carries each ticket's comment count and the capped total of
    matches as scalar subqueries, so the page costs the same for 1 or 25 rows. A search
    ordered by relevance ranks the search's capped candidates (see tickets.search).

    :raises InvalidCursorError: ``cursor`` cannot be used.
    """
    search = filters.search if filters.search is not None and filters.search.usable else None
    sort = filters.sort if filters.ranked or filters.sort in SORT_KEYS else "created"
    # A search lists (and counts) its capped candidates, whatever the sort: each branch
    # already carries every filter, and its index lookup stops at CANDIDATES rows.
    capped_search = search is not None and search.kind != "like"
    conditions = filter_conditions(filters, user_id=user_id, with_search=not capped_search)
    candidates = search.candidates(conditions) if search is not None and capped_search else None
    if candidates is not None:
        conditions = [*conditions, Ticket.id.in_(sa.select(candidates.c.id))]
    columns = _sort_columns(filters)
    descending = filters.direction == "desc"
    towards, key = (
        ("next", None) if not cursor else decode_cursor(secret, cursor, sort, filters.direction)
    )
    # Walking backwards = walking forwards in the opposite order, then reversing.
    forward = towards == "next"
    order_desc = descending if forward else not descending
    stmt = (
        sa.select(
            *_LISTED,
            _comment_count().label("comment_count"),
            _capped_total(conditions, columns, candidates, descending).label("total"),
            *_extra_columns(user_id, columns, search),
        )  # fmt: skip
        .select_from(Ticket)
        .outerjoin(_ASSIGNEE, _ASSIGNEE.id == Ticket.assignee_id)
        .outerjoin(_REQUESTER, _REQUESTER.id == Ticket.requester_id)
        .where(*conditions, *_keyset(columns, key, order_desc))
        .order_by(*[c.desc() if order_desc else c.asc() for c in columns])
        .limit(limit + 1)
    )
    result = list(db.session.execute(stmt).all())
    more = len(result) > limit
    result = result[:limit]
    if not forward:
        result.reverse()
    n_keys = len(columns)
    by_id = {o.id: o for o in tags}
    rows = [_row(r, n_keys, by_id) for r in result]
    keys = [tuple(r[_N + 4 : _N + 4 + n_keys]) for r in result]
    total_count = cast(int, result[0][_N + 1]) if result else (0 if key is None else None)
    has_next = more if forward else key is not None
    has_prev = (key is not None) if forward else more
    next_cursor = prev_cursor = None
    if rows and has_next:
        next_cursor = encode_cursor(secret, keys[-1], sort, filters.direction, "next")
    if rows and has_prev:
        prev_cursor = encode_cursor(secret, keys[0], sort, filters.direction, "prev")
    return TicketPage(rows, next_cursor, prev_cursor, total_count, ranked=candidates is not None)


def _keyset(columns: tuple[SQLColumn, ...], key: list[Any] | None, order_desc: bool
            ) -> list[sa.ColumnElement[bool]]:  # fmt: skip
    """Return the condition "after ``key`` in list order" (none on the first page)."""
    if key is None:
        return []
    left = sa.tuple_(*columns)
    right = sa.tuple_(
        *[sa.bindparam(None, v, type_=c.type) for c, v in zip(columns, key, strict=True)]
    )
    return [left < right if order_desc else left > right]


def _comment_count() -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count(Comment.id))
        .where(Comment.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
    )


def _capped_total(conditions: list[sa.ColumnElement[bool]], columns: tuple[SQLColumn, ...],
                  candidates: sa.CTE | None, descending: bool) -> sa.ScalarSelect[int]:  # fmt: skip
    """Count the first COUNT_CAP + 1 matches.

    *In list order*: it walks the same index as the page instead of scanning the table;
    past the cap the page says "1,000+". A search counts its candidates directly (they
    already carry every filter).
    """
    if candidates is not None:
        capped = sa.select(candidates.c.id).limit(COUNT_CAP + 1)
    else:
        capped = (
            sa.select(Ticket.id)
            .where(*conditions)
            .order_by(*[c.desc() if descending else c.asc() for c in columns])
            .limit(COUNT_CAP + 1)
        )
    return sa.select(sa.func.count()).select_from(capped.subquery()).scalar_subquery()


def _extra_columns(user_id: int, columns: tuple[SQLColumn, ...],
                   search: search_module.Search | None) -> list[sa.ColumnElement[Any]]:  # fmt: skip
    """Return the page's extra columns, all in its one statement.

    When I last opened each ticket I follow and whether I follow it (the "new activity"
    dot), the sort keys (for the cursors), a search's highlighted title and snippet.
    """
    mine = sa.and_(TicketFollower.ticket_id == Ticket.id, TicketFollower.user_id == user_id)
    last_seen = sa.select(TicketFollower.last_seen_at).where(mine).correlate(Ticket)
    followed = sa.select(sa.literal(1)).where(mine).correlate(Ticket)
    extras: list[sa.ColumnElement[Any]] = [
        last_seen.scalar_subquery().label("last_seen"),
        followed.scalar_subquery().label("followed"),
        *[c.label(f"key{i}") for i, c in enumerate(columns)],
    ]
    if search is not None:
        title, snippet = search.title_headline(), search.snippet()
        if title is not None and snippet is not None:
            extras += [title.label("title_marked"), snippet.label("snippet_marked")]
    return extras


def _row(result: Any, n_keys: int, tags: dict[int, Option]) -> TicketRow:
    ticket, last_seen, followed = _listed(result, tags), result[_N + 2], result[_N + 3]
    row = TicketRow(ticket=ticket, comment_count=result[_N])
    row.unseen = bool(followed) and (last_seen is None or ticket.updated_at > last_seen)
    if len(result) > _N + 4 + n_keys:
        title, snippet = result[_N + 4 + n_keys], result[_N + 5 + n_keys]
        row.title_html = search_module.marked(title) if title else None
        if snippet and search_module.MARK_START in snippet:
            row.snippet_html = search_module.marked(snippet)
    return row


class Option(NamedTuple):
    """A choice in a select: a tag or a staff member."""

    id: int
    label: str
    colour: str | None


@dataclass
class FilterOptions:
    """Choices for the filter bar, the bulk bar and the ticket form."""

    tags: list[Option]
    staff: list[Option]
    macros: list[Option]


def filter_options(*, macros: sa.Select | None = None) -> FilterOptions:
    """Return all tags and active staff (and ``macros`` rows) in one statement (UNION ALL).

    :param macros: a select of ``(id, label)`` for the bulk bar's macro choice; the
        macros package provides it (this package knows no macro).
    """
    options: dict[str, list[Option]] = {"tag": [], "user": [], "macro": []}
    for row in db.session.execute(_options_statement(macros)):
        options[row.kind].append(Option(row.id, row.label, row.colour))
    for values in options.values():
        values.sort(key=lambda o: o.label.lower())
    return FilterOptions(tags=options["tag"], staff=options["user"], macros=options["macro"])


@lru_cache(maxsize=4)
def _options_statement(macros: sa.Select | None) -> sa.CompoundSelect:
    """Return the options' UNION ALL, built once per ``macros`` select (a constant)."""
    tags_part = sa.select(
        sa.literal("tag").label("kind"), Tag.id, Tag.name.label("label"), Tag.colour
    )
    staff_part = sa.select(
        sa.literal("user").label("kind"), User.id, User.full_name.label("label"),
        sa.null().label("colour"),
    ).where(User.is_active.is_(True))  # fmt: skip
    parts = [tags_part, staff_part]
    if macros is not None:
        rows = macros.subquery()
        parts.append(sa.select(sa.literal("macro").label("kind"), rows.c.id, rows.c.label,
                               sa.null().label("colour")))  # fmt: skip
    return sa.union_all(*parts)


def _by_number(
    number: int | sa.BindParameter[int], include_deleted: bool
) -> list[sa.ColumnElement[bool]]:
    conditions = [Ticket.number == number]
    if not include_deleted:
        conditions.append(Ticket.deleted_at.is_(None))
    return conditions


@cache
def _ticket_page_statement(include_deleted: bool) -> sa.Select[Any]:
    """Return the ticket page's first statement, built once per process (number bound).

    Building it (seven eager loads, two counts) and working out its cache key took more
    time than running it; a statement object remembers its cache key.
    """
    theirs = sa.orm.aliased(Ticket)
    same_requester = sa.and_(theirs.requester_id == Ticket.requester_id,
                             theirs.deleted_at.is_(None))  # fmt: skip
    total = sa.select(sa.func.count(theirs.id)).where(same_requester).scalar_subquery()
    open_ = (
        sa.select(sa.func.count(theirs.id))
        .where(same_requester, theirs.status.in_(OPEN_STATUSES))
        .scalar_subquery()
    )
    number = sa.bindparam("number", type_=sa.Integer)
    # Most tickets have no files: a probe here spares them the attachments statement.
    has_files = sa.exists().where(Attachment.ticket_id == Ticket.id)
    return (
        sa.select(Ticket, open_.label("open"), total.label("total"), has_files.label("has_files"))
        .where(*_by_number(number, include_deleted))
        .options(
            undefer(Ticket.description_html),
            joinedload(Ticket.creator),
            joinedload(Ticket.assignee),
            joinedload(Ticket.updated_by),
            joinedload(Ticket.deleted_by),
            joinedload(Ticket.requester),
            joinedload(Ticket.ccs),
            joinedload(Ticket.tags),
            selectinload(Ticket.comments).options(
                joinedload(Comment.author), joinedload(Comment.customer)
            ),
        )
    )


def ticket_exists(number: int, *, include_deleted: bool = False) -> bool:
    """Return whether a ticket with this number exists (live, unless asked otherwise)."""
    stmt = sa.select(Ticket.id).where(*_by_number(number, include_deleted))
    return db.session.scalar(stmt) is not None


def ticket_for_page(number: int, *, include_deleted: bool = False) -> Ticket | None:
    """Return a ticket with everything its page shows, in two or three statements.

    1: the ticket with its people, requester, CCs and tags (joined), the requester's open
    and total ticket counts, and whether it has files; 2: comments with their authors;
    3 (only if it has files): every attachment of the ticket, handed out to the ticket
    and its comments here.
    """
    stmt = _ticket_page_statement(include_deleted)
    row = db.session.execute(stmt, {"number": number}).unique().one_or_none()
    if row is None:
        return None
    ticket = row[0]
    # Kept on the instance's state (SQLAlchemy's per-object info dict), not a column.
    sa.inspect(ticket).info["requester_tickets"] = (row.open, row.total)
    by_comment: dict[int | None, list[Attachment]] = {}
    if row.has_files:
        attachments = db.session.scalars(
            sa.select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
        )
        for attachment in attachments:
            by_comment.setdefault(attachment.comment_id, []).append(attachment)
    set_committed_value(ticket, "attachments", by_comment.get(None, []))
    for comment in ticket.comments:
        set_committed_value(comment, "attachments", by_comment.get(comment.id, []))
    return ticket


def requester_tickets(ticket: Ticket) -> tuple[int, int] | None:
    """Return the requester's (open, total) tickets as read by :func:`ticket_for_page`."""
    if ticket.requester_id is None:
        return None
    return sa.inspect(ticket).info.get("requester_tickets")


def ticket_for_edit(number: int, *, include_deleted: bool = False) -> Ticket | None:
    """Return a ticket with what its edit form needs (people and tags)."""
    stmt = (
        sa.select(Ticket)
        .where(*_by_number(number, include_deleted))
        .options(
            joinedload(Ticket.assignee),
            joinedload(Ticket.updated_by),
            joinedload(Ticket.requester),
            selectinload(Ticket.tags),
            selectinload(Ticket.ccs),
        )
    )
    return db.session.scalars(stmt).unique().one_or_none()


def matching_ids(filters: TicketFilters, *, user_id: int, limit: int) -> list[int]:
    """Return the ids of the tickets the filters match, at most ``limit`` of them."""
    conditions = filter_conditions(filters, user_id=user_id)
    stmt = sa.select(Ticket.id).where(*conditions).order_by(Ticket.id).limit(limit)
    return list(db.session.scalars(stmt))


TRASH_PAGE = 50


def trash_page(secret: str, cursor: str | None = None) -> tuple[list[Ticket], str | None]:
    """Return a page of deleted tickets, most recently deleted first, and the next cursor.

    :raises InvalidCursorError: ``cursor`` is damaged.
    """
    before = None
    if cursor:
        _, before = paging.decode_cursor(secret, cursor, scope="trash", kinds=("datetime", "int"))
    tickets = _trash_rows(before)
    more = len(tickets) > TRASH_PAGE
    tickets = tickets[:TRASH_PAGE]
    last = tickets[-1] if more and tickets else None
    next_cursor = None
    if last is not None and last.deleted_at is not None:
        next_cursor = paging.encode_cursor(secret, (last.deleted_at, last.id), scope="trash")
    return tickets, next_cursor


def _trash_rows(before: list[Any] | None) -> list[Ticket]:
    stmt = (
        sa.select(Ticket)
        .where(Ticket.deleted_at.is_not(None))
        .order_by(Ticket.deleted_at.desc(), Ticket.id.desc())
        .limit(TRASH_PAGE + 1)
        .options(joinedload(Ticket.deleted_by))
    )
    if before is not None:
        stmt = stmt.where(
            sa.tuple_(Ticket.deleted_at, Ticket.id)
            < sa.tuple_(
                sa.bindparam(None, before[0], type_=Ticket.deleted_at.type),
                sa.bindparam(None, before[1], type_=Ticket.id.type),
            )
        )
    return list(db.session.scalars(stmt))


def ticket_number(ticket_id: int) -> int:
    """Return the number of the ticket with this id."""
    return db.session.scalars(sa.select(Ticket.number).where(Ticket.id == ticket_id)).one()


def ticket_id_of(number: int) -> int | None:
    """Return the id of the ticket with this number (deleted ones too), or None."""
    return db.session.scalar(sa.select(Ticket.id).where(Ticket.number == number))


def comment_page(ticket_id: int, *, secret: str, cursor: str | None, limit: int
                 ) -> tuple[list[Comment], str | None]:  # fmt: skip
    """Return a ticket's comments, oldest first, with their authors: one statement.

    :raises InvalidCursorError: ``cursor`` is damaged.
    """
    stmt = (
        sa.select(Comment)
        .options(joinedload(Comment.author), joinedload(Comment.customer))
        .where(Comment.ticket_id == ticket_id)
        .order_by(Comment.id)
        .limit(limit + 1)
    )
    if cursor:
        _, key = paging.decode_cursor(secret, cursor, scope=f"comments:{ticket_id}",
                                      kinds=("int",))  # fmt: skip
        stmt = stmt.where(Comment.id > key[0])
    rows = list(db.session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    if not (more and rows):
        return rows, None
    return rows, paging.encode_cursor(secret, (rows[-1].id,), scope=f"comments:{ticket_id}")


def comment_count(ticket_id: int) -> int:
    """Return how many comments a ticket has."""
    stmt = sa.select(sa.func.count()).select_from(Comment).where(Comment.ticket_id == ticket_id)
    return db.session.scalar(stmt) or 0


def view_counts(views: Sequence[TicketFilters], *, user_id: int,
                trash: bool = False) -> list[int]:  # fmt: skip
    """Count each saved view's tickets (and the trash's), capped at COUNT_CAP + 1: 1 statement.

    Each count reads at most COUNT_CAP + 1 index entries, so the sidebar costs the same at
    1M tickets as at 1,000.
    """

    def capped(conditions: list[sa.ColumnElement[bool]]) -> sa.ScalarSelect[int]:
        rows = sa.select(Ticket.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
        return sa.select(sa.func.count()).select_from(rows).scalar_subquery()

    columns = [capped(filter_conditions(v, user_id=user_id)) for v in views]
    if trash:
        # Through the deleted_by_id index (every trashed ticket names who deleted it): on
        # deleted_at alone PostgreSQL scanned every ticket (200 ms at 1M with none deleted).
        columns.append(capped([Ticket.deleted_by_id.is_not(None), Ticket.deleted_at.is_not(None)]))
    return list(db.session.execute(sa.select(*columns)).one())


def count_label(count: int) -> str:
    """Say a capped count as the list does ("1,000+" past the cap)."""
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"
