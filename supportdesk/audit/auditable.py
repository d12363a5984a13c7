"""What a model declares to be audited; the listener reads only these declarations.

A feature's model opts in by subclassing :class:`Auditable` and naming itself; the audit
machinery never imports a feature package (STYLE.md §12).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar


class Auditable:
    """Mixin for a mapped model whose every change is written to the audit log.

    Class attributes (all but ``__audit_name__`` optional):

    ``__audit_name__``
        the prefix of its actions: ``ticket`` gives ``ticket.created``, ``ticket.updated``.
    ``__audit_exclude__``
        columns never recorded (bookkeeping that follows from a recorded change).
    ``__audit_secrets__``
        column -> label: a change is recorded as ``{label: "changed"}``, never the value;
        the column is left out of the creation row.
    ``__audit_collections__``
        many-to-many attribute -> singular: changes are recorded as id lists in actions
        ``<name>.<singular>_added`` / ``<name>.<singular>_removed``.
    ``__audit_soft_delete__``
        a column whose setting/clearing is recorded as ``<name>.deleted``/``.restored``.
    ``__audit_delete_action__``
        the action suffix of a real DELETE (``deleted``; tickets say ``purged``).
    ``__audit_ticket_key__``
        the column holding the id of the ticket the row belongs to (``id`` for a
        ticket itself), so a ticket's timeline finds it.
    """

    __audit_name__: ClassVar[str]
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"updated_at"})
    __audit_secrets__: ClassVar[Mapping[str, str]] = {}
    __audit_collections__: ClassVar[Mapping[str, str]] = {}
    __audit_soft_delete__: ClassVar[str | None] = None
    __audit_delete_action__: ClassVar[str] = "deleted"
    __audit_ticket_key__: ClassVar[str | None] = None


def audited_classes() -> Iterator[type[Any]]:
    """Yield every class that subclasses :class:`Auditable`, however deep."""
    pending = list(Auditable.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        yield cls
