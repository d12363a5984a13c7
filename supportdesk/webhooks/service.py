"""Webhooks: registering hooks, recording deliveries with each change, delivering them.

A change publishes a domain event (:mod:`supportdesk.events`); :func:`on_ticket_created`
and friends record one :class:`WebhookDelivery` per subscribed hook in the same
transaction, with the exact body to send. The worker POSTs it (queue ``webhook``):
signed, retried with backoff, each attempt recorded. A hook whose every attempt has
failed for ``SUPPORTDESK_WEBHOOK_DISABLE_AFTER_HOURS`` is disabled and its owner mailed.

Which hooks want which events is read once per ``SUPPORTDESK_WEBHOOK_REFRESH_S`` per
process (and at once after a change in this process), so a desk without hooks pays no
statement per ticket write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from supportdesk import events, worker
from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work, utcnow, writing
from supportdesk.errors import DomainError, NotFoundError
from supportdesk.extensions import db
from supportdesk.mail.notices import queue_notice
from supportdesk.tickets.models import Comment, Ticket
from supportdesk.users.models import User
from supportdesk.version import __version__
from supportdesk.webhooks import http
from supportdesk.webhooks.models import EVENTS, Webhook, WebhookAttempt, WebhookDelivery

SIGNATURE_HEADER = "X-Supportdesk-Signature"
TIMESTAMP_HEADER = "X-Supportdesk-Timestamp"
SHOWN_DELIVERIES = 50


class InvalidWebhookError(DomainError):
    """A hook cannot be saved as given (URL, events)."""


# --- registering ---------------------------------------------------------------------


@dataclass(frozen=True)
class HookValues:
    """The hook form's values."""

    url: str
    events: list[str]
    description: str = ""
    is_active: bool = True


def _check(values: HookValues) -> None:
    config = current_app.config
    try:
        _, host, port, _ = http.check_url(values.url.strip(),
                                          allow_http=config["WEBHOOK_ALLOW_HTTP"])  # fmt: skip
        http.resolve(host, port, allow_private=config["WEBHOOK_ALLOW_PRIVATE"])
    except http.RefusedURLError as exc:
        raise InvalidWebhookError(str(exc)) from None
    unknown = set(values.events) - set(EVENTS)
    if not values.events or unknown:
        raise InvalidWebhookError("Choose at least one event: " + ", ".join(EVENTS) + ".")


def create_hook(values: HookValues, *, owner: User) -> Webhook:
    """Register a hook with a new secret (shown to the admin once, on its page).

    :raises InvalidWebhookError: the URL is refused (scheme, name, address) or no event.
    """
    _check(values)
    hook = Webhook(url=values.url.strip(), events=sorted(set(values.events)),
                   description=values.description.strip(), secret=secrets.token_hex(32),
                   owner_id=owner.id, is_active=values.is_active)  # fmt: skip
    db.session.add(hook)
    db.session.flush()
    forget_hooks()
    return hook


def update_hook(hook: Webhook, values: HookValues) -> None:
    """Change a hook; turning it back on clears its failure record."""
    _check(values)
    hook.url, hook.description = values.url.strip(), values.description.strip()
    hook.events = sorted(set(values.events))
    if values.is_active and not hook.is_active:
        hook.failing_since, hook.disabled_reason = None, None
    hook.is_active = values.is_active
    db.session.flush()
    forget_hooks()


def renew_secret(hook: Webhook) -> str:
    """Give the hook a new secret (the receiver must be told); return it."""
    hook.secret = secrets.token_hex(32)
    db.session.flush()
    return hook.secret


def delete_hook(hook: Webhook) -> None:
    """Delete a hook with its deliveries."""
    db.session.delete(hook)
    db.session.flush()
    forget_hooks()


def get_hook(hook_id: int) -> Webhook:
    """Return the hook, or raise :class:`NotFoundError`."""
    hook = db.session.get(Webhook, hook_id)
    if hook is None:
        raise NotFoundError("There is no such webhook.")
    return hook


def all_hooks() -> list[Webhook]:
    """Return every hook, oldest first."""
    return list(db.session.scalars(sa.select(Webhook).order_by(Webhook.id)))


def recent_deliveries(hook_id: int) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    """Return the hook's last deliveries, newest first, with their attempts (2 statements)."""
    rows = list(db.session.scalars(
        sa.select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id)
        .order_by(WebhookDelivery.id.desc()).limit(SHOWN_DELIVERIES)
    ))  # fmt: skip
    attempts: dict[int, list[WebhookAttempt]] = {r.id: [] for r in rows}
    if rows:
        for attempt in db.session.scalars(
            sa.select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(attempts))
            .order_by(WebhookAttempt.id)
        ):  # fmt: skip
            attempts[attempt.delivery_id].append(attempt)
    return [(r, attempts[r.id]) for r in rows]


# --- which hooks want an event (cached per process) -------------------------------------

_cache_lock = threading.Lock()
_cache: dict[int, tuple[float, dict[str, list[int]]]] = {}  # app id -> (until, event -> ids)


def forget_hooks() -> None:
    """Read the hooks again at the next event (after a change in this process)."""
    with _cache_lock:
        _cache.pop(id(current_app._get_current_object()), None)  # type: ignore[attr-defined]


def hooks_for(event: str) -> list[int]:
    """Return the ids of the active hooks subscribed to ``event``."""
    key = id(current_app._get_current_object())  # type: ignore[attr-defined]
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
    if cached is None or cached[0] < now:
        table: dict[str, list[int]] = {name: [] for name in EVENTS}
        for hook_id, names in db.session.execute(
            sa.select(Webhook.id, Webhook.events).where(Webhook.is_active)
        ):  # fmt: skip
            for name in names or ():
                table.setdefault(name, []).append(hook_id)
        cached = (now + float(current_app.config["WEBHOOK_REFRESH_S"]), table)
        with _cache_lock:
            _cache[key] = cached
    return cached[1].get(event, [])


# --- recording deliveries ------------------------------------------------------------


def _ticket_data(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number, "reference": ticket.reference, "title": ticket.title,
        "status": ticket.status.value, "priority": ticket.priority.value,
        "assignee_id": ticket.assignee_id, "requester_id": ticket.requester_id,
        "version": ticket.version, "deleted": ticket.deleted_at is not None,
        "created_at": ticket.created_at.isoformat(), "updated_at": ticket.updated_at.isoformat(),
        "due_at": ticket.due_at.isoformat(), "due_is_manual": ticket.due_is_manual,
    }  # fmt: skip


def _record(event: str, hook_ids: Iterable[int], data: dict[str, Any]) -> None:
    now = utcnow()
    rows = [{"webhook_id": hook_id, "event": event, "created_at": now, "next_attempt_at": now,
             "state": worker.DeliveryState.QUEUED, "attempts": 0,
             "payload": {"event": event, "occurred_at": now.isoformat(), "data": data}}
            for hook_id in hook_ids]  # fmt: skip
    if rows:
        db.session.execute(sa.insert(WebhookDelivery), rows)


def on_ticket_created(ticket: Ticket, **_: Any) -> None:
    """Record ``ticket.created`` for the hooks that want it."""
    hook_ids = hooks_for("ticket.created")
    if hook_ids:
        _record("ticket.created", hook_ids, {"ticket": _ticket_data(ticket)})


def on_tickets_updated(ticket_ids: list[int], changed: set[str], **_: Any) -> None:
    """Record ``ticket.updated`` (or ``ticket.deleted``) per ticket for the hooks."""
    event = "ticket.deleted" if changed == {"deleted"} else "ticket.updated"
    hook_ids = hooks_for(event)
    if not hook_ids or not ticket_ids:
        return
    tickets = db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(ticket_ids))
                                 .execution_options(populate_existing=True))  # fmt: skip
    for ticket in tickets:
        _record(event, hook_ids, {"ticket": _ticket_data(ticket), "changed": sorted(changed)})


def on_comment_added(comment: Comment, ticket: Ticket, **_: Any) -> None:
    """Record ``comment.created`` for the hooks that want it."""
    hook_ids = hooks_for("comment.created")
    if hook_ids:
        data = {"ticket": _ticket_data(ticket), "comment": {
            "id": comment.id, "body": comment.body, "internal": comment.is_internal,
            "author_id": None if comment.customer_id else comment.author_id,
            "customer_id": comment.customer_id, "created_at": comment.created_at.isoformat(),
        }}  # fmt: skip
        _record("comment.created", hook_ids, data)


def send_ping(hook: Webhook) -> None:
    """Queue a ``ping`` event to ``hook`` (whatever events it subscribes to)."""
    _record("ping", [hook.id], {"webhook_id": hook.id, "zen": "It works."})


# --- delivering ----------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``X-Supportdesk-Signature`` value: ``sha256=`` HMAC of ``t.body``.

    The receiver recomputes it with the hook's secret over the timestamp header, a dot
    and the raw body, compares in constant time, and refuses a timestamp more than five
    minutes old (a replayed request).
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def init_app(app: Flask) -> None:
    """Subscribe to the desk's events; give the worker the webhook queue (idempotent)."""
    events.subscribe(events.TICKET_CREATED, on_ticket_created)
    events.subscribe(events.TICKETS_UPDATED, on_tickets_updated)
    events.subscribe(events.COMMENT_ADDED, on_comment_added)
    worker.register(
        worker.QueueSpec(
            name="webhook", model=WebhookDelivery, deliver=deliver,
            max_attempts=lambda: int(current_app.config["WEBHOOK_MAX_ATTEMPTS"]),
            first_delay_seconds=lambda: float(current_app.config["WEBHOOK_RETRY_SECONDS"]),
        )
    )  # fmt: skip


def deliver(delivery_id: int) -> worker.DeliveryState:
    """POST delivery ``delivery_id`` (the worker, outside any writing transaction).

    :raises worker.TemporaryFailure: no answer, or not a 2xx one: try again later.
    :raises worker.PermanentFailure: the hook is gone or off, or its URL is refused.
    """
    row = db.session.execute(
        sa.select(WebhookDelivery, Webhook).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id == delivery_id)
    ).one_or_none()  # fmt: skip
    if row is None:
        raise worker.PermanentFailure("the webhook was deleted")
    delivery, hook = row
    if not hook.is_active:
        raise worker.PermanentFailure("the webhook is turned off")
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json", "User-Agent": f"supportdesk-webhooks/{__version__}",
        "X-Supportdesk-Event": delivery.event, "X-Supportdesk-Delivery": str(delivery.id),
        TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(hook.secret, timestamp, body),
    }  # fmt: skip
    db.session.remove()  # no transaction is held open while the receiver answers
    config = current_app.config
    started = time.perf_counter()
    try:
        answer = http.post(hook.url, body, headers, timeout=config["WEBHOOK_TIMEOUT_S"],
                           allow_http=config["WEBHOOK_ALLOW_HTTP"],
                           allow_private=config["WEBHOOK_ALLOW_PRIVATE"])  # fmt: skip
    except http.RefusedURLError as exc:
        _attempted(delivery_id, hook.id, None, started, str(exc))
        raise worker.PermanentFailure(str(exc)) from None
    except OSError as exc:
        reason = f"{type(exc).__name__}: {exc}"[:300]
        _attempted(delivery_id, hook.id, None, started, reason)
        raise worker.TemporaryFailure(reason) from None
    ok = 200 <= answer.status < 300
    _attempted(
        delivery_id, hook.id, answer.status, started, None if ok else f"HTTP {answer.status}"
    )
    if not ok:
        raise worker.TemporaryFailure(f"the receiver answered {answer.status}")
    return worker.DeliveryState.SENT


def _attempted(delivery_id: int, hook_id: int, status: int | None, started: float,
               error: str | None) -> None:  # fmt: skip
    """Record an attempt; a success clears the hook's failure record, a long one disables it."""
    now = utcnow()
    with writing(), unit_of_work():
        db.session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                attempted_at=now,
                status_code=status,
                error=error,
                duration_ms=int((time.perf_counter() - started) * 1000),
            )
        )
        hook = db.session.get(Webhook, hook_id, with_for_update=True)
        if hook is None:
            return
        if error is None:
            hook.failing_since = None
        elif hook.failing_since is None:
            hook.failing_since = now
        elif hook.is_active and now - hook.failing_since >= _disable_after():
            with acting_as("webhook delivery", source="system"):
                _disable(hook, now, error)


def _disable_after() -> dt.timedelta:
    return dt.timedelta(hours=float(current_app.config["WEBHOOK_DISABLE_AFTER_HOURS"]))


def _disable(hook: Webhook, now: dt.datetime, error: str) -> None:
    """Turn a hook off after failing too long; cancel its queue; tell its owner."""
    hours = float(current_app.config["WEBHOOK_DISABLE_AFTER_HOURS"])
    hook.is_active = False
    hook.disabled_reason = (f"Every delivery failed for {hours:g} hours (last: {error}); "
                            f"turned off {now:%Y-%m-%d %H:%M} UTC.")[:300]  # fmt: skip
    db.session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id,
               WebhookDelivery.state.in_([*worker.DUE_STATES, worker.DeliveryState.SENDING]))
        .values(state=worker.DeliveryState.CANCELLED, done_at=now, claim_token=None,
                locked_until=None)
    )  # fmt: skip
    if hook.owner_id is not None:
        queue_notice(hook.owner_id, subject="A webhook was turned off", body=(
            f"The webhook {hook.url} (#{hook.id}) failed every delivery for {hours:g} "
            f"hours and has been turned off. The last error: {error}.\n\n"
            "Fix the receiver, then turn the hook on again on the desk's Webhooks page; "
            "events since it was turned off were not kept for it."))  # fmt: skip
