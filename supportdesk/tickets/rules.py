"""The ticket rulebook: every decision about changing a ticket, as pure functions.

Every write path (single edit, bulk actions, macros, merge, take next, the CLI, and later
mail-in and the API) asks these functions, so a rule is written once and the paths cannot
disagree. Nothing here touches the database: the callers read what a rule needs (a
:class:`TicketState`) and act on the answer.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from supportdesk.errors import DomainError
from supportdesk.tickets.models import FINISHED_STATUSES, TicketPriority, TicketStatus

if TYPE_CHECKING:
    from supportdesk.customers.models import Customer
    from supportdesk.tags.models import Tag
    from supportdesk.users.models import User

TITLE_MAX = 200


class Unset(enum.Enum):
    """The type of :data:`UNSET`: a field an edit leaves as it is."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class TicketEdit:
    """What one change does to a ticket: each field is a new value or :data:`UNSET`.

    Built once, typed, from a form, a bulk request, a macro or a CLI option and passed
    down unchanged; ``tags`` is the ticket's whole new tag list.
    """

    title: str | Unset = UNSET
    description: str | Unset = UNSET
    status: TicketStatus | Unset = UNSET
    priority: TicketPriority | Unset = UNSET
    assignee: User | None | Unset = UNSET
    tags: Sequence[Tag] | Unset = UNSET
    requester: Customer | Unset = UNSET
    ccs: Sequence[Customer] | Unset = UNSET
    # A due time set by hand (timezone-aware), or None: the priority's SLA sets it again.
    due_at: dt.datetime | None | Unset = UNSET

    def given(self) -> dict[str, Any]:
        """Return the fields this edit sets, by name."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not UNSET
        }

    def without(self, *names: str) -> TicketEdit:
        """Return this edit with ``names`` left unset."""
        return TicketEdit(**{k: v for k, v in self.given().items() if k not in names})


@dataclass(frozen=True)
class TicketState:
    """What the rules need to know of a ticket as it is now (a row or a loaded object)."""

    status: TicketStatus
    version: int
    updated_at: dt.datetime
    resolved_at: dt.datetime | None = None
    assignee_id: int | None = None
    title: str = ""
    description: str = ""
    priority: TicketPriority | None = None
    tag_ids: frozenset[int] | None = None  # None: not loaded (an edit of tags needs them)
    requester_id: int | None = None
    cc_ids: frozenset[int] | None = None  # None: not loaded (an edit of CCs needs them)
    due_at: dt.datetime | None = None
    due_is_manual: bool = False


class Skip(enum.StrEnum):
    """Why a change leaves a ticket alone (bulk paths count these; single edits raise)."""

    MISSING = "missing"
    CHANGED = "changed"
    CLOSED = "closed"
    UNCHANGED = "unchanged"
    INACTIVE = "inactive"


SKIP_TEXT = {
    Skip.MISSING: "deleted or missing",
    Skip.CHANGED: "changed by someone else since the list was loaded",
    Skip.CLOSED: "closed",
    Skip.UNCHANGED: "already so",
    Skip.INACTIVE: "the person chosen is not active",
}


class InvalidTicketError(DomainError):
    """The values break a rule (empty title, inactive assignee, …); the message says why."""


def clean_title(title: str) -> str:
    """Return the title with its whitespace collapsed.

    :raises InvalidTicketError: it is empty or longer than 200 characters.
    """
    title = " ".join((title or "").split())
    if not title:
        raise InvalidTicketError("A ticket needs a title.")
    if len(title) > TITLE_MAX:
        raise InvalidTicketError(f"The title can have at most {TITLE_MAX} characters.")
    return title


def clean_description(description: str) -> str:
    """Return the description stripped.

    :raises InvalidTicketError: it is empty.
    """
    description = (description or "").strip()
    if not description:
        raise InvalidTicketError("A ticket needs a description.")
    return description


def resolved_at_after(
    new_status: TicketStatus, resolved_at: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """Return ``resolved_at`` after moving to ``new_status``: the one status rule.

    Resolving (or closing) stamps it; reopening clears it; resolved -> closed keeps it.
    """
    if new_status in FINISHED_STATUSES:
        return resolved_at or now
    return None


def is_stale(
    state: TicketState,
    *,
    expected_version: int | None = None,
    loaded_at: dt.datetime | None = None,
) -> bool:
    """Whether the ticket moved on since the editor saw it.

    A known version is compared exactly; without one (an "all matching" selection) a
    ticket updated after the list was loaded counts as changed.
    """
    if expected_version is not None:
        return expected_version != state.version
    return loaded_at is not None and state.updated_at > loaded_at


def assignee_acceptable(is_active: bool, user_id: int, current_id: int | None) -> bool:
    """Whether a person may be the assignee: active, or already assigned (history stays)."""
    return is_active or user_id == current_id


def changed_fields(state: TicketState, edit: TicketEdit) -> set[str]:
    """Return the fields ``edit`` would really change (same value: not a change).

    Titles and descriptions are compared as they would be saved (whitespace cleaned).
    """
    changed = set()
    for name, value in edit.given().items():
        if name == "title":
            same = " ".join((value or "").split()) == state.title
        elif name == "description":
            same = (value or "").strip() == state.description
        elif name == "status":
            same = TicketStatus(value) == state.status
        elif name == "priority":
            same = TicketPriority(value) == state.priority
        elif name == "assignee":
            same = (value.id if value is not None else None) == state.assignee_id
        elif name == "requester":
            same = value.id == state.requester_id
        elif name == "due_at":
            same = (value is None and not state.due_is_manual) or (
                value is not None and state.due_is_manual and due_minute(value) == state.due_at
            )
        else:  # tags, ccs: collections, compared as sets of ids
            loaded = state.tag_ids if name == "tags" else state.cc_ids
            if loaded is None:
                raise ValueError(f"an edit of {name} needs the ticket's {name} loaded")
            same = frozenset(item.id for item in value) == loaded
        if not same:
            changed.add(name)
    return changed


DUE_MAX_AHEAD = dt.timedelta(days=5 * 365)
DUE_IN_PAST = "A due time set by hand must be in the future; leave it empty to follow the SLA."
DUE_TOO_FAR = "A due time can be at most five years ahead."


def due_minute(due: dt.datetime) -> dt.datetime:
    """Return a due time as the desk keeps one set by hand: UTC, to the minute.

    :raises InvalidTicketError: it has no time zone (the forms and the API always give one).
    """
    if due.tzinfo is None:
        raise InvalidTicketError("A due time needs its time zone.")
    # Beyond these years moving it to UTC can overflow Python's dates (year 1 or 9999).
    if due.year < 1971:
        raise InvalidTicketError(DUE_IN_PAST)
    if due.year > 9998:
        raise InvalidTicketError(DUE_TOO_FAR)
    return due.astimezone(dt.UTC).replace(second=0, microsecond=0)


def clean_due(due: dt.datetime | None, *, now: dt.datetime) -> dt.datetime | None:
    """Return a due time set by hand as it is saved, or None to let the SLA set it.

    A ticket's due time follows its priority's SLA (``due_at_for``) until someone sets one
    by hand; that time then stays when the priority changes, until it is cleared.

    :raises InvalidTicketError: it is not in the future, or more than five years ahead.
    """
    if due is None:
        return None
    due = due_minute(due)
    if due <= now:
        raise InvalidTicketError(DUE_IN_PAST)
    if due > now + DUE_MAX_AHEAD:
        raise InvalidTicketError(DUE_TOO_FAR)
    return due


def due_follows_priority(state_is_manual: bool, changed: Iterable[str]) -> bool:
    """Whether this change recomputes the due time from the priority's SLA.

    A new priority moves a due time that follows the SLA; a due time set by hand stays
    (unless the same change clears it, which hands it back to the SLA).
    """
    changed = set(changed)
    return "priority" in changed and not state_is_manual and "due_at" not in changed


def closed_refuses(state: TicketState, changed: Iterable[str]) -> bool:
    """Whether a closed ticket refuses these changes: closed is read-only but for reopening."""
    return state.status == TicketStatus.CLOSED and bool(set(changed) - {"status"})


def reopens(state: TicketState, changed: Iterable[str]) -> bool:
    """Whether a change reopens a closed ticket (then it is applied first, the rest after)."""
    return state.status == TicketStatus.CLOSED and "status" in set(changed)


def skip_reason(
    state: TicketState,
    changed: set[str],
    *,
    expected_version: int | None = None,
    loaded_at: dt.datetime | None = None,
    assignee: tuple[bool, int] | None = None,
) -> Skip | None:
    """Return why a change must leave the ticket alone, or None to go ahead.

    :param changed: what the change would alter (:func:`changed_fields`).
    :param assignee: ``(is_active, id)`` of a new assignee, when the change assigns one.
    The order is the same on every path: stale first, then nothing to do, then closed,
    then an unacceptable assignee.
    """
    if is_stale(state, expected_version=expected_version, loaded_at=loaded_at):
        return Skip.CHANGED
    if not changed:
        return Skip.UNCHANGED
    if closed_refuses(state, changed):
        return Skip.CLOSED
    if (
        assignee is not None
        and "assignee" in changed
        and not assignee_acceptable(assignee[0], assignee[1], state.assignee_id)
    ):
        return Skip.INACTIVE
    return None


def ccs_without_requester(requester_id: int | None, ccs: Iterable[Customer]) -> list[Customer]:
    """Return the CCs less the requester and repeats: the requester is never also a CC."""
    seen: set[int | None] = {requester_id}
    kept = []
    for customer in ccs:
        if customer.id not in seen:
            seen.add(customer.id)
            kept.append(customer)
    return kept


def may_comment(state: TicketState) -> bool:
    """Whether a reply or note may be added: not on a closed ticket."""
    return state.status != TicketStatus.CLOSED


# What a customer's email does to the ticket it answers.
REOPENED_BY_CUSTOMER = (TicketStatus.RESOLVED, TicketStatus.WAITING_ON_CUSTOMER)


def status_after_customer_reply(status: TicketStatus) -> TicketStatus | None:
    """Return the status a customer's reply moves a ticket to (None: it stays).

    Resolved and waiting-on-customer tickets are open again: the customer is waiting now.
    A closed ticket takes no reply at all (:func:`takes_customer_reply`).
    """
    return TicketStatus.OPEN if status in REOPENED_BY_CUSTOMER else None


def takes_customer_reply(status: TicketStatus) -> bool:
    """Whether a customer's email is added to the ticket; a closed one gets a follow-up."""
    return status != TicketStatus.CLOSED


UNDO_SECONDS = 30  # how long whoever deleted a ticket may take it back out of the trash


def may_restore(*, deleted_by_id: int | None, deleted_at: dt.datetime, user_id: int,
                is_admin: bool, now: dt.datetime) -> bool:  # fmt: skip
    """Whether this user may take the ticket out of the trash now.

    Admins always; the agent who deleted it for :data:`UNDO_SECONDS` (the Undo link).
    """
    if is_admin:
        return True
    return deleted_by_id == user_id and (now - deleted_at).total_seconds() <= UNDO_SECONDS
