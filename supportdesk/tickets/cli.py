"""``flask tickets …``: admin commands for tickets."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from typing import Any

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from supportdesk.attachments.service import sweep_unreferenced_files
from supportdesk.audit import queries as audit_queries
from supportdesk.audit.cli import group as audit_group
from supportdesk.audit.context import acting_as
from supportdesk.audit.models import AuditLog
from supportdesk.csvexport import stream_csv
from supportdesk.db import parse_id, unit_of_work
from supportdesk.errors import DomainError
from supportdesk.extensions import db
from supportdesk.tags.models import Tag
from supportdesk.tickets import backfill, export, search
from supportdesk.tickets.models import Comment, Ticket, TicketPriority, TicketStatus
from supportdesk.tickets.queries import SORT_KEYS, TicketFilters, parse_reference
from supportdesk.tickets.service import purge_tickets
from supportdesk.users.models import User

group = AppGroup("tickets", help="Ticket administration.")


@group.command("purge")
@click.argument("references", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_command(references: tuple[str, ...], yes: bool) -> None:
    """Delete trashed tickets for good (e.g. ``flask tickets purge SD-1042 1043``).

    Only tickets already in the trash can be purged. Their comments, tags and attachment
    rows go with them; stored files no other attachment uses are removed afterwards.
    """
    numbers = []
    for reference in references:
        number = parse_reference(reference)
        if number is None:
            raise click.ClickException(f"{reference!r} is not a ticket number.")
        numbers.append(number)
    tickets = list(db.session.scalars(sa.select(Ticket).where(Ticket.number.in_(numbers))))
    found = {t.number for t in tickets}
    missing = [n for n in numbers if n not in found]
    if missing:
        raise click.ClickException("No such ticket: " + ", ".join(f"SD-{n}" for n in missing))
    listing = ", ".join(t.reference for t in tickets)
    if not yes and all(t.deleted_at is not None for t in tickets):
        click.confirm(f"Purge {listing} for good? This cannot be undone", abort=True)
    try:
        with acting_as("cli:tickets-purge"), unit_of_work():
            purge_tickets(tickets)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    removed = sweep_unreferenced_files()
    click.echo(f"Purged {listing}; removed {removed} stored files no longer used.")


export_group = AppGroup("export", help="Export data as CSV.")


def _tag_ids(values: tuple[str, ...]) -> list[int]:
    ids = []
    for value in values:
        as_id = parse_id(value)
        condition = (
            Tag.id == as_id if as_id is not None else sa.func.lower(Tag.name) == value.lower()
        )
        tag_id = db.session.scalar(sa.select(Tag.id).where(condition))
        if tag_id is None:
            raise click.BadParameter(f"no tag {value!r}", param_hint="--tag")
        ids.append(tag_id)
    return ids


@export_group.command("tickets")
@click.option("--q", "q", default="", help="Search text, as in the list's search box.")
@click.option("--status", multiple=True, type=click.Choice([s.value for s in TicketStatus]))
@click.option("--priority", multiple=True, type=click.Choice([p.value for p in TicketPriority]))
@click.option("--assignee", default="", help="A user id, an email, or 'none'.")
@click.option("--tag", multiple=True, help="A tag name or id; repeat: every tag must match.")
@click.option("--created-from", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD (UTC).")
@click.option("--created-to", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD, inclusive.")
@click.option("--sort", type=click.Choice(list(SORT_KEYS)), default="created", show_default=True)
@click.option("--dir", "direction", type=click.Choice(["desc", "asc"]), default="desc")
@click.option("--include-deleted", is_flag=True, help="Include tickets in the trash.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8", lazy=True), default="-",
              help="File to write (default: standard output).")  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress bar on standard error.")
def export_tickets_command(
    q: str, status: tuple[str, ...], priority: tuple[str, ...], assignee: str,
    tag: tuple[str, ...], created_from: dt.datetime | None, created_to: dt.datetime | None,
    sort: str, direction: str, include_deleted: bool, output: Any, quiet: bool,
) -> None:  # fmt: skip
    """Write the tickets matching the filters as CSV (the list's "Export CSV").

    e.g. ``flask export tickets --status open --tag billing > open-billing.csv``
    """
    filters = TicketFilters(
        q=search.clean(q), statuses=[TicketStatus(s) for s in status],
        priorities=[TicketPriority(p) for p in priority], assignee=_assignee(assignee),
        tag_ids=_tag_ids(tag), created_from=created_from.date() if created_from else None,
        created_to=created_to.date() if created_to else None, sort=sort, direction=direction,
        include_deleted=include_deleted,
    )  # fmt: skip
    if filters.search is not None and not filters.search.usable:
        raise click.BadParameter(filters.search.problem or "", param_hint="--q")
    total = export.count(filters, user_id=None)
    rows = export.rows(filters, user_id=None)
    with click.progressbar(
        length=total, label=f"Exporting {total:,} tickets", file=sys.stderr, hidden=quiet
    ) as bar:

        def counted() -> Iterator[tuple[Any, ...]]:
            for row in rows:
                bar.update(1)
                yield row

        for chunk in stream_csv(export.COLUMNS, counted(), joined=export.JOINED_COLUMNS):
            output.write(chunk)
    output.flush()


def _assignee(value: str) -> str:
    value = value.strip()
    if value in ("", "none") or parse_id(value) is not None:
        return value
    if value == "me":
        raise click.BadParameter(
            "'me' has no meaning here; give a user id or email", param_hint="--assignee"
        )
    user_id = db.session.scalar(
        sa.select(User.id).where(sa.func.lower(User.email) == value.lower())
    )
    if user_id is None:
        raise click.BadParameter(f"no user {value!r}", param_hint="--assignee")
    return str(user_id)


backfill_group = AppGroup("backfill", help="Fill new columns for existing rows, in batches.")


@backfill_group.command("due-at")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=1_000, show_default=True,
              help="Tickets per committed batch.")  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress bar.")
def backfill_due_at_command(batch_size: int, quiet: bool) -> None:
    """Stamp the SLA due time on tickets created before it existed.

    Resumable and idempotent: each batch commits on its own and only empty values are
    filled, so an interrupted run is simply started again. Run it between the revisions
    e1f2a3b4c5d6 and f2a3b4c5d6e7 on a big desk (see docs/upgrading.md).
    """
    missing = backfill.missing_due_at()
    if not missing:
        click.echo("Every ticket has its due time; nothing to do.")
        return
    top = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(Ticket.id), 0))) or 0
    with (
        acting_as("cli:backfill"),
        click.progressbar(
            length=top + 1, label=f"Stamping {missing:,} tickets", file=sys.stderr, hidden=quiet
        ) as bar,
    ):
        filled = backfill.backfill_due_at(batch_size=batch_size, progress=bar.update)
    click.echo(f"Stamped the due time on {filled:,} tickets.")


render_group = AppGroup("render", help="Stored HTML of descriptions and comments.")


@render_group.command("refresh")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=1_000, show_default=True,
              help="Rows per committed batch.")  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress bar.")
def render_refresh_command(batch_size: int, quiet: bool) -> None:
    """Store the rendered HTML of texts that have none of this renderer's version.

    Texts written before it was stored, or after an upgrade that changed the renderer.
    Resumable; the desk keeps working.
    """
    top = (db.session.scalar(sa.select(sa.func.max(Ticket.id))) or 0) + (
        db.session.scalar(sa.select(sa.func.max(Comment.id))) or 0
    )
    with click.progressbar(length=top + 2, label="Rendering", file=sys.stderr,
                           hidden=quiet) as bar:  # fmt: skip
        done = backfill.refresh_rendered(batch_size=batch_size, progress=bar.update)
    click.echo(f"Stored the HTML of {done:,} descriptions and comments.")


@audit_group.command("show")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def show_command(reference: str, as_json: bool) -> None:
    """Print a ticket's history (``flask audit show SD-1042``), purged tickets too."""
    number = parse_reference(reference)
    if number is None:
        raise click.ClickException(f"{reference!r} is not a ticket number.")
    ticket_id = db.session.scalar(sa.select(Ticket.id).where(Ticket.number == number))
    if ticket_id is None:  # purged: find it by the number its creation recorded
        ticket_id = db.session.scalar(
            sa.select(AuditLog.entity_id).where(
                AuditLog.action == "ticket.created",
                AuditLog.changes["number"]["new"].as_integer() == number,
            )
        )
    if ticket_id is None:
        raise click.ClickException(f"No history for SD-{number}.")
    entries = audit_queries.ticket_history(ticket_id)
    people = dict(db.session.execute(sa.select(User.id, User.full_name)).all())
    tags = dict(db.session.execute(sa.select(Tag.id, Tag.name)).all())
    for entry in entries:
        log = entry.log
        if as_json:
            click.echo(json.dumps({"id": log.id, "at": log.occurred_at.isoformat(),
                                   "actor": entry.actor_name, "action": log.action,
                                   "changes": log.changes}, sort_keys=True))  # fmt: skip
        else:
            when = log.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
            click.echo(
                f"{when}  {entry.actor_name:<20}  {audit_queries.describe(entry, people, tags)}"
            )
