"""A real streaming replica (#21, past one machine): reports and searches read from it,
a user's own writes are read from the primary, a replica too far behind or stopped is
skipped without an error, and /health/database shows it."""

from __future__ import annotations

import time
import uuid

import flask_migrate
import pytest
from prometheus_client import generate_latest

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.users.models import UserRole
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD, make_app
from tests.pg_cluster import Cluster

pytestmark = pytest.mark.usefixtures("postgresql_only")


def _wait(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _login(app, email: str):
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    return client


def _search(client, word: str) -> tuple[str, bool]:
    """Search for ``word``: where the reads went, and whether the new ticket was listed."""
    response = client.get("/tickets/", query_string={"q": word})
    assert response.status_code == 200
    listed = 'class="title"><a href="/tickets/' in response.text  # only the new one matches
    return response.headers["X-DB-Read-From"], listed


def test_reads_go_to_a_streaming_replica_and_fall_back(scratch):
    root, started = scratch
    primary = Cluster(root, "primary")
    started.append(primary)
    primary.initdb()
    primary.start()
    primary.sql("CREATE DATABASE desk")
    setup = make_app(primary.url("desk"), root / "setup", TESTING=False)
    with setup.app_context():
        flask_migrate.upgrade()
        with acting_as("test"), unit_of_work():
            create_user("writer@example.org", full_name="Wen Writer", password=PASSWORD)
            create_user("reader@example.org", full_name="Rei Reader", password=PASSWORD,
                        role=UserRole.ADMIN)  # fmt: skip
        db.engine.dispose()

    replica = Cluster(root, "replica")
    started.append(replica)
    primary.base_backup(replica.data, "-R")  # -R: a streaming standby of the primary
    replica.start()
    _wait(lambda: replica.sql("SELECT count(*) FROM users", "desk") == 2, "the replica")

    app = make_app(primary.url("desk"), root / "app", TESTING=False,
                   DATABASE_REPLICA_URLS=replica.url("desk"), REPLICA_STICKY_S=2)  # fmt: skip
    writer, reader = _login(app, "writer@example.org"), _login(app, "reader@example.org")
    time.sleep(2.1)  # the logins were writes: past the read-your-writes window

    replica.sql("SELECT pg_wal_replay_pause()")
    _wait(lambda: replica.sql("SELECT pg_get_wal_replay_pause_state()") == "paused", "pause")
    word = uuid.uuid4().hex[:10]
    created = writer.post("/tickets/new", data={
        "requester": "r@example.org", "title": f"Printer {word}", "description": "d",
        "status": "open", "priority": "low", "assignee": ""})  # fmt: skip
    assert created.status_code == 303
    # The writer reads their own write: from the primary, for REPLICA_STICKY_S.
    assert _search(writer, word) == ("primary", True)
    assert writer.get("/reports/").headers["X-DB-Read-From"] == "primary"
    # Anyone else's search and report are served by the paused replica: not there yet.
    assert _search(reader, word) == ("replica0", False)
    # (The writer's report was computed, on the primary, and shared: the reader asks for a
    # new computation, which reads the replica.)
    assert reader.get("/reports/").headers["X-DB-Read-From"] == "primary"
    recomputed = reader.get("/reports/", query_string={"recompute": "y"})
    assert recomputed.status_code == 303
    assert recomputed.headers["X-DB-Read-From"] == "replica0"
    assert reader.get("/audit/").headers["X-DB-Read-From"] == "replica0"
    # Exports stream from the replica too: the paused one has no such ticket yet.
    exported = reader.get("/tickets/export.csv", query_string={"q": word})
    assert exported.status_code == 200
    assert word not in exported.text
    exported = writer.get("/tickets/export.csv", query_string={"q": word})
    assert f"Printer {word}" in exported.text  # the writer's own write, from the primary
    # Plain lists stay on the primary.
    assert reader.get("/tickets/").headers["X-DB-Read-From"] == "primary"

    # Too far behind (lag above the limit): skipped.
    app.config["REPLICA_MAX_LAG_S"] = 0
    time.sleep(2.1)  # the next check of the replica
    assert _search(reader, word) == ("primary", True)
    app.config["REPLICA_MAX_LAG_S"] = 10

    replica.sql("SELECT pg_wal_replay_resume()")
    _wait(lambda: replica.sql("SELECT count(*) FROM tickets", "desk") == 1, "replay")
    time.sleep(2.1)
    assert _search(reader, word) == ("replica0", True)
    health = reader.get("/health/database").get_json()
    assert health["replicas"][0]["up"] is True
    assert health["replicas"][0]["pool"]["size"] >= 1
    metrics = generate_latest().decode()
    assert 'supportdesk_replica_up{replica="replica0"} 1.0' in metrics
    assert 'supportdesk_replica_pool_size{replica="replica0"}' in metrics
    assert 0 <= health["replicas"][0]["lag_seconds"] <= 10  # within REPLICA_MAX_LAG_S

    # A stopped replica: skipped, no error.
    replica.stop()
    time.sleep(2.1)
    assert _search(reader, word) == ("primary", True)
    assert reader.get("/reports/").status_code == 200
    health = reader.get("/health/database").get_json()
    assert health["replicas"][0]["up"] is False
    with app.app_context():
        db.engine.dispose()
        for engine in (r.engine for r in app.extensions["supportdesk_replicas"].replicas):
            engine.dispose()
