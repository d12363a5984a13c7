"""Computed reports kept for a few minutes, so managers opening the page at once share one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db import Base


class ReportSnapshot(Base):
    """The figures of one report scope (range, tag, assignee) as computed at ``computed_at``.

    A cache, not a record: not audited, rebuilt from the tickets at any time, and dropped
    a day after it was computed.
    """

    __tablename__ = "report_snapshots"

    scope_key: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    computed_at: Mapped[dt.datetime] = mapped_column()
    compute_ms: Mapped[int] = mapped_column(sa.Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
