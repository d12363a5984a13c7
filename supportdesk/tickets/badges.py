"""The small badges every ticket row shows (status, priority, tags), as template globals.

They were Jinja macros; a macro call costs several microseconds, and a list page makes
about four per row. Status and priority badges come from a fixed set, built once; a tag
chip is escaped text in a fixed frame.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from supportdesk.tickets.models import TicketPriority, TicketStatus

_PRIORITY_MARKS = {TicketPriority.URGENT: "!! ", TicketPriority.HIGH: "! "}

STATUS_BADGES = {
    status: Markup('<span class="badge status-{}">{}</span>').format(status.value, status.label)
    for status in TicketStatus
}
PRIORITY_BADGES = {
    priority: Markup('<span class="badge priority-{}">{}{}</span>').format(
        priority.value, _PRIORITY_MARKS.get(priority, ""), priority.label
    )
    for priority in TicketPriority
}


def status_badge(ticket: Any) -> Markup:
    """Return the ticket's status badge."""
    return STATUS_BADGES[ticket.status]


def priority_badge(ticket: Any) -> Markup:
    """Return the ticket's priority badge ("!!" urgent, "!" high)."""
    return PRIORITY_BADGES[ticket.priority]


def tag_chip(tag: Any) -> Markup:
    """Return a tag as a coloured chip (name and colour escaped)."""
    return Markup('<span class="chip" style="--chip: {}">{}</span>').format(tag.colour, tag.name)


GLOBALS = {"status_badge": status_badge, "priority_badge": priority_badge, "tag_chip": tag_chip}
