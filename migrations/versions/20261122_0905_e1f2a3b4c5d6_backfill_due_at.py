"""tickets.due_at (2 of 3): fill it for tickets created before, when the desk is small.

Revision ID: e1f2a3b4c5d6
Revises: d0e1f2a3b4c5
Create Date: 2026-11-22 09:05:00

due_at = created_at + the priority's SLA hours (SUPPORTDESK_SLA_HOURS as configured now).
Up to SMALL tickets without one are filled here, in committed batches of 1,000 by id
range (rerunnable: only NULLs are touched). A bigger desk is left to
`flask backfill due-at`, which does the same with a progress bar while the desk works;
the next revision refuses to run until every ticket has its due time.
"""

import logging

import sqlalchemy as sa
from alembic import context, op
from flask import current_app

revision = "e1f2a3b4c5d6"
down_revision = "d0e1f2a3b4c5"
branch_labels = None
depends_on = None

SMALL = 50_000
BATCH = 1_000
RANKS = {"low": 1, "medium": 2, "high": 3, "urgent": 4}
log = logging.getLogger("alembic.runtime.migration")


def _hours_case():
    hours = current_app.config.get("SLA_HOURS") or {}
    defaults = {"low": 168, "medium": 72, "high": 24, "urgent": 4}
    whens = " ".join(f"WHEN {rank} THEN {int(hours.get(name, defaults[name]))}"
                     for name, rank in RANKS.items())  # fmt: skip
    return f"CASE priority {whens} END"


def upgrade():
    if context.is_offline_mode():
        op.execute("-- tickets.due_at: run `flask backfill due-at` before the next revision")
        return
    bind = op.get_bind()
    missing = bind.execute(sa.text("SELECT count(*) FROM tickets WHERE due_at IS NULL")).scalar()
    if not missing:
        return
    if missing > SMALL:
        log.warning("%d tickets have no due time: run `flask backfill due-at` (it works while "
                    "the desk is up), then `flask db upgrade` again.", missing)  # fmt: skip
        return
    if bind.dialect.name == "postgresql":
        due = f"created_at + make_interval(hours => {_hours_case()})"
    else:
        # "YYYY-MM-DD HH:MM:SS.ffffff": shift the seconds, keep the fraction.
        due = (f"strftime('%Y-%m-%d %H:%M:%S', created_at, '+' || ({_hours_case()}) || ' hours')"
               " || substr(created_at, 20)")  # fmt: skip
    top = bind.execute(sa.text("SELECT coalesce(max(id), 0) FROM tickets")).scalar()
    statement = sa.text(
        f"UPDATE tickets SET due_at = {due} "  # noqa: S608 - constant SQL
        "WHERE id >= :low AND id < :high AND due_at IS NULL"
    )
    with op.get_context().autocommit_block():
        for low in range(0, top + 1, BATCH):
            op.get_bind().execute(statement, {"low": low, "high": low + BATCH})


def downgrade():
    pass  # the values stay; the previous revision's downgrade drops the column
