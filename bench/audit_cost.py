"""Cost of auditing on PostgreSQL: 10,000 single edits and one 10,000-ticket bulk change.

Run: .venv/bin/python bench/audit_cost.py  (uses a scratch database it creates and drops)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN = os.environ.get("SUPPORTDESK_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
N = int(os.environ.get("AUDIT_COST_TICKETS", "10000"))
SINGLE = int(os.environ.get("AUDIT_COST_SINGLE_EDITS", str(N)))


def main() -> None:
    import flask_migrate

    from supportdesk import create_app
    from supportdesk.audit import listeners
    from supportdesk.audit.context import acting_as
    from supportdesk.db import unit_of_work
    from supportdesk.extensions import db
    from supportdesk.models import Ticket, TicketStatus, User
    from supportdesk.seed import seed_demo_data
    from supportdesk.tickets import bulk, service

    admin = sa.create_engine(sa.make_url(ADMIN).set(drivername="postgresql+psycopg2"),
                             isolation_level="AUTOCOMMIT")  # fmt: skip
    name = f"supportdesk_audit_cost_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(ADMIN).set(drivername="postgresql+psycopg2", database=name)
    results = {}
    try:
        app = create_app({"DATABASE_URL": url.render_as_string(hide_password=False),
                          "SECRET_KEY": "x", "QUERY_STATS": False})  # fmt: skip
        with app.app_context():
            flask_migrate.upgrade()
            with acting_as("bench"), unit_of_work():
                seed_demo_data(tickets=2 * N, seed=3, comments_per_ticket=0, staff=5, tags=3)
            actor = db.session.scalars(sa.select(User).limit(1)).one()
            ids = list(db.session.scalars(sa.select(Ticket.id).order_by(Ticket.id)))
            halves = {"audited": ids[:N], "unaudited": ids[N:]}
            original_write = bulk.write_rows
            for mode in ("audited", "unaudited"):
                if mode == "unaudited":  # switch auditing off: listener and bulk rows
                    event.remove(db.session, "after_flush", listeners._after_flush)
                    bulk.write_rows = lambda *a, **k: None  # type: ignore[assignment]
                started = time.perf_counter()
                with acting_as(actor, source="web"):
                    for ticket_id in halves[mode][:SINGLE]:
                        with unit_of_work():
                            ticket = db.session.get(Ticket, ticket_id)
                            change = {"status": TicketStatus.IN_PROGRESS}
                            service.update_ticket(
                                ticket, actor=actor, expected_version=None, changes=change
                            )
                single = time.perf_counter() - started
                started = time.perf_counter()
                with acting_as(actor, source="web"), unit_of_work():
                    value = TicketStatus.WAITING_ON_CUSTOMER.value
                    bulk.bulk_update(halves[mode], action="status", value=value, actor=actor)
                bulk_seconds = time.perf_counter() - started
                results[mode] = (single, bulk_seconds)
            event.listen(db.session, "after_flush", listeners._after_flush)
            bulk.write_rows = original_write
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    a_single, a_bulk = results["audited"]
    u_single, u_bulk = results["unaudited"]
    print(f"{SINGLE:,} single edits: audited {a_single:.2f} s, unaudited {u_single:.2f} s, "
          f"ratio {a_single / u_single:.2f}")  # fmt: skip
    print(f"{N:,}-ticket bulk status change: audited {a_bulk:.2f} s, unaudited {u_bulk:.2f} s, "
          f"ratio {a_bulk / u_bulk:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
