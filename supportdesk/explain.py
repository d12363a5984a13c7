"""``flask db-explain``: the query plans of one page, as a given staff member sees it.

The page is requested in-process (Flask's test client, logged in as that user); every
SELECT it sends is recorded with its parameters, then run again under ``EXPLAIN
(ANALYZE, BUFFERS)`` on PostgreSQL (``EXPLAIN QUERY PLAN`` on SQLite) in a transaction
that is rolled back. Only SELECTs are explained: ANALYZE executes the statement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event

from supportdesk.errors import DomainError
from supportdesk.extensions import db
from supportdesk.users.models import User, UserRole


class ExplainError(DomainError):
    """The page cannot be explained (not a GET page, not found, no such user)."""


@dataclass
class Plan:
    """One statement of the page and its plan."""

    statement: str
    plan: list[str]


def explain_page(app: Flask, path: str, *, email: str | None = None) -> tuple[int, list[Plan]]:
    """Request ``path`` as ``email`` (default: the first active admin); return its plans.

    :raises ExplainError: the path, the user or the answer is not usable.
    """
    if not path.startswith("/") or path.startswith("//"):
        raise ExplainError("Give the page as a path on this site, e.g. /tickets/?status=open")
    user = _user(email)
    recorded: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
            recorded.append((statement, parameters))

    client = app.test_client()
    with client.session_transaction() as session:
        now = time.time()
        session.update({"_user_id": str(user.id), "_fresh": True, "epoch": user.session_epoch,
                        "login_at": now, "seen": now})  # fmt: skip
    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    if response.status_code >= 400 or response.status_code in (301, 302, 303):
        where = response.headers.get("Location", "")
        raise ExplainError(f"GET {path} answered {response.status_code} {where}".rstrip())
    return response.status_code, _plans(recorded)


def _user(email: str | None) -> User:
    stmt = sa.select(User).where(User.is_active.is_(True))
    if email:
        stmt = stmt.where(sa.func.lower(User.email) == email.strip().lower())
    else:
        stmt = stmt.where(User.role == UserRole.ADMIN).order_by(User.id)
    user = db.session.scalars(stmt.limit(1)).first()
    if user is None:
        raise ExplainError(f"No active staff member {email}." if email else "No active admin.")
    db.session.rollback()  # end this read; the page runs its own transaction
    return user


def _plans(recorded: list[tuple[str, Any]]) -> list[Plan]:
    plans = []
    connection = db.session.connection()
    postgresql = connection.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgresql else "EXPLAIN QUERY PLAN "
    savepoint = connection.begin_nested()  # ANALYZE runs the statement: undo everything
    try:
        for statement, parameters in recorded:
            rows = connection.exec_driver_sql(prefix + statement, parameters or ())
            if postgresql:
                plan = [row[0] for row in rows]
            else:
                plan = [f"{'  ' * _depth(row)}{row[-1]}" for row in rows]
            plans.append(Plan(" ".join(statement.split()), plan))
    finally:
        savepoint.rollback()
        db.session.rollback()
    return plans


def _depth(row: Any) -> int:
    return 0 if row[1] == 0 else 1
