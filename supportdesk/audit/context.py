"""Who is acting: set per request by auth, per command by ``acting_as``; read by listeners."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any


class MissingActorError(RuntimeError):
    """An audited write happened with no actor set: a bug in the calling code path."""


@dataclass(frozen=True)
class AuditContext:
    """The actor and origin recorded on every audit row of a unit of work."""

    actor_id: int | None
    actor_label: str
    source: str  # "web", "api", "cli", "email" or "system"
    request_id: str | None = None
    remote_addr: str | None = None
    actor_type: str = "user"  # or "customer": a customer's email (actor_id is None then)


_current: ContextVar[AuditContext | None] = ContextVar("supportdesk_audit", default=None)


def current_context() -> AuditContext:
    """Return the current context, or raise :class:`MissingActorError`."""
    context = _current.get()
    if context is None:
        raise MissingActorError(
            "an audited change was made with no actor; wrap it in acting_as(...) "
            "(requests get one from the auth hook)"
        )
    return context


def set_context(context: AuditContext | None) -> Any:
    """Set the context; return a token for :func:`reset_context`."""
    return _current.set(context)


def reset_context(token: Any) -> None:
    """Restore the context that was current before :func:`set_context`."""
    _current.reset(token)


def update_actor(actor_id: int | None, actor_label: str, *, source: str | None = None) -> None:
    """Change the actor of the current context (after a login in the same request).

    ``source`` changes the channel too (``api`` for a request made with a token).
    """
    context = _current.get()
    if context is not None:
        _current.set(replace(context, actor_id=actor_id, actor_label=actor_label,
                             source=source or context.source))  # fmt: skip


@contextmanager
def acting_as(actor: Any, *, source: str = "cli") -> Iterator[AuditContext]:
    """Record changes made inside the block as done by ``actor``.

    ``actor`` is a user (its id and email are recorded) or a label such as
    ``"cli:seed"`` for commands and system jobs (no user id).
    """
    if isinstance(actor, str):
        context = AuditContext(actor_id=None, actor_label=actor, source=source)
    else:
        context = AuditContext(actor_id=actor.id, actor_label=actor.email, source=source)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


@contextmanager
def acting_as_customer(email: str, *, source: str = "email") -> Iterator[AuditContext]:
    """Record changes made inside the block as done by the customer with ``email``."""
    context = AuditContext(actor_id=None, actor_label=email, source=source,
                           actor_type="customer")  # fmt: skip
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
