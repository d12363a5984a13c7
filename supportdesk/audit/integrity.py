"""Tamper evidence: a hash per audit row, and seals chaining those hashes.

Each row stores ``row_hash``, a SHA-256 of its content. ``seal`` appends a seal covering
the rows since the previous seal: ``digest = sha256(previous_digest, then id:row_hash of
each row in id order)``. ``verify`` recomputes both and names the first row or seal
that does not match. Seals cover only rows older than ``SEAL_MARGIN`` so that a
transaction still in flight (whose ids are lower) is never skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from supportdesk.audit.models import AuditLog, AuditSeal
from supportdesk.db import utcnow
from supportdesk.extensions import db

GENESIS = "0" * 64
SEAL_MARGIN = dt.timedelta(minutes=5)
HASHED_FIELDS = ("occurred_at", "actor_id", "actor_label", "source", "action", "entity_type",
                 "entity_id", "ticket_id", "changes", "request_id", "remote_addr")  # fmt: skip


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value


def row_hash(row: dict[str, Any] | AuditLog) -> str:
    """Return the SHA-256 of an audit row's content (its id excluded: set by the database).

    ``actor_type`` is hashed only when it is not "user", so rows written before the
    column existed keep the hash they were sealed with.
    """
    get = row.get if isinstance(row, dict) else (lambda key: getattr(row, key))
    content = {field: _canonical(get(field)) for field in HASHED_FIELDS}
    if (get("actor_type") or "user") != "user":
        content["actor_type"] = get("actor_type")
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _chain(previous: str, rows: Iterator[tuple[int, str | None]]) -> tuple[str, int]:
    digest = hashlib.sha256(previous.encode())
    count = 0
    for log_id, hashed in rows:
        digest.update(f"{log_id}:{hashed}\n".encode())
        count += 1
    return digest.hexdigest(), count


def seal(now: dt.datetime | None = None) -> AuditSeal | None:
    """Append a seal over the unsealed rows older than the margin; return it or None.

    Seals serialise among themselves (an advisory lock on PostgreSQL) but never block
    ordinary writes, which only append rows.
    """
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(4242001)"))
    last = session.scalars(sa.select(AuditSeal).order_by(AuditSeal.id.desc()).limit(1)).first()
    after = last.last_log_id if last else 0
    cutoff = (now or utcnow()) - SEAL_MARGIN
    ids = sa.select(AuditLog.id, AuditLog.row_hash).where(
        AuditLog.id > after, AuditLog.occurred_at < cutoff
    )
    rows = session.execute(ids.order_by(AuditLog.id)).all()
    if not rows:
        return None
    previous = last.digest if last else GENESIS
    digest, count = _chain(previous, iter((r.id, r.row_hash) for r in rows))
    new = AuditSeal(
        first_log_id=rows[0].id, last_log_id=rows[-1].id, row_count=count,
        previous_digest=previous, digest=digest,
    )  # fmt: skip
    session.add(new)
    session.flush()
    return new


@dataclass(frozen=True)
class Problem:
    """The first thing ``verify`` found wrong."""

    kind: str  # "row" or "seal"
    ident: int
    message: str


def verify(batch: int = 5000) -> tuple[int, int, Problem | None]:
    """Recompute row hashes and the seal chain; return (rows checked, seals, problem)."""
    session = db.session
    checked = 0
    last_id = 0
    # Plain rows, not ORM objects: memory stays flat however long the log is.
    columns = [AuditLog.id, AuditLog.row_hash, AuditLog.actor_type] + [
        getattr(AuditLog, f) for f in HASHED_FIELDS
    ]
    while True:
        rows = session.execute(
            sa.select(*columns).where(AuditLog.id > last_id).order_by(AuditLog.id).limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.row_hash != row_hash(dict(row._mapping)):
                return checked, 0, Problem("row", row.id, f"audit row {row.id} was altered")
            checked += 1
        last_id = rows[-1].id
    previous = GENESIS
    seals = session.scalars(sa.select(AuditSeal).order_by(AuditSeal.id)).all()
    for item in seals:
        if item.previous_digest != previous:
            return checked, 0, Problem("seal", item.id, f"seal {item.id} breaks the chain")
        covered = session.execute(
            sa.select(AuditLog.id, AuditLog.row_hash)
            .where(AuditLog.id.between(item.first_log_id, item.last_log_id))
            .order_by(AuditLog.id)
        )
        digest, count = _chain(previous, iter((r.id, r.row_hash) for r in covered))
        if count != item.row_count:
            return checked, 0, Problem(
                "seal", item.id,
                f"seal {item.id} covered {item.row_count} rows, {count} are there now",
            )  # fmt: skip
        if digest != item.digest:
            return checked, 0, Problem("seal", item.id, f"seal {item.id} does not match its rows")
        previous = item.digest
    return checked, len(seals), None
