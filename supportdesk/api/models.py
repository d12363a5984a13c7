"""What the API keeps of its own: the first answer to each idempotent POST."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db import Base, utcnow


class IdempotentRequest(Base):
    """A POST made with an ``Idempotency-Key``: the request's fingerprint and first answer.

    Kept 24 hours per token. The same key with the same request returns this answer; the
    same key with another request is refused (422).
    """

    __tablename__ = "api_idempotent_requests"
    __table_args__ = (sa.Index("ix_api_idempotent_requests_created_at", "created_at"),)

    token_id: Mapped[int] = mapped_column(
        sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int] = mapped_column(sa.SmallInteger)
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    location: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
