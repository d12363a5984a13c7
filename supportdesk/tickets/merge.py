"""Merging a duplicate ticket into another one.

Merging B into A moves B's replies and notes (with their attachments) to A, where they
join A's conversation in time order; A gets the union of both tickets' tags; B is closed
with ``merged_into_id`` pointing at A, and each ticket gets an internal note saying what
happened. Every change goes through the ticket service (the rulebook: tags and status by
``update_ticket``, the notes by ``add_comment``), so the audit trail records it on both
tickets (B: status, resolved_at, merged_into_id; A: tags, the moved comments, the note).

Both rows are locked (``SELECT … FOR UPDATE`` in id order, so two merges never deadlock)
before anything is checked: of two concurrent merges of the same ticket, the second sees
the first one's result and is refused. On SQLite write requests are serialised already.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from supportdesk.attachments.models import Attachment
from supportdesk.errors import DomainError
from supportdesk.extensions import db
from supportdesk.tickets import followers, rules, service
from supportdesk.tickets.models import Comment, Ticket, TicketFollower, TicketStatus
from supportdesk.tickets.rules import TicketEdit
from supportdesk.users.models import User


class MergeRefusedError(DomainError):
    """The merge would be wrong (itself, a deleted or merged ticket, a cycle)."""


def merge_ticket(source_id: int, *, into_number: int, actor: User) -> Ticket:
    """Merge the ticket ``source_id`` into the ticket numbered ``into_number``.

    :returns: the ticket merged into.
    :raises MergeRefusedError: with a message for the agent.
    """
    target_id = db.session.scalar(sa.select(Ticket.id).where(Ticket.number == into_number))
    if target_id is None:
        raise MergeRefusedError(f"There is no ticket SD-{into_number}.")
    if target_id == source_id:
        raise MergeRefusedError("A ticket cannot be merged into itself.")
    stmt = (
        sa.select(Ticket)
        .where(Ticket.id.in_([source_id, target_id]))
        .order_by(Ticket.id)
        .options(
            selectinload(Ticket.tags), selectinload(Ticket.ccs), joinedload(Ticket.requester)
        )  # fmt: skip
        .execution_options(populate_existing=True)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Ticket)
    locked = {t.id: t for t in db.session.scalars(stmt)}
    source, target = locked[source_id], locked[target_id]
    _check(source, target)

    comments = list(db.session.scalars(sa.select(Comment).where(Comment.ticket_id == source.id)))
    for comment in comments:
        comment.ticket_id = target.id
    # Attachments of the moved comments follow them (those of B's description stay).
    db.session.execute(
        sa.update(Attachment)
        .where(Attachment.ticket_id == source.id, Attachment.comment_id.is_not(None))
        .values(ticket_id=target.id)
        .execution_options(synchronize_session=False)
    )
    service.update_ticket(target, _carried_over(source, target), actor=actor)
    moved = f"{len(comments)} repl{'y' if len(comments) == 1 else 'ies'}"
    service.add_comment(target, author=actor, is_internal=True,
                        body=f"{source.reference} ({source.title}) was merged into this ticket "
                             f"by {actor.full_name}; {moved} moved here.")  # fmt: skip
    if not source.is_closed:
        note = f"Merged into {target.reference} by {actor.full_name}."
        service.add_comment(source, author=actor, is_internal=True, body=note)
        service.update_ticket(source, TicketEdit(status=TicketStatus.CLOSED), actor=actor)
    source.merged_into_id = target.id
    # Whoever followed the duplicate now follows the ticket it went into.
    watching = db.session.scalars(
        sa.select(TicketFollower.user_id).where(TicketFollower.ticket_id == source.id)
    ).all()
    for user_id in watching:
        followers.follow([target.id], user_id)
    source.updated_by = actor
    target.updated_by = actor
    db.session.flush()
    return target


def _carried_over(source: Ticket, target: Ticket) -> TicketEdit:
    """Return what the ticket kept gains: the duplicate's tags, and its people as CCs.

    The duplicate's requester and CCs keep hearing about it (the rulebook leaves out the
    kept ticket's requester and any repeat); an empty edit changes nothing.
    """
    missing = [tag for tag in source.tags if tag not in target.tags]
    people = [c for c in (*source.ccs, source.requester) if c is not None]
    new_ccs = [c for c in people if c not in target.ccs and c.id != target.requester_id]
    return TicketEdit(
        tags=[*target.tags, *missing] if missing else rules.UNSET,
        ccs=[*target.ccs, *new_ccs] if new_ccs else rules.UNSET,
    )


def _check(source: Ticket, target: Ticket) -> None:
    if source.merged_into_id is not None:
        raise MergeRefusedError(f"{source.reference} was already merged into another ticket.")
    if source.deleted_at is not None:
        raise MergeRefusedError(f"{source.reference} is in the trash; restore it first.")
    if target.deleted_at is not None:
        # The same words as for a number that does not exist: an agent cannot see the
        # trash, so the answer must not tell them what is in it (#18, 14).
        raise MergeRefusedError(f"There is no ticket {target.reference}.")
    if target.merged_into_id is not None:
        # Merging into a merged ticket would chain (and, if that one was merged into this
        # one, loop): point at the ticket it went into instead.
        raise MergeRefusedError(
            f"{target.reference} was itself merged into another ticket; merge into that one."
        )
    if target.is_closed:
        # A closed ticket is read-only: it takes no replies, notes or tags until reopened.
        raise MergeRefusedError(f"{target.reference} is closed; reopen it first.")
