"""Admin commands: ``flask create-user``, ``flask seed``, ``flask demo``."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
import threading

import click
import sqlalchemy as sa
from flask import Flask, current_app

from supportdesk import deploycheck, worker
from supportdesk.api import cli as api_cli
from supportdesk.attachments import cli as attachments_cli
from supportdesk.audit import cli as audit_cli
from supportdesk.audit.context import acting_as
from supportdesk.backup import cli as backup_cli
from supportdesk.db import unit_of_work
from supportdesk.errors import DomainError
from supportdesk.explain import ExplainError, explain_page
from supportdesk.extensions import db
from supportdesk.mail import cli as mail_cli
from supportdesk.paths import STATIC
from supportdesk.seed import refresh_statistics, seed_demo_data
from supportdesk.tickets import cli as tickets_cli
from supportdesk.tickets.models import Ticket
from supportdesk.users import cli as users_cli
from supportdesk.users.models import User, UserRole
from supportdesk.users.service import create_user, reset_password

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_TICKETS = 200
ANALYZE_FROM = 10_000  # tickets; below that autovacuum catches up soon enough


def init_app(app: Flask) -> None:
    """Register the commands on the app's ``flask`` CLI."""
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(check_deploy_command)
    app.cli.add_command(db_explain_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(tickets_cli.group)
    app.cli.add_command(tickets_cli.export_group)
    app.cli.add_command(tickets_cli.backfill_group)
    app.cli.add_command(tickets_cli.render_group)
    app.cli.add_command(audit_cli.group)
    app.cli.add_command(mail_cli.group)
    app.cli.add_command(users_cli.group)
    app.cli.add_command(backup_cli.group)
    app.cli.add_command(static_dir_command)
    app.cli.add_command(attachments_cli.group)
    app.cli.add_command(api_cli.group)


@click.command("static-dir")
def static_dir_command() -> None:
    """Print the folder of the static files (for nginx to serve ``/static/`` from)."""
    click.echo(STATIC)


@click.command("create-user")
@click.argument("email")
@click.option("--name", "full_name", required=True, help="Full name shown to colleagues.")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
def create_user_command(email: str, full_name: str, admin: bool, password_stdin: bool) -> None:
    """Create a staff account; asks for the password twice unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    role = UserRole.ADMIN if admin else UserRole.AGENT
    try:
        with acting_as("cli:create-user"), unit_of_work():
            user = create_user(email, full_name=full_name, password=password, role=role)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.role.value} {user.email} (id {user.id}).")


@click.command("seed")
@click.option(
    "--tickets",
    "n_tickets",
    type=click.IntRange(0, 10_000_000),
    default=200,
    show_default=True,
    help="How many tickets to create.",
)
@click.option(
    "--seed",
    "seed",
    type=int,
    default=1,
    show_default=True,
    help="Random seed: the same seed gives the same data.",
)
@click.option(
    "--comments-per-ticket",
    type=click.FloatRange(0, 12),
    default=3.0,
    show_default=True,
    help="Average number of comments per ticket.",
)
@click.option(
    "--staff",
    type=click.IntRange(1, 500),
    default=None,
    help="Demo agents (default: tickets/20, between 5 and 50).",
)
@click.option("--tags", type=click.IntRange(0, 40), default=None, help="Tags (default 40).")
@click.option("--append", is_flag=True, help="Add to a desk that already has tickets.")
def seed_command(
    n_tickets: int,
    seed: int,
    comments_per_ticket: float,
    staff: int | None,
    tags: int | None,
    append: bool,
) -> None:
    """Fill the database with deterministic demo data."""
    try:
        with (
            acting_as("cli:seed"),
            unit_of_work(),
            click.progressbar(length=n_tickets, label="Seeding tickets", file=sys.stderr) as bar,
        ):
            result = seed_demo_data(
                tickets=n_tickets,
                seed=seed,
                staff=staff,
                tags=tags,
                comments_per_ticket=comments_per_ticket,
                append=append,
                progress=bar.update,
            )
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    if result.tickets >= ANALYZE_FROM:
        refresh_statistics()
    click.echo(
        f"Seeded {result.tickets} tickets, {result.comments} comments, "
        f"{result.tag_links} tag links, {result.staff} staff, {result.tags} tags."
    )


@click.command("check-deploy")
def check_deploy_command() -> None:
    """List unsafe production settings; exit 1 if there are any."""
    problems = deploycheck.check_deploy(
        current_app.config,
        deploycheck.environment(),
        server=deploycheck.read_server_limits(db.session.get_bind().engine),
        limiter_storage_error=deploycheck.limiter_storage_error(
            current_app.config["RATELIMIT_STORAGE_URL"]
        ),
    )
    for problem in problems:
        click.echo(f"- {problem}")
    if problems:
        raise click.ClickException(f"{len(problems)} unsafe setting(s) for production.")
    click.echo("No unsafe production settings found.")


@click.command("demo")
@click.option("--port", default=5000, show_default=True, help="Port the login link names.")
@click.option("--new-password", is_flag=True, help="Give the demo admin a new one-time password.")
def demo_command(port: int, new_password: bool) -> None:
    """Make a fresh desk usable: a demo admin (password printed once) and demo tickets."""
    with acting_as("cli:demo"), unit_of_work():
        admin = db.session.scalar(sa.select(User).where(User.role == UserRole.ADMIN).limit(1))
        password = None
        if admin is None:
            password = secrets.token_urlsafe(12)
            admin = create_user(
                DEMO_ADMIN_EMAIL, full_name="Demo Admin", password=password, role=UserRole.ADMIN
            )
        elif new_password:
            password = reset_password(admin)
        seeded = None
        if db.session.scalar(sa.select(Ticket.id).limit(1)) is None:
            seeded = seed_demo_data(tickets=DEMO_TICKETS, seed=1)
        email = admin.email
    if seeded is not None:
        click.echo(f"Seeded {seeded.tickets} demo tickets.")
    lines = [f"supportdesk is at http://127.0.0.1:{port}/login", f"Log in as  {email}"]
    if password is not None:
        lines.append(f"password:   {password}   (shown once: keep it)")
    else:
        lines.append("password:   the one printed when the account was made")
    lines.append("Lost it?  make run-new-password   (or: flask demo --new-password)")
    width = max(len(line) for line in lines)
    click.echo("\n+" + "-" * (width + 2) + "+")
    for line in lines:
        click.echo(f"| {line:<{width}} |")
    click.echo("+" + "-" * (width + 2) + "+\n")


@click.command("db-explain")
@click.argument("path")
@click.option("--as", "email", help="Staff member whose view to explain (default: an admin).")
@click.option("--full", is_flag=True, help="Print each statement in full (default: 300 chars).")
def db_explain_command(path: str, email: str | None, full: bool) -> None:
    """Print the query plans of one page, e.g. flask db-explain "/tickets/?status=open".

    Runs the page's SELECTs under EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL (EXPLAIN QUERY
    PLAN on SQLite), rolled back. Opening a ticket page records the visit for that user.
    """
    try:
        status, plans = explain_page(current_app._get_current_object(), path, email=email)  # type: ignore[attr-defined]  # the proxy's object
    except ExplainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"GET {path}: {status}, {len(plans)} SELECT statements")
    for number, plan in enumerate(plans, start=1):
        text = plan.statement if full else plan.statement[:300]
        click.echo(f"\n-- statement {number}: {text}")
        for line in plan.plan:
            click.echo(f"   {line}")


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit (for cron).")
@click.option(
    "--interval", type=click.IntRange(1, 3600), default=None,
    help="Seconds between looks when idle (default: SUPPORTDESK_WORKER_INTERVAL_SECONDS).",
)  # fmt: skip
@click.option("--name", default=None, help="This worker's name in /health/worker.")
def worker_command(once: bool, interval: int | None, name: str | None) -> None:
    """Deliver queued email and webhooks, and run periodic tasks: beside gunicorn (systemd).

    Several workers may run at once (on PostgreSQL each row is claimed by one). SIGTERM or
    Ctrl-C stops it after the delivery in hand.
    """
    config = current_app.config
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    lease = config["WORKER_LEASE_SECONDS"]
    if once:
        try:
            with acting_as("cli:worker"):
                counts = worker.run_once(name=name, lease_seconds=lease)
                ran = worker.run_tasks()
        except sa.exc.OperationalError as exc:  # cron tries again at its next run
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise click.ClickException(f"The database is unreachable: {reason}") from None
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        click.echo(f"Delivered: {summary or 'nothing was due'}.")
        if ran:
            click.echo(f"Ran: {', '.join(ran)}.")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"Worker {name} started; Ctrl-C stops it.")
    with acting_as("cli:worker"):
        worker.run_forever(name=name, interval=interval or config["WORKER_INTERVAL_SECONDS"],
                           lease_seconds=lease, stop=stop)  # fmt: skip
    click.echo("Worker stopped.")
