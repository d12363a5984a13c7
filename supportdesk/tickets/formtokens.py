"""One-time form tokens: a doubled submit creates one ticket or comment.

A double click, a browser retry or a proxy resend posts the same form twice; the token
the form carries is claimed in the transaction that saves it, and the replay is sent to
what the first submit created.
"""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db import Base, db, utcnow
from supportdesk.tickets.rules import InvalidTicketError


class FormToken(Base):
    """A one-time token of a submitted form and what it created (no doubled submits)."""

    __tablename__ = "form_tokens"

    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    comment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


FORM_TOKEN_LENGTH = 32


def new_form_token() -> str:
    """Return a fresh token for a create form."""
    return secrets.token_hex(FORM_TOKEN_LENGTH // 2)


def claim_form_token(token: str | None, *, kind: str) -> FormToken | None:
    """Claim ``token`` in this transaction; return the earlier claim if it was used.

    A missing or malformed token (a script posting without one) gets no protection and
    ``None``. Concurrent claims of one token wait on its primary key until the first
    transaction ends; if it committed, the latecomers get its row.
    """
    if (
        not token
        or len(token) != FORM_TOKEN_LENGTH
        or not all(c in "0123456789abcdef" for c in token)
    ):
        return None
    existing = db.session.get(FormToken, token)
    if existing is None:
        try:
            with db.session.begin_nested():
                db.session.add(FormToken(token=token, kind=kind))
            return None
        except sa.exc.IntegrityError:  # a concurrent submit of the same form won the race
            existing = db.session.get(FormToken, token, populate_existing=True)
    if existing is None or existing.kind != kind:
        raise InvalidTicketError("This form was already used; reload the page.")
    return existing


def record_form_result(token: str | None, *, ticket_id: int, comment_id: int | None = None) -> None:
    """Remember what the form with ``token`` created."""
    if token is None:
        return
    claimed = db.session.get(FormToken, token)
    if claimed is not None:
        claimed.ticket_id, claimed.comment_id = ticket_id, comment_id
        db.session.flush()
