"""Edit conflicts: what each field looked like when the editor loaded the form.

The only place where ticket fields travel as strings: the edit form carries a
fingerprint of every field, and a save over someone else's newer save is explained
field by field (theirs, mine, both) with nothing typed lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from supportdesk.customers.service import format_address
from supportdesk.tickets.models import Ticket

EDITABLE_FIELDS = ("requester", "cc", "title", "description", "status", "priority", "assignee",
                   "tags", "due")  # fmt: skip


def editable_values(ticket: Ticket, *, fields: Iterable[str] = EDITABLE_FIELDS) -> dict[str, str]:
    """Return the ticket's editable fields as comparable strings.

    Reading ``tags`` needs the collection loaded; leave it out of ``fields`` otherwise.
    """
    getters = {
        "title": lambda: ticket.title,
        "description": lambda: ticket.description,
        "status": lambda: ticket.status.value,
        "priority": lambda: ticket.priority.value,
        "assignee": lambda: "" if ticket.assignee_id is None else str(ticket.assignee_id),
        "tags": lambda: _comparable("tags", ticket.tags),
        "requester": lambda: requester_text(ticket),
        "cc": lambda: cc_text(ticket.ccs),
        "due": lambda: due_text(ticket.due_at if ticket.due_is_manual else None),
    }
    return {name: getters[name]() for name in fields}


def _comparable(field: str, value: Any) -> str:
    if field == "assignee":
        return "" if value is None else str(value.id)
    if field == "tags":
        return ",".join(str(t.id) for t in sorted(value, key=lambda t: t.id))
    if field in ("status", "priority"):
        return str(getattr(value, "value", value))
    if field in ("title", "requester", "cc"):
        return " ".join((value or "").split())
    return (value or "").strip()


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def fingerprints(values: Mapping[str, str]) -> str:
    """Return a compact token of each field's value (travels in the edit form)."""
    return json.dumps(
        {k: _fingerprint(v) for k, v in values.items()},
        separators=(",", ":"),
        sort_keys=True,
    )


@dataclass(frozen=True)
class ConflictReport:
    """What happened between loading a form and saving it."""

    theirs: dict[str, str]  # fields someone else changed: their current value
    mine: set[str]  # fields this editor changed
    both: set[str]  # changed by both (this editor's value is kept in the form)
    merged: dict[str, str]  # the form's new values: current, with this editor's changes


def explain_conflict(
    ticket: Ticket, *, original: str | None, submitted: Mapping[str, str]
) -> ConflictReport:
    """Compare the editor's form with the ticket as it is now.

    Without a readable ``original`` token every differing field counts as this editor's
    change, so nothing typed is lost.
    """
    current = editable_values(ticket)
    try:
        base = json.loads(original or "")
        if not isinstance(base, dict):
            raise ValueError
    except ValueError:
        base = {}

    # Mine: fields the editor changed from what they loaded, and that differ from now.
    mine = {
        f
        for f, value in submitted.items()
        if f in current
        and value != current[f]
        and (f not in base or _fingerprint(value) != base[f])
    }
    theirs = {f: current[f] for f in current if f in base and _fingerprint(current[f]) != base[f]}
    merged = {f: (submitted[f] if f in mine else current[f]) for f in current}
    return ConflictReport(theirs=theirs, mine=mine, both=mine & set(theirs), merged=merged)


def requester_text(ticket: Ticket) -> str:
    """Return the requester as the form shows it: ``Name <email>``, or ''."""
    customer = ticket.requester if ticket.requester_id is not None else None
    if customer is None:
        return ""
    return format_address(customer.name, customer.email)


def cc_text(ccs: Iterable[Any]) -> str:
    """Return the CCs as the form shows them: addresses separated by commas."""
    return ", ".join(format_address(c.name, c.email) for c in ccs)


def due_text(due: dt.datetime | None) -> str:
    """Return a due time set by hand as compared here (UTC, to the minute), '' for the SLA's."""
    if due is None:
        return ""
    return due.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def due_of(text: str) -> dt.datetime | None:
    """Return the due time that :func:`due_text` wrote (None: follow the SLA)."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M%z") if text else None


def as_strings(
    *, requester: str, cc: str, title: str, description: str, status: str, priority: str,
    assignee_id: int | None, tag_ids: Iterable[int], due: str,
) -> dict[str, str]:  # fmt: skip
    """Return an edit form's values as the comparable strings of :func:`editable_values`."""
    return {
        "requester": " ".join(requester.split()), "cc": " ".join(cc.split()),
        "title": title, "description": description, "status": status, "priority": priority,
        "assignee": "" if assignee_id is None else str(assignee_id),
        "tags": ",".join(str(i) for i in sorted(set(tag_ids))), "due": due,
    }  # fmt: skip
