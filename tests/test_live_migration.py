"""Upgrading a 200,000-ticket desk while agents write: no write waits a second on a lock.

The big-desk procedure of docs/upgrading.md: `flask db upgrade` to the revision
that adds tickets.due_at, `flask backfill due-at`, `flask db upgrade` for the NOT NULL
step and the index — all under a bounded write load (4 writers updating random tickets
and adding replies). Every writer runs with lock_timeout = 1 s, so a write that would
have waited longer fails and is counted; the longest write is reported.
"""

from __future__ import annotations

import random
import threading
import time

import flask_migrate
import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.seed import refresh_statistics, seed_demo_data
from supportdesk.tickets.backfill import backfill_due_at
from tests.conftest import make_app

pytestmark = pytest.mark.postgresql_only
TICKETS = 200_000
WRITERS = 4
BEFORE_DUE_AT = "c9d0e1f2a3b4"
TOUCH = sa.text("UPDATE tickets SET updated_at = now(), version = version + 1 WHERE id = :id")
REPLY = sa.text(
    "INSERT INTO comments (ticket_id, author_id, body, is_internal, created_at, updated_at) "
    "VALUES (:id, :author, 'under load', false, now(), now())"
)


def test_upgrading_under_write_load_never_blocks_a_write_for_a_second(new_database_url, tmp_path):
    url = new_database_url()
    app = make_app(url, tmp_path, TESTING=False)
    with app.app_context():
        flask_migrate.upgrade()
        with acting_as("test"), unit_of_work():
            seed_demo_data(tickets=TICKETS, seed=11, comments_per_ticket=1.0)
        refresh_statistics()
        flask_migrate.downgrade(revision=BEFORE_DUE_AT)  # the desk as the last release left it
        top = db.session.scalar(sa.text("SELECT max(id) FROM tickets"))
        author = db.session.scalar(sa.text("SELECT min(id) FROM users"))
        db.session.remove()

    load = sa.create_engine(
        url, pool_size=WRITERS, connect_args={"options": "-c lock_timeout=1000"}
    )
    stop = threading.Event()
    timings: list[float] = []
    failures: list[str] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - a load pattern, not a secret
        while not stop.is_set():
            ticket = rng.randint(1, top)
            started = time.perf_counter()
            try:
                with load.begin() as connection:
                    connection.execute(TOUCH, {"id": ticket})
                    connection.execute(REPLY, {"id": ticket, "author": author})
            except sa.exc.OperationalError as exc:
                failures.append(str(exc.orig).splitlines()[0])
            timings.append(time.perf_counter() - started)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    steps = {}
    try:
        time.sleep(0.5)
        with app.app_context():
            started = time.perf_counter()
            flask_migrate.upgrade(revision="e1f2a3b4c5d6")  # the column (too many to fill here)
            steps["add column"] = time.perf_counter() - started
            started = time.perf_counter()
            with acting_as("cli:backfill"):
                filled = backfill_due_at(batch_size=1_000)  # the command's default
            steps["backfill"] = time.perf_counter() - started
            started = time.perf_counter()
            flask_migrate.upgrade()  # NOT NULL (check, validate, set) and the index
            steps["not null + index"] = time.perf_counter() - started
            db.session.remove()
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        load.dispose()
    longest = max(timings)
    print(f"\n{len(timings)} writes during the upgrade; longest {longest * 1000:.0f} ms; "
          f"{len(failures)} gave up on a lock; filled {filled:,}; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))  # fmt: skip
    assert filled == TICKETS
    assert failures == []
    assert longest < 1.0
    assert len(timings) > 100
    with app.app_context():
        column = next(
            c for c in sa.inspect(db.engine).get_columns("tickets") if c["name"] == "due_at"
        )
        assert column["nullable"] is False
        db.session.remove()
        db.engine.dispose()
