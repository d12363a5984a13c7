"""The worker as it runs in production: real `flask worker` processes on a real database.

Each test commits its data to a database of its own (both backends), starts workers as
subprocesses against a real SMTP server on loopback, and counts what arrives there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.mail.models import MailDelivery
from supportdesk.tickets import service
from supportdesk.worker import DeliveryState
from tests.factories import CustomerFactory, TicketFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))


def _replies(app, tickets: int, replies: int, *, ccs: int = 0) -> None:
    """Commit ``tickets`` × ``replies`` public replies (1 + ``ccs`` recipients each)."""
    with app.app_context(), acting_as("test"), unit_of_work():
        agent = UserFactory()
        for _ in range(tickets):
            ticket = TicketFactory(ccs=[CustomerFactory() for _ in range(ccs)])
            db.session.flush()
            for i in range(replies):
                service.add_comment(ticket, author=agent, body=f"Reply {i}", is_internal=False)


def _worker(url: str, tmp_path: Path, smtp_url: str, *args: str, lease: int = 300
            ) -> subprocess.Popen[bytes]:  # fmt: skip
    env = dict(os.environ, FLASK_APP="wsgi:app", SUPPORTDESK_DATABASE_URL=url,
               SUPPORTDESK_SECRET_KEY="worker-test-secret", SUPPORTDESK_SMTP_URL=smtp_url,
               SUPPORTDESK_WORKER_INTERVAL_SECONDS="1", SUPPORTDESK_MAIL_RETRY_SECONDS="1",
               SUPPORTDESK_WORKER_LEASE_SECONDS=str(lease))  # fmt: skip
    with (tmp_path / f"worker-{time.monotonic_ns()}.log").open("w") as log:
        return subprocess.Popen([FLASK, "worker", *args], cwd=ROOT, env=env,  # noqa: S603
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _states(app) -> dict[str, int]:
    with app.app_context():
        found = dict(db.session.execute(
            sa.select(MailDelivery.state, sa.func.count()).group_by(MailDelivery.state)
        ).all())  # fmt: skip
        db.session.remove()
        return {str(k): v for k, v in found.items()}


def _stop(*workers: subprocess.Popen[bytes]) -> None:
    for process in workers:
        process.send_signal(signal.SIGTERM)
    for process in workers:
        process.wait(timeout=30)


def test_two_workers_deliver_200_messages_each_exactly_once(desk, smtp_sink, tmp_path):
    app, url = desk
    _replies(app, tickets=100, replies=1, ccs=1)  # 200 deliveries
    workers = [_worker(url, tmp_path, smtp_sink.url) for _ in range(2)]
    try:
        assert _wait(lambda: len(smtp_sink.received) >= 200, 90)
        time.sleep(1.5)  # anything doubled would have arrived by now
    finally:
        _stop(*workers)
    sent = [(r.message["Message-ID"], tuple(r.recipients)) for r in smtp_sink.received]
    assert len(sent) == 200
    assert len(set(sent)) == 200
    assert _states(app) == {"sent": 200}
    assert all(w.returncode == 0 for w in workers)


def test_1000_replies_committed_while_no_worker_runs_all_go_out(desk, smtp_sink, tmp_path):
    app, url = desk
    _replies(app, tickets=100, replies=10)
    assert _states(app) == {"queued": 1000}
    started = time.monotonic()
    worker = _worker(url, tmp_path, smtp_sink.url)
    try:
        assert _wait(lambda: len(smtp_sink.received) >= 1000, 120)
        elapsed = time.monotonic() - started
    finally:
        _stop(worker)
    assert len(smtp_sink.received) == 1000
    assert _states(app) == {"sent": 1000}
    print(f"1,000 messages in {elapsed:.1f} s with one worker ({1000 / elapsed:.0f}/s)")


def test_a_worker_killed_while_sending_leaves_the_message_to_the_next(desk, smtp_sink,
                                                                      tmp_path):  # fmt: skip
    app, url = desk
    _replies(app, tickets=1, replies=1)
    smtp_sink.data_delay = 3  # the server takes its time to say 250
    first = _worker(url, tmp_path, smtp_sink.url, lease=2)
    try:
        assert smtp_sink.data_started.wait(30)
        first.send_signal(signal.SIGKILL)  # mid-send: no outcome recorded
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert _states(app) == {"sending": 1}
    smtp_sink.data_delay = 0
    second = _worker(url, tmp_path, smtp_sink.url, lease=2)
    try:
        assert _wait(lambda: _states(app) == {"sent": 1}, 30)
    finally:
        _stop(second)
    # At least once: the killed worker's copy may have reached the server too.
    assert 1 <= len(smtp_sink.received) <= 2
    assert len({r.message["Message-ID"] for r in smtp_sink.received}) == 1


def test_worker_once_reports_what_it_did(desk, smtp_sink, tmp_path):
    app, url = desk
    _replies(app, tickets=2, replies=1)
    worker = _worker(url, tmp_path, smtp_sink.url, "--once")
    assert worker.wait(timeout=60) == 0
    assert len(smtp_sink.received) == 2
    assert _states(app) == {"sent": 2}
    with app.app_context():
        states = set(db.session.scalars(sa.select(MailDelivery.state)))
        db.session.remove()
    assert states == {DeliveryState.SENT}


def test_worker_once_with_the_database_away_says_so_and_exits_1(tmp_path):
    unreachable = "postgresql+psycopg2://postgres@127.0.0.1:9/nowhere"  # port 9: nobody
    worker = _worker(unreachable, tmp_path, "smtp://127.0.0.1:9", "--once")
    assert worker.wait(timeout=60) == 1
    output = next(tmp_path.glob("worker-*.log")).read_text()
    assert "The database is unreachable" in output
    assert "Traceback" not in output
