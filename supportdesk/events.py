"""Domain events, handled synchronously in the transaction that raised them.

A feature announces what happened (``comment.added``, ``ticket.created``) without knowing
who listens; a listener (outbound mail today, webhooks later) records its side effect in
the same transaction, so a rolled-back reply leaves nothing behind and a committed one is
never forgotten. Delivery to the outside world happens later, in the worker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

Handler = Callable[..., None]
_handlers: defaultdict[str, list[Handler]] = defaultdict(list)

COMMENT_ADDED = "comment.added"  # comment=, ticket=
TICKET_CREATED = "ticket.created"  # ticket=
# One or more tickets changed (an edit, a macro, a bulk action, the trash): ticket_ids=,
# changed= (field names; {"deleted"} when moved to the trash).
TICKETS_UPDATED = "tickets.updated"


def subscribe(name: str, handler: Handler) -> None:
    """Call ``handler(**details)`` whenever ``name`` is published (idempotent)."""
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def publish(name: str, **details: Any) -> None:
    """Run every handler of ``name`` now, in the caller's transaction; errors propagate."""
    for handler in list(_handlers.get(name, ())):
        handler(**details)
