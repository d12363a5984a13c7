"""Deterministic demo data, fast enough for a million tickets.

The same ``seed`` and anchor day give the same data. On PostgreSQL rows go in with
``COPY`` in batches; on SQLite with multi-row ``executemany`` inserts. Everything runs on
the session's connection, so the caller's unit of work commits or rolls back all of it.
"""

from __future__ import annotations

import abc
import datetime as dt
import io
import itertools
import queue
import random
import secrets
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from supportdesk.audit.listeners import audited_bulk, record_event
from supportdesk.customers.models import Customer, ticket_ccs
from supportdesk.db import copy_field
from supportdesk.errors import DomainError
from supportdesk.extensions import db
from supportdesk.tags.models import Tag, ticket_tags
from supportdesk.tickets.models import (
    FINISHED_STATUSES,
    Comment,
    Ticket,
    TicketPriority,
    TicketStatus,
    sla_hours,
)
from supportdesk.tickets.numbering import reserve_ticket_numbers
from supportdesk.users.models import User, UserRole

BATCH = 20_000
# Bumped when the same seed draws a different desk (the bench re-seeds its database then).
# 2: ticket ids follow creation time.
LAYOUT = 2
SPAN_DAYS = 730

# fmt: off
TAG_NAMES = [
    "billing", "refund", "invoice", "login", "password", "sso", "api", "webhook", "mobile",
    "android", "ios", "desktop", "export", "import", "csv", "pdf", "email", "notifications",
    "performance", "outage", "bug", "feature-request", "onboarding", "training", "security",
    "privacy", "gdpr", "integration", "slack", "jira", "salesforce", "shipping", "returns",
    "warranty", "hardware", "network", "vpn", "printer", "licence", "upgrade",
]
SUBJECTS = (
    "Cannot log in to",
    "Error when opening",
    "Slow response from",
    "Question about",
    "Request a change to",
    "Unexpected charge on",
    "Missing data in",
    "Crash in",
    "How do I configure",
    "Timeout while syncing",
    "Broken link in",
    "Refund for",
)
OBJECTS = (
    "the dashboard",
    "my invoice",
    "the mobile app",
    "the API",
    "our SSO setup",
    "the export",
    "the billing page",
    "email notifications",
    "the admin console",
    "the shared inbox",
    "the reporting module",
    "the webhook",
    "the printer driver",
)
WORDS = [
    "customer", "account", "order", "payment", "screen", "message", "window", "setting",
    "report", "server", "browser", "update", "version", "network", "device", "license", "team",
    "user", "password", "service", "data", "please", "urgent", "again", "yesterday", "today",
    "error", "failed", "working", "since", "after", "before", "tried", "restart", "cache",
    "cookie", "upload", "download", "attached", "screenshot", "log", "trace",
]
# fmt: on
RARE_WORDS = ("zephyrine", "quokkaflow", "marmalix", "obsidianet", "vortexal")
# fmt: off
FIRST_NAMES = [
    "Ana", "Ben", "Chloé", "Dmitri", "Esra", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kaito",
    "Lena", "Mateo", "Nora",
]
LAST_NAMES = [
    "Adler", "Berg", "Costa", "Duarte", "Eriksen", "Fischer", "Garcia", "Horvat", "Ivanova",
    "Jensen", "Kim",
]
# fmt: on
PRIORITY_WEIGHTS = {
    TicketPriority.LOW: 30,
    TicketPriority.MEDIUM: 45,
    TicketPriority.HIGH: 18,
    TicketPriority.URGENT: 7,
}


class SeedRefusedError(DomainError):
    """Seeding would mix demo data into a desk that already has tickets."""


@dataclass(frozen=True)
class SeedResult:
    """What :func:`seed_demo_data` wrote."""

    staff: int
    tags: int
    tickets: int
    comments: int
    tag_links: int


def seed_demo_data(
    *,
    tickets: int,
    seed: int = 1,
    staff: int | None = None,
    tags: int | None = None,
    comments_per_ticket: float = 3.0,
    append: bool = False,
    anchor: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    defer_indexes_from: int = 50_000,
) -> SeedResult:
    """Insert demo staff, tags, tickets, comments and tag links.

    :param tickets: how many tickets to create.
    :param anchor: the newest possible timestamp (default: today 00:00 UTC).
    :param progress: called with the number of tickets written after each batch.
    :param defer_indexes_from: on PostgreSQL, into empty tables, drop the secondary
        indexes and rebuild them at the end when seeding at least this many tickets.
    :raises SeedRefusedError: tickets exist and ``append`` is false.
    """
    session = db.session
    if not append and session.scalar(sa.select(Ticket.id).limit(1)) is not None:
        raise SeedRefusedError(
            "The database already has tickets; use --append to add demo data to them."
        )
    rng = random.Random(seed)  # noqa: S311  # nosec B311 - demo data, reproducible on purpose
    now = dt.datetime.now(dt.UTC)
    anchor = anchor or now.replace(hour=0, minute=0, second=0, microsecond=0)
    staff_count = staff if staff is not None else max(5, min(50, tickets // 20))
    tag_count = min(len(TAG_NAMES), tags if tags is not None else 40)

    staff_ids = _seed_staff(rng, staff_count, seed)
    tag_ids = _seed_tags(rng, tag_count)
    # A desk at a revision before customers (the live-migration test seeds one) gets
    # tickets without requesters, as such a desk had them.
    customer_ids = None
    if sa.inspect(session.connection()).has_table("customers"):
        with audited_bulk():  # recorded by the one seed.loaded entry below, as tickets are
            customer_ids = _seed_customers(rng, max(1, round(tickets * CUSTOMERS_PER_TICKET)))
    plan = _Plan(rng, anchor, staff_ids, tag_ids, comments_per_ticket, customer_ids,
                 total=tickets)  # fmt: skip
    written = comments_written = links_written = 0
    fresh = session.scalar(sa.select(Ticket.id).limit(1)) is None
    defer = fresh and tickets >= defer_indexes_from
    # Demo data is loaded in bulk, not change by change: one audit entry records the load
    # (numbers and counts) instead of millions of "created" rows.
    with audited_bulk(), _writer_for(session.connection(), tickets, fresh=defer) as writer:
        while written < tickets:
            n = min(BATCH, tickets - written)
            ticket_rows, comment_rows, link_rows, cc_rows = plan.batch(*writer.reserve(n))
            writer.write_tickets(ticket_rows, plan.ticket_columns)
            writer.write_comments(comment_rows)
            writer.write_links(link_rows)
            writer.write_ccs(cc_rows)
            written += n
            comments_written += len(comment_rows)
            links_written += len(link_rows)
            if progress is not None:
                progress(n)
    record_event(
        "seed.loaded",
        entity=("tickets", None),
        changes={"tickets": written, "comments": comments_written, "tag_links": links_written,
                 "customers": len(customer_ids or ()), "seed": seed},
    )  # fmt: skip
    return SeedResult(len(staff_ids), len(tag_ids), written, comments_written, links_written)


class _Plan:
    """Draws ticket, comment and tag-link rows from one random generator."""

    def __init__(
        self,
        rng: random.Random,
        anchor: dt.datetime,
        staff_ids: list[int],
        tag_ids: list[int],
        comments_per_ticket: float,
        customer_ids: list[int] | None = None,
        *,
        total: int = 1,
    ) -> None:
        self.rng, self.anchor = rng, anchor
        # Tickets are written oldest first, so ids follow creation time as on a real desk
        # (each is inserted when it arrives): the k-th of ``total`` takes the k-th slice
        # of the age distribution, a random point within it.
        self.total, self.written = max(1, total), 0
        self.customer_ids = customer_ids
        self.ticket_columns = TICKET_COLUMNS + (("requester_id",) if customer_ids else ())
        # Most tickets come from anyone; some from a few heavy customers (Zipf-like), so
        # the busiest have hundreds of tickets, as a real desk's key accounts do.
        self.customer_cum = list(
            itertools.accumulate(1 / (i + 1) ** 0.5 for i in range(len(customer_ids or ())))
        )
        self.staff_ids, self.tag_ids = staff_ids, tag_ids
        self.comments_per_ticket = comments_per_ticket
        # Busy agents get much more work than quiet ones (Zipf-like weights); cumulative
        # weights are computed once, not on every draw.
        self.assignee_cum = list(
            itertools.accumulate(1 / (i + 1) ** 0.9 for i in range(len(staff_ids)))
        )
        self.tag_cum = list(itertools.accumulate(1 / (i + 1) ** 0.7 for i in range(len(tag_ids))))
        self.priorities = list(PRIORITY_WEIGHTS)
        self.priority_cum = list(itertools.accumulate(PRIORITY_WEIGHTS.values()))
        self.sla = {p: dt.timedelta(hours=h) for p, h in sla_hours().items()}  # due_at

    def _customer(self, customer_ids: list[int]) -> int:
        if self.rng.random() < HEAVY_SHARE:
            return self.rng.choices(customer_ids, cum_weights=self.customer_cum)[0]
        return self.rng.choice(customer_ids)

    def batch(self, ids: list[int], numbers: list[int]) -> tuple[list[tuple[Any, ...]], ...]:
        """Return ticket, comment, tag-link and CC rows for these ticket ids and numbers."""
        rng, anchor, staff_ids = self.rng, self.anchor, self.staff_ids
        tickets: list[tuple[Any, ...]] = []
        comments: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        ccs: list[tuple[Any, ...]] = []
        for ticket_id, number in zip(ids, numbers, strict=True):
            # More recent tickets than old ones (age = u ** 1.3 * span, u uniform), drawn
            # in order: u falls from 1 to 0 across the load.
            u = 1 - (self.written + rng.random()) / self.total
            self.written += 1
            age_days = max(0.0, u) ** 1.3 * SPAN_DAYS
            created = anchor - dt.timedelta(days=age_days)
            status = _status_for_age(rng, age_days)
            priority = rng.choices(self.priorities, cum_weights=self.priority_cum)[0]
            unassigned = rng.random() < (0.35 if status == TicketStatus.OPEN else 0.05)
            assignee = (
                None if unassigned else rng.choices(staff_ids, cum_weights=self.assignee_cum)[0]
            )
            n_comments = 0
            if self.comments_per_ticket > 0:
                n_comments = min(12, int(rng.expovariate(1 / self.comments_per_ticket)))
            last = created
            first_reply = None
            for _ in range(n_comments):
                last = min(anchor, last + dt.timedelta(minutes=rng.randrange(5, 4 * 1440)))
                body = _sentence(rng, 8, 30)
                internal = rng.random() < 0.25
                if not internal and first_reply is None:
                    first_reply = last
                comments.append((ticket_id, rng.choice(staff_ids), body, internal, last, last))
            resolved = None
            if status in FINISHED_STATUSES:
                resolved = min(anchor, last + dt.timedelta(minutes=rng.randrange(10, 2880)))
                last = resolved
            title = f"{rng.choice(SUBJECTS)} {rng.choice(OBJECTS)}"
            if rng.random() < 0.001:
                title += f" ({rng.choice(RARE_WORDS)})"
            description = _sentence(rng, 15, 60)
            creator = rng.choice(staff_ids)
            row: tuple[Any, ...] = (
                ticket_id, number, title, description, status.value, priority.rank, creator,
                assignee, resolved, first_reply, None, 1, created, last,
                created + self.sla[priority],
            )  # fmt: skip
            if self.customer_ids:
                requester = self._customer(self.customer_ids)
                row += (requester,)
                if rng.random() < CC_SHARE:
                    copied = {self._customer(self.customer_ids)
                              for _ in range(rng.choice((1, 1, 2)))}  # fmt: skip
                    ccs.extend((ticket_id, c, created) for c in copied - {requester})
            tickets.append(row)
            k = min(len(self.tag_ids), max(0, round(rng.gauss(2, 1))))
            chosen: set[int] = set()
            while len(chosen) < k:
                chosen.add(rng.choices(self.tag_ids, cum_weights=self.tag_cum)[0])
            links.extend((ticket_id, tag_id, created) for tag_id in chosen)
        return tickets, comments, links, ccs


def _status_for_age(rng: random.Random, age_days: float) -> TicketStatus:
    # Old tickets are almost all finished; the last weeks hold the live backlog.
    p_finished = 0.995 if age_days > 60 else 0.6 if age_days > 7 else 0.3
    if rng.random() < p_finished:
        return TicketStatus.CLOSED if rng.random() < 0.7 else TicketStatus.RESOLVED
    return rng.choices(
        (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.WAITING_ON_CUSTOMER),
        (55, 30, 15),
    )[0]


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randrange(low, high))
    return " ".join(words).capitalize() + "."


def _seed_staff(rng: random.Random, count: int, seed: int) -> list[int]:
    """Create (or reuse) ``count`` demo agents; they cannot log in until reset."""
    session = db.session
    # One hash of a random password shared by all demo agents: hashing 50 passwords one
    # by one would cost seconds, and nobody knows this password anyway.
    unusable = generate_password_hash(secrets.token_urlsafe(32))
    ids: list[int] = []
    for i in range(count):
        email = f"agent{i + 1}@demo.supportdesk.test"
        surname = LAST_NAMES[(i * 7 + seed) % len(LAST_NAMES)]
        existing = session.scalar(sa.select(User.id).where(User.email == email))
        if existing is not None:
            ids.append(existing)
            continue
        user = User(
            email=email,
            full_name=f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {surname}",
            password_hash=unusable,
            role=UserRole.AGENT,
        )
        session.add(user)
        session.flush()
        ids.append(user.id)
    return ids


def _seed_customers(rng: random.Random, count: int) -> list[int]:
    """Create ``count`` demo customers (new addresses even when appending); return ids."""
    connection = db.session.connection()
    table: sa.Table = Customer.__table__  # type: ignore[assignment]  # a mapped Table
    before = connection.scalar(sa.select(sa.func.max(Customer.id))) or 0
    now = dt.datetime.now(dt.UTC)
    rows = []
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = rng.choice(CUSTOMER_DOMAINS)
        organisation = domain.split(".")[0].capitalize() if rng.random() < 0.6 else ""
        local = _ascii(f"{first}.{last}.{before + i + 1}")  # Chloé -> chloe: ASCII before @
        rows.append({"email": f"{local}@{domain}",
                     "name": f"{first} {last}" if rng.random() < 0.8 else "",
                     "organisation": organisation, "notes": "", "is_blocked": False,
                     "created_at": now, "updated_at": now})  # fmt: skip
    for start in range(0, count, 5_000):
        connection.execute(sa.insert(table), rows[start : start + 5_000])
    return list(connection.scalars(
        sa.select(Customer.id).where(Customer.id > before).order_by(Customer.id)
    ))  # fmt: skip


def _ascii(text: str) -> str:
    """Return ``text`` lower-cased with accents dropped (what may stand before an @)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "")


def _seed_tags(rng: random.Random, count: int) -> list[int]:
    session = db.session
    ids: list[int] = []
    for i, name in enumerate(TAG_NAMES[:count]):
        existing = session.scalar(sa.select(Tag.id).where(Tag.name == name))
        if existing is not None:
            ids.append(existing)
            continue
        tag = Tag(name=name, colour=f"#{(i * 2654435761) % 0xFFFFFF:06x}", description="")
        session.add(tag)
        session.flush()
        ids.append(tag.id)
    return ids


TICKET_COLUMNS = (
    "id",
    "number",
    "title",
    "description",
    "status",
    "priority",
    "creator_id",
    "assignee_id",
    "resolved_at",
    "first_reply_at",
    "deleted_at",
    "version",
    "created_at",
    "updated_at",
    "due_at",
)
CC_COLUMNS = ("ticket_id", "customer_id", "added_at")
CUSTOMERS_PER_TICKET = 0.15  # 150,000 customers at 1,000,000 tickets
HEAVY_SHARE = 0.3  # of tickets, from the few heavy customers
CC_SHARE = 0.2  # of tickets, with one or two CCs
CUSTOMER_DOMAINS = ("example.org", "example.com", "acme.example", "globex.example",
                    "initech.example", "umbrella.example", "mail.example")  # fmt: skip
COMMENT_COLUMNS = ("ticket_id", "author_id", "body", "is_internal", "created_at", "updated_at")
LINK_COLUMNS = ("ticket_id", "tag_id", "created_at")


class _Writer(abc.ABC):
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for pending writes; raise the first error any of them met."""
        return None  # synchronous writers have nothing pending

    @abc.abstractmethod
    def reserve(self, n: int) -> tuple[list[int], list[int]]:
        """Return ``n`` fresh ticket ids and ticket numbers."""

    @abc.abstractmethod
    def write_tickets(self, rows: list[tuple[Any, ...]], columns: Sequence[str]) -> None:
        """Insert ticket rows (in ``columns`` order, priority as its rank)."""

    @abc.abstractmethod
    def write_comments(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert comment rows (``COMMENT_COLUMNS`` order)."""

    @abc.abstractmethod
    def write_ccs(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert CC rows (``CC_COLUMNS`` order)."""

    @abc.abstractmethod
    def write_links(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert ticket-tag links (``LINK_COLUMNS`` order)."""


class _PostgresWriter(_Writer):
    """COPY in batches through a helper thread.

    COPY is an order of magnitude faster than INSERTs at a million rows, and the thread
    lets Python build batch N+1 while PostgreSQL ingests batch N (two cores, both busy).
    Ids and numbers are fetched from the sequences up front, in one statement, so that the
    main thread never needs the connection while the helper thread copies.
    """

    def __init__(self, connection: sa.Connection, total: int, *, fresh: bool) -> None:
        super().__init__(connection)
        # Into empty tables, building secondary indexes once at the end is several times
        # faster than maintaining them row by row (what pg_restore does too). The tables
        # stay locked until commit, which only matters to a desk with no tickets yet.
        # Foreign keys likewise: checking millions of rows one by one took most of the
        # load; re-adding a constraint validates it with one join instead.
        inspector = sa.inspect(connection)
        existing_indexes = {ix["name"] for t in _TABLES for ix in inspector.get_indexes(t.name)}
        existing_keys = {fk["name"] for t in _TABLES for fk in inspector.get_foreign_keys(t.name)}
        # Only what this revision of the schema has (the live-migration test seeds an
        # older one).
        self._deferred = [ix for ix in _secondary_indexes() if ix.name in existing_indexes
                          ] if fresh else []  # fmt: skip
        self._foreign_keys = [fk for fk in _outgoing_foreign_keys() if fk.name in existing_keys
                              ] if fresh else []  # fmt: skip
        # The full-text GIN indexes are not in the models (see tickets.search); the
        # vectors themselves are computed by the row triggers as COPY inserts.
        self._search_indexes = _search_indexes(connection) if fresh else []
        connection.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
        # The desk's statement timeout (30 s) is for requests: at 5M tickets rebuilding
        # the replies' full-text index alone takes longer, and the seed is one long load.
        connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
        self._analyzed = False
        for index in self._deferred:
            index.drop(connection)
        for name in self._search_indexes:
            connection.execute(sa.text(_SEARCH_INDEXES[name][0]))
        for constraint in self._foreign_keys:
            connection.execute(sa.schema.DropConstraint(constraint))
        rows = connection.execute(
            sa.text(
                "SELECT nextval(pg_get_serial_sequence('tickets', 'id')), "
                "nextval('ticket_number_seq') FROM generate_series(1, :n)"
            ),
            {"n": total},
        ).all()
        self._ids = [r[0] for r in rows]
        self._numbers = sorted(r[1] for r in rows)
        self._offset = 0
        self._queue: queue.Queue[tuple[str, io.StringIO | None] | None] = queue.Queue(maxsize=3)
        self._error: BaseException | None = None
        self._dbapi = connection.connection.dbapi_connection
        self._thread = threading.Thread(target=self._copy_loop, name="seed-copy", daemon=True)
        self._thread.start()

    def reserve(self, n: int) -> tuple[list[int], list[int]]:
        start, self._offset = self._offset, self._offset + n
        return self._ids[start : self._offset], self._numbers[start : self._offset]

    def _copy_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain the queue; the error is raised by close()
            sql, buffer = item
            try:
                cursor = self._dbapi.cursor()  # type: ignore[union-attr]  # set for PostgreSQL above
                try:
                    if buffer is None:
                        cursor.execute(sql)
                    else:
                        cursor.copy_expert(sql, buffer)
                finally:
                    cursor.close()
            except BaseException as exc:  # handed to the main thread in close()
                self._error = exc

    def _copy(self, table: str, columns: Iterable[str], rows: list[tuple[Any, ...]]) -> None:
        if self._error is not None:
            raise self._error
        if not rows:
            return
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(copy_field(v) for v in row))
            buffer.write("\n")
        buffer.seek(0)
        self._queue.put((f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer))

    def close(self) -> None:
        """Wait for the helper thread and raise its error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
        for index in self._deferred:
            index.create(self.connection)
        for name in self._search_indexes:
            self.connection.execute(sa.text(_SEARCH_INDEXES[name][1]))
        for constraint in self._foreign_keys:
            self.connection.execute(sa.schema.AddConstraint(constraint))

    def write_tickets(self, rows: list[tuple[Any, ...]], columns: Sequence[str]) -> None:
        self._copy("tickets", columns, rows)
        if not self._analyzed:
            # Foreign-key checks of comments run cached plans; one made while tickets looked
            # empty (say, just vacuumed) would scan the table for every comment row. ANALYZE
            # after the first batch gives true statistics and invalidates such plans.
            self._queue.put(("ANALYZE tickets", None))
            self._analyzed = True

    def write_comments(self, rows: list[tuple[Any, ...]]) -> None:
        self._copy("comments", COMMENT_COLUMNS, rows)

    def write_links(self, rows: list[tuple[Any, ...]]) -> None:
        self._copy("ticket_tags", LINK_COLUMNS, rows)

    def write_ccs(self, rows: list[tuple[Any, ...]]) -> None:
        self._copy("ticket_ccs", CC_COLUMNS, rows)


class _SQLiteWriter(_Writer):
    """Executemany inserts through Core; SQLite serialises writers, so ids are ours."""

    def __init__(self, connection: sa.Connection) -> None:
        super().__init__(connection)
        self.next_id = (connection.scalar(sa.select(sa.func.max(Ticket.id))) or 0) + 1

    def reserve(self, n: int) -> tuple[list[int], list[int]]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids, reserve_ticket_numbers(db.session, n)

    def _insert(self, table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.connection.execute(
                sa.insert(table), [dict(zip(columns, r, strict=True)) for r in rows]
            )

    def write_tickets(self, rows: list[tuple[Any, ...]], columns: Sequence[str]) -> None:
        converted = [r[:5] + (_PRIORITY_FROM_RANK[r[5]],) + r[6:] for r in rows]
        self._insert(_TABLES[0], columns, converted)

    def write_comments(self, rows: list[tuple[Any, ...]]) -> None:
        self._insert(_TABLES[1], COMMENT_COLUMNS, rows)

    def write_links(self, rows: list[tuple[Any, ...]]) -> None:
        self._insert(ticket_tags, LINK_COLUMNS, rows)

    def write_ccs(self, rows: list[tuple[Any, ...]]) -> None:
        self._insert(ticket_ccs, CC_COLUMNS, rows)


_PRIORITY_FROM_RANK = {p.rank: p for p in TicketPriority}


_TABLES: tuple[sa.Table, ...] = (Ticket.__table__, Comment.__table__, ticket_tags)  # type: ignore[assignment]  # mapped tables are Tables


def _outgoing_foreign_keys() -> list[sa.ForeignKeyConstraint]:
    """Return the foreign keys of the tables the seed fills."""
    tables = _TABLES
    return [fk for table in tables for fk in sorted(table.foreign_key_constraints,
                                                     key=lambda c: str(c.name))]  # fmt: skip


def _secondary_indexes() -> list[sa.Index]:
    """Return the non-unique indexes of the tables the seed fills."""
    tables = _TABLES
    return [ix for table in tables for ix in sorted(table.indexes, key=lambda i: str(i.name))
            if not ix.unique]  # fmt: skip


# name: (drop, create) for the full-text GIN indexes (migration d4e5f6a7b8c9 made them).
_SEARCH_INDEXES = {
    "ix_tickets_search_vector": (
        "DROP INDEX ix_tickets_search_vector",
        "CREATE INDEX ix_tickets_search_vector ON tickets USING gin (search_vector)",
    ),
    "ix_comments_search_vector": (
        "DROP INDEX ix_comments_search_vector",
        "CREATE INDEX ix_comments_search_vector ON comments USING gin (search_vector)",
    ),
}


def _search_indexes(connection: sa.Connection) -> list[str]:
    """Return the names of the full-text GIN indexes that exist (PostgreSQL)."""
    stmt = sa.text(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        " AND indexname IN :names"
    ).bindparams(sa.bindparam("names", expanding=True))
    return list(connection.scalars(stmt, {"names": list(_SEARCH_INDEXES)}))


def _writer_for(connection: sa.Connection, total: int, *, fresh: bool) -> _Writer:
    if connection.dialect.name == "postgresql":
        return _PostgresWriter(connection, total, fresh=fresh)
    return _SQLiteWriter(connection)


def refresh_statistics(*, vacuum: bool = False) -> None:
    """Run ``ANALYZE`` (or ``VACUUM ANALYZE``) on the seeded tables, after the commit.

    Fresh statistics give the planner true row counts: without them the first queries
    after a big seed are planned as if the tables were empty. ``vacuum`` also fills the
    visibility map (index-only scans skip the heap); ``flask seed`` leaves that to
    autovacuum, ``make bench`` runs it before measuring.
    """
    engine = db.session.get_bind().engine
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        existing = set(sa.inspect(conn).get_table_names())
        for table in (t for t in _SEEDED_TABLES if t in existing):
            conn.execute(sa.text(("VACUUM ANALYZE " if vacuum else "ANALYZE ") + table))


_SEEDED_TABLES = ("tickets", "comments", "ticket_tags", "users", "tags", "customers",
                  "ticket_ccs")  # fmt: skip
