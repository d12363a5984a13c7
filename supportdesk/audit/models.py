"""The audit log table (filled by the audit listeners)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db import Base, utcnow

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class AuditLog(Base):
    """One recorded change or security event. Rows are only ever appended."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        sa.Index("ix_audit_logs_entity", "entity_type", "entity_id", "id"),
        sa.Index("ix_audit_logs_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # No cascading FK: history must outlive whatever it describes.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64))
    entity_type: Mapped[str] = mapped_column(sa.String(64))
    entity_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    request_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    remote_addr: Mapped[str | None] = mapped_column(sa.String(45))
