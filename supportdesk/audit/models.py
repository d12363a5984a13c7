"""The audit log (append-only) and its seals (a hash chain over the log)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db import Base, utcnow

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class AuditLog(Base):
    """One recorded change or security event. Rows are only ever appended."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        sa.Index("ix_audit_logs_entity", "entity_type", "entity_id", "id"),
        sa.Index("ix_audit_logs_occurred_at", "occurred_at"),
        sa.Index("ix_audit_logs_ticket_id", "ticket_id", "id"),
        sa.Index("ix_audit_logs_action_id", "action", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # No cascading FK: history must outlive whatever it describes.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_label: Mapped[str] = mapped_column(sa.String(254), default="", server_default="")
    # "user" (staff, or a command's label) or "customer" (actor_label is their email).
    actor_type: Mapped[str] = mapped_column(sa.String(16), server_default="user")
    source: Mapped[str] = mapped_column(sa.String(16), default="web", server_default="web")
    action: Mapped[str] = mapped_column(sa.String(64))
    entity_type: Mapped[str] = mapped_column(sa.String(64))
    entity_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    ticket_id: Mapped[int | None] = mapped_column(sa.BigInteger)  # the ticket it concerns
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    request_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    remote_addr: Mapped[str | None] = mapped_column(sa.String(45))
    row_hash: Mapped[str | None] = mapped_column(sa.String(64))


class AuditSeal(Base):
    """A SHA-256 digest over a range of audit rows, chained to the previous seal."""

    __tablename__ = "audit_seals"

    id: Mapped[int] = mapped_column(primary_key=True)
    sealed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    first_log_id: Mapped[int] = mapped_column(sa.BigInteger)
    last_log_id: Mapped[int] = mapped_column(sa.BigInteger)
    row_count: Mapped[int] = mapped_column(sa.Integer)
    previous_digest: Mapped[str] = mapped_column(sa.String(64))
    digest: Mapped[str] = mapped_column(sa.String(64))
