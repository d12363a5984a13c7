"""The worker: delivers side effects (email, webhooks) recorded by requests.

A feature keeps its own outbox table with the :class:`Queued` columns and registers a
:class:`QueueSpec`: how to deliver one row, how often to try. The worker (``flask
worker``) loops over every registered queue:

1. **claim** due rows in a short transaction: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   so two workers never take the same row; SQLite serialises writers (``BEGIN
   IMMEDIATE``). A claimed row is ``sending`` with a lease and a claim token.
2. **deliver** each row outside any transaction (an SMTP server may take seconds);
3. **settle** it in a second short transaction, only if the claim is still ours:
   ``sent``, ``retrying`` with exponential backoff and jitter, or ``failed``.

A worker killed between 1 and 3 leaves the row ``sending`` until its lease runs out; the
next claim takes it again. Delivery is therefore at least once: a kill after the SMTP
server accepted a message but before step 3 sends it again (the README says so).
Features may also register a :class:`PeriodicTask`, run on every pass after the queues
(the reports keep their default figures fresh this way).
This module is plumbing: it imports no feature.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.db import Base, db, string_enum, unit_of_work, utcnow, writing

log = logging.getLogger(__name__)


class DeliveryState(enum.StrEnum):
    """Where a queued side effect stands."""

    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    WRITTEN = "written"  # no SMTP server configured: written to a file instead
    FAILED = "failed"
    CANCELLED = "cancelled"


DUE_STATES = (DeliveryState.QUEUED, DeliveryState.RETRYING)
DONE_STATES = (DeliveryState.SENT, DeliveryState.WRITTEN)


class Queued:
    """Columns of an outbox row the worker delivers (a mixin for a feature's model)."""

    state: Mapped[DeliveryState] = mapped_column(
        string_enum(DeliveryState, "delivery_state", 16), default=DeliveryState.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[dt.datetime | None]
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    done_at: Mapped[dt.datetime | None]


class TemporaryFailure(Exception):
    """Try again later (connection refused, time-out, a 4xx answer)."""


class PermanentFailure(Exception):
    """Do not try again (a 5xx answer: the mailbox does not exist, say)."""


@dataclass(frozen=True)
class QueueSpec:
    """A feature's outbox, as the worker sees it."""

    name: str
    model: type[Any]  # a mapped class with the Queued columns
    deliver: Callable[[int], DeliveryState]  # row id -> SENT or WRITTEN; raises a Failure
    max_attempts: Callable[[], int]
    first_delay_seconds: Callable[[], float]  # doubles with every further attempt
    # Held open around a batch of deliveries (the mail queue keeps its SMTP connection).
    batch: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext


@dataclass(frozen=True)
class PeriodicTask:
    """Work a feature wants done now and then, not an outbox (keeping shared reports fresh).

    ``run`` is called on every pass of the worker; it decides itself (cheaply) whether
    anything is due, runs in its own transactions, and returns whether it did something.
    """

    name: str
    run: Callable[[], bool]


_queues: dict[str, QueueSpec] = {}
_tasks: dict[str, PeriodicTask] = {}


def register(spec: QueueSpec) -> None:
    """Make the worker deliver ``spec``'s rows (idempotent)."""
    _queues[spec.name] = spec


def register_task(task: PeriodicTask) -> None:
    """Make the worker run ``task`` on every pass (idempotent)."""
    _tasks[task.name] = task


def queues() -> list[QueueSpec]:
    """Return the registered queues."""
    return list(_queues.values())


def tasks() -> list[PeriodicTask]:
    """Return the registered periodic tasks."""
    return list(_tasks.values())


def retry_delay(first: float, attempts: int, rng: random.Random | None = None) -> float:
    """Return the wait before the next attempt: ``first`` doubled per attempt, ±20 % jitter.

    Jitter spreads the retries of many messages that failed together (an SMTP outage).
    """
    jitter = (rng or random.Random()).uniform(0.8, 1.2)  # noqa: S311  # nosec B311 - not secret
    return first * 2 ** max(0, attempts - 1) * jitter


class WorkerBeat(Base):
    """When a worker last looked at its queues, and last delivered something."""

    __tablename__ = "worker_beats"

    name: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    beat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    progress_at: Mapped[dt.datetime | None]


def claim(spec: QueueSpec, *, now: dt.datetime, limit: int, lease_seconds: float
          ) -> list[tuple[int, str]]:  # fmt: skip
    """Take up to ``limit`` due rows of ``spec`` for this worker; return (id, token) pairs."""
    model = spec.model
    due = sa.or_(
        sa.and_(model.state.in_(DUE_STATES), model.next_attempt_at <= now),
        sa.and_(model.state == DeliveryState.SENDING, model.locked_until < now),  # lease gone
    )
    stmt = sa.select(model.id).where(due).order_by(model.next_attempt_at, model.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    with writing(), unit_of_work():
        ids = list(db.session.scalars(stmt))
        if not ids:
            return []
        token = uuid.uuid4().hex
        db.session.execute(
            sa.update(model)
            .where(model.id.in_(ids))
            .values(
                state=DeliveryState.SENDING,
                claim_token=token,
                attempts=model.attempts + 1,
                locked_until=now + dt.timedelta(seconds=lease_seconds),
            )  # fmt: skip
            .execution_options(synchronize_session=False)
        )
    return [(i, token) for i in ids]


def _bookkeeping() -> None:
    """Let this transaction commit without waiting for the WAL flush (PostgreSQL).

    Only the worker's own state: a PostgreSQL crash could forget the last few "sent"
    marks (those messages would go out again, as after a killed worker); the web's
    transactions keep synchronous commits. Spares the desk one WAL flush per message.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL synchronous_commit = off"))


def settle(spec: QueueSpec, row_id: int, token: str, outcome: DeliveryState | Exception,
           *, now: dt.datetime) -> DeliveryState | None:  # fmt: skip
    """Record how a delivery went, if the claim is still ours; return the new state."""
    model = spec.model
    with writing(), unit_of_work():
        _bookkeeping()
        row = db.session.execute(
            sa.select(model.attempts).where(
                model.id == row_id, model.claim_token == token, model.state == DeliveryState.SENDING
            )  # fmt: skip
        ).first()
        if row is None:  # the lease ran out and another worker took it; theirs to record
            return None
        # Clears the claim: a random row token, not a credential.
        values: dict[str, Any] = {"locked_until": None, "claim_token": None}  # nosec B105
        if isinstance(outcome, DeliveryState):
            values.update(state=outcome, done_at=now, last_error=None)
        elif isinstance(outcome, TemporaryFailure) and row.attempts < spec.max_attempts():
            delay = retry_delay(spec.first_delay_seconds(), row.attempts)
            values.update(state=DeliveryState.RETRYING, last_error=str(outcome)[:2000],
                          next_attempt_at=now + dt.timedelta(seconds=delay))  # fmt: skip
        else:
            values.update(state=DeliveryState.FAILED, done_at=now,
                          last_error=str(outcome)[:2000] or type(outcome).__name__)  # fmt: skip
        db.session.execute(sa.update(model).where(model.id == row_id).values(**values))
        state: DeliveryState = values["state"]
        return state


def run_once(*, name: str = "worker", limit: int = 100, lease_seconds: float = 300,
             now: Callable[[], dt.datetime] = utcnow) -> Counter[str]:  # fmt: skip
    """Deliver every due row of every queue once; return counts by outcome."""
    counts: Counter[str] = Counter()
    for spec in queues():
        claimed = claim(spec, now=now(), limit=limit, lease_seconds=lease_seconds)
        if claimed:
            with spec.batch():
                _deliver_all(spec, claimed, counts, now)
    beat(name, progress=sum(counts.values()) > 0)
    return counts


TASK_PAUSE_S = 60.0  # a task that failed is not tried again for this long (this process)
_paused_until: dict[str, float] = {}


def run_tasks() -> list[str]:
    """Run every periodic task once; return the names of those that did something.

    A task that fails is logged and left alone for :data:`TASK_PAUSE_S` in this process;
    it never stops the deliveries (a lost database still stops the pass, as for them).
    """
    done = []
    for task in tasks():
        if time.monotonic() < _paused_until.get(task.name, 0.0):
            continue
        try:
            if task.run():
                done.append(task.name)
        except sa.exc.OperationalError:
            raise  # the database is away: run_forever waits and tries again
        except Exception:  # a bug in one task must not stop the deliveries
            log.exception("periodic task %s failed; paused %.0f s", task.name, TASK_PAUSE_S)
            _paused_until[task.name] = time.monotonic() + TASK_PAUSE_S
        finally:
            db.session.remove()
    return done


def _deliver_all(spec: QueueSpec, claimed: list[tuple[int, str]], counts: Counter[str],
                 now: Callable[[], dt.datetime]) -> None:  # fmt: skip
    for row_id, token in claimed:
        outcome: DeliveryState | Exception
        try:
            outcome = spec.deliver(row_id)
        except (TemporaryFailure, PermanentFailure) as exc:
            outcome = exc
        except Exception as exc:  # a bug must not stop the queue; it is retried
            log.exception("delivery %s #%s failed unexpectedly", spec.name, row_id)
            outcome = TemporaryFailure(f"internal error: {type(exc).__name__}")
        finally:
            db.session.remove()  # what deliver read is not kept across rows
        state = settle(spec, row_id, token, outcome, now=now())
        counts[str(state) if state else "lost-claim"] += 1


def beat(name: str, *, progress: bool) -> None:
    """Record that this worker is alive (and delivered something, when ``progress``)."""
    now = utcnow()
    with writing(), unit_of_work():
        row = db.session.get(WorkerBeat, name)
        if row is None:
            row = WorkerBeat(name=name)
            db.session.add(row)
        row.beat_at = now
        if progress:
            row.progress_at = now


def last_beat() -> WorkerBeat | None:
    """Return the most recent beat of any worker, or None when none ever ran."""
    return db.session.scalars(sa.select(WorkerBeat).order_by(WorkerBeat.beat_at.desc())).first()


def run_forever(*, name: str, interval: float, lease_seconds: float,
                stop: threading.Event | None = None) -> None:  # fmt: skip
    """Deliver due rows every ``interval`` seconds until ``stop`` is set."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            counts = run_once(name=name, lease_seconds=lease_seconds)
            counts.update(run_tasks())  # a task that did something counts as progress
        except sa.exc.OperationalError as exc:  # the database is away: wait, then retry
            log.warning("worker: database unavailable (%s); retrying", type(exc).__name__)
            db.session.remove()
            counts = Counter()
        if counts:
            log.info("worker: %s", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
        if not sum(counts.values()):
            stop.wait(interval)
        else:
            time.sleep(0)  # more may be due: go again at once
