"""``flask tickets …``: admin commands for tickets."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from supportdesk.attachments.service import sweep_unreferenced_files
from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.tickets.models import Ticket
from supportdesk.tickets.queries import parse_reference
from supportdesk.tickets.service import purge_ticket

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
    live = [t.reference for t in tickets if t.deleted_at is None]
    if live:
        raise click.ClickException(
            "Only tickets in the trash can be purged; delete these first: " + ", ".join(live)
        )
    listing = ", ".join(t.reference for t in tickets)
    if not yes:
        click.confirm(f"Purge {listing} for good? This cannot be undone", abort=True)
    with acting_as("cli:tickets-purge"), unit_of_work():
        for ticket in tickets:
            purge_ticket(ticket)
    removed = sweep_unreferenced_files()
    click.echo(f"Purged {listing}; removed {removed} stored files no longer used.")
