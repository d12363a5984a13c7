"""Database foundations: the declarative base, UTC timestamps and the unit of work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, QueryableAttribute, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Schema that migrations own but the ORM does not map: the full-text search columns, kept
# up to date by database triggers (PostgreSQL), and SQLite's FTS5 tables. Autogenerate and
# the model/migration comparison leave them alone.
SCHEMA_OUTSIDE_MODELS = frozenset(
    {"search_vector", "ix_tickets_search_vector", "ix_comments_search_vector"}
)
_FTS_TABLES = ("ticket_fts", "comment_fts")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: False for the schema listed in SCHEMA_OUTSIDE_MODELS."""
    if type_ == "table" and name and name.startswith(_FTS_TABLES):
        return False
    return not (type_ in ("column", "index") and name in SCHEMA_OUTSIDE_MODELS)


# A column in a query: a mapped attribute (Ticket.created_at) or any SQL expression.
SQLColumn = sa.ColumnElement[Any] | QueryableAttribute[Any]


def parse_id(text: str) -> int | None:
    """Return ``text`` as a row id, or None: ASCII digits only, at most 12 of them.

    (``"²".isdigit()`` is true but ``int("²")`` fails; longer numbers overflow SQLite.)
    """
    if text.isascii() and text.isdigit() and len(text) <= 12:
        return int(text)
    return None


def utcnow() -> dt.datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timestamp that is always stored and returned as timezone-aware UTC.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so values are normalised
    to UTC on the way in and tagged as UTC on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Refuse naive datetimes; store UTC (naive on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column; use supportdesk.db.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base whose constraints follow one naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


def string_enum(enum: type[Any], name: str, length: int) -> sa.Enum:
    """Return the column type of a Python enum stored by value as text with a CHECK.

    (Not a native PostgreSQL enum: adding a value would then need ALTER TYPE.)
    """
    return sa.Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


# Models subclass Base directly (typed, and with our type map); the extension only needs
# its metadata for Alembic. It lives here, beside the unit of work that commits it, so
# nothing below the features needs the extensions module.
db = SQLAlchemy(
    metadata=Base.metadata,
    # Only matters when the session is bound to a Connection that is already inside a
    # transaction, which the test suite does to roll every test back.
    session_options={"join_transaction_mode": "create_savepoint"},
)


class TimestampMixin:
    """``created_at`` and ``updated_at``, set by Python in UTC."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


@contextmanager
def unit_of_work(*, expire: bool = True) -> Iterator[None]:
    """Commit the session once on success; roll back and re-raise on any error.

    :param expire: False keeps loaded objects as they are after the commit (for a small
        side write that changed none of them, so the page need not load them again).
    """
    session = db.session()
    try:
        yield
        session.expire_on_commit = expire
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.expire_on_commit = True


def configure_engine(engine: Engine, *, busy_timeout_ms: int) -> None:
    """Install per-connection settings (SQLite pragmas and real transactions)."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT and transactional DDL;
        # disable it and emit BEGIN ourselves (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_on_begin(connection: sa.Connection) -> None:
        # A request that writes takes the write lock up front (IMMEDIATE): a deferred
        # transaction that read first and writes later fails at once with "database is
        # locked" when another writer committed meanwhile, instead of waiting its turn.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _is_write_request() else "BEGIN")


def _is_write_request() -> bool:
    return has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")


def copy_field(value: Any) -> str:
    """Render a value for PostgreSQL's COPY text format (tabs and newlines escaped)."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return str(value)
