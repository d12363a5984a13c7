"""``flask audit …``: seal, verify and prune the audit trail.

``flask audit show`` (a ticket's history) belongs to the tickets package, which adds it
to this group: the audit machinery knows no feature.
"""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from supportdesk.audit import integrity
from supportdesk.audit.context import acting_as
from supportdesk.audit.service import prune, seal_log
from supportdesk.db import unit_of_work
from supportdesk.errors import DomainError
from supportdesk.extensions import db

group = AppGroup("audit", help="The audit trail.")


@group.command("seal")
def seal_command() -> None:
    """Append a seal over the entries written since the last one (run it from cron)."""
    with acting_as("cli:audit-seal"), unit_of_work():
        new = seal_log()
    if new is None:
        click.echo("Nothing to seal.")
    else:
        click.echo(f"Sealed {new.row_count} entries ({new.first_log_id}–{new.last_log_id}): "
                   f"{new.digest}")  # fmt: skip


@group.command("verify")
def verify_command() -> None:
    """Recompute every entry's hash and the seal chain; exit 1 at the first mismatch."""
    rows, seals, problem = integrity.verify()
    if problem is not None:
        raise click.ClickException(f"{problem.message} (checked {rows} entries before it)")
    click.echo(f"OK: {rows} entries and {seals} seals verified.")


@group.command("prune")
@click.option(
    "--before",
    "before",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="Delete entries older than this date (UTC), whole seals at a time.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def prune_command(before: dt.datetime, yes: bool) -> None:
    """Delete old audit entries (the only way any are ever deleted); the prune is logged."""
    if not yes:
        click.confirm(f"Delete audit entries older than {before:%Y-%m-%d}?", abort=True)
    try:
        with acting_as("cli:audit-prune"), unit_of_work():
            count = prune(before.replace(tzinfo=dt.UTC))
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Pruned {count} entries.")


def grants_sql(role: str) -> str:
    """Return the GRANTs that let ``role`` run the app but only append to the audit log."""
    if not role.replace("_", "").isalnum():
        raise click.ClickException("A role name may use letters, digits and underscores only.")
    return f"""\
GRANT CONNECT ON DATABASE current_database_placeholder TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
REVOKE UPDATE, DELETE, TRUNCATE ON audit_logs, audit_seals FROM {role};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role};
"""


@group.command("grants")
@click.option("--role", required=True, help="The PostgreSQL role the app connects as.")
def grants_command(role: str) -> None:
    """Print SQL giving the app's role all it needs, but only INSERT/SELECT on the log."""
    database = db.engine.url.database or ""
    click.echo(grants_sql(role).replace("current_database_placeholder", f'"{database}"'), nl=False)
