"""Point-in-time recovery (#22), done as docs/operations.md says, on a scratch cluster.

``initdb`` on a free loopback port with ``archive_mode=on``, a base backup, writes through
the app, a noted time, more writes; then the base backup is recovered into a new cluster
with ``recovery_target_time``: the desk on it has the first writes and not the later ones,
and its audit chain verifies.
"""

from __future__ import annotations

import time

import flask_migrate
import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD, make_app
from tests.pg_cluster import Cluster, as_postgres

pytestmark = pytest.mark.usefixtures("postgresql_only")


def _titles(app) -> set[str]:
    with app.app_context():
        titles = set(db.session.scalars(sa.text("SELECT title FROM tickets")))
        db.session.remove()
        db.engine.dispose()
    return titles


def _write(client, title: str) -> None:
    response = client.post("/tickets/new", data={
        "requester": "pitr@example.org", "title": title, "description": "d",
        "status": "open", "priority": "low", "assignee": ""})  # fmt: skip
    assert response.status_code == 303


def test_recovery_to_a_point_in_time_keeps_what_came_before_and_nothing_after(scratch):
    root, clusters = scratch
    archive = root / "archive"
    primary = Cluster(root, "primary")
    clusters.append(primary)
    as_postgres(["mkdir", str(archive)])
    primary.initdb()
    with (primary.data / "postgresql.conf").open("a") as conf:
        copy_wal = f"test ! -f {archive}/%f && cp %p {archive}/%f"
        conf.write(f"wal_level = replica\narchive_mode = on\narchive_command = '{copy_wal}'\n")
    primary.start()
    primary.sql("CREATE DATABASE desk")
    app = make_app(primary.url("desk"), root / "instance", TESTING=False)
    with app.app_context():
        flask_migrate.upgrade()
        with acting_as("test"), unit_of_work():
            create_user("pitr@example.com", full_name="Pia Pitr", password=PASSWORD)
        db.engine.dispose()

    # The base backup, as the docs' nightly job takes it.
    base = root / "base"
    primary.base_backup(base)

    client = app.test_client()
    client.post("/login", data={"email": "pitr@example.com", "password": PASSWORD})
    for n in range(5):
        _write(client, f"Before the mistake {n}")
    time.sleep(1.1)
    target = primary.sql("SELECT now()::text")
    time.sleep(1.1)
    for n in range(5):
        _write(client, f"After the mistake {n}")
    with app.app_context():
        db.engine.dispose()
    switched = primary.sql("SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + 60
    while not (archive / str(switched)).exists():
        assert time.monotonic() < deadline, "the WAL segment was not archived"
        time.sleep(0.2)

    # Recover the base backup into a new cluster, up to the noted time.
    recovered = Cluster(root, "recovered")
    clusters.append(recovered)
    as_postgres(["cp", "-a", str(base), str(recovered.data)])
    with (recovered.data / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"restore_command = 'cp {archive}/%f %p'\n"
                   f"recovery_target_time = '{target}'\n"
                   "recovery_target_action = 'promote'\n")  # fmt: skip
    as_postgres(["touch", str(recovered.data / "recovery.signal")])
    recovered.start()
    deadline = time.monotonic() + 60
    while recovered.sql("SELECT pg_is_in_recovery()"):
        assert time.monotonic() < deadline, recovered.log.read_text()[-2000:]
        time.sleep(0.2)

    copy = make_app(recovered.url("desk"), root / "instance2", TESTING=False)
    titles = _titles(copy)
    assert {f"Before the mistake {n}" for n in range(5)} <= titles
    assert not {t for t in titles if t.startswith("After the mistake")}
    assert len(_titles(app)) == 10  # the primary has both
    audit = copy.test_cli_runner().invoke(args=["audit", "verify"])
    assert audit.exit_code == 0, audit.output
    with copy.app_context():
        db.engine.dispose()
