"""``flask mail``: receive one message from an MTA, fetch IMAP mailboxes, prune parked mail."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
import threading
from collections import Counter

import click
import sqlalchemy as sa
from flask import current_app

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work, utcnow, writing
from supportdesk.mail import imap, inbound
from supportdesk.mail.models import InboundOutcome, ParkReason

log = logging.getLogger(__name__)

# sysexits.h: what an MTA's pipe transport understands.
EX_OK, EX_DATAERR, EX_TEMPFAIL = 0, 65, 75
DATABASE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)

group = click.Group("mail", help="Email in: receive, fetch, prune parked messages.")


def _store(raw: bytes, source: str) -> inbound.Received:
    """Receive one message in its own transaction (the write lock taken up front)."""
    with acting_as(f"cli:mail-{source.split(':', 1)[0]}"), writing(), unit_of_work():
        return inbound.receive(raw, source)


def _describe(result: inbound.Received) -> str:
    where = f" SD-{result.ticket_number}" if result.ticket_number else ""
    return f"{result.label}{where}: {result.detail}" if result.detail else result.label + where


def _database_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@group.command("receive")
@click.option("--source", default="pipe", show_default=True,
              help="Recorded with the message (e.g. the alias it came to).")  # fmt: skip
def receive_command(source: str) -> None:
    """Read one RFC 5322 message on standard input (for an MTA's pipe transport).

    Exit status (sysexits): 0 accepted (a ticket, a reply, parked or a duplicate);
    65 the input is not a mail message at all (it is kept, parked); 75 the database
    is unreachable, so the MTA keeps the message and tries again.
    """
    raw = sys.stdin.buffer.read()
    try:
        result = _store(raw, source[:60])
    except DATABASE_ERRORS as exc:
        click.echo(f"mail receive: the database is unreachable ({_database_reason(exc)}); "
                   "the message was not stored, deliver it again later", err=True)  # fmt: skip
        sys.exit(EX_TEMPFAIL)
    except Exception:  # noqa: BLE001 - the MTA must keep the message; the log has the rest
        log.exception("mail receive failed")
        click.echo("mail receive: internal error; the message was not stored, deliver it "
                   "again later", err=True)  # fmt: skip
        sys.exit(EX_TEMPFAIL)
    click.echo(_describe(result))
    if result.outcome == InboundOutcome.PARKED and result.reason == ParkReason.NOT_MAIL:
        sys.exit(EX_DATAERR)


def _summary(labels: list[str]) -> str:
    counts = Counter(labels)
    words = {"ticket": ("new ticket", "new tickets"), "reply": ("reply", "replies"),
             "parked": ("parked", "parked"), "duplicate": ("duplicate", "duplicates"),
             "error": ("left for the next fetch", "left for the next fetch")}  # fmt: skip
    parts = [f"{counts[k]} {words[k][counts[k] != 1]}" for k in words if counts[k]]
    return f"{len(labels)} fetched" + (": " + ", ".join(parts) if parts else "")


DUPLICATE_GRACE = dt.timedelta(seconds=60)


def _should_mark(result: inbound.Received) -> bool:
    """Whether this fetcher moves the message on.

    A duplicate received moments ago is another fetcher's, which moves it itself (two
    IMAP MOVEs of one message can leave two copies in the done folder); an older one
    was left behind by a fetcher that died after storing it, and is moved now.
    """
    if result.first_received_at is None:
        return True
    return utcnow() - result.first_received_at > DUPLICATE_GRACE


def fetch_all(*, stop: threading.Event, echo: bool = True) -> tuple[list[str], list[str]]:
    """Fetch every configured mailbox once; return (labels, mailbox errors)."""
    config = current_app.config
    labels: list[str] = []
    errors: list[str] = []

    def handle(raw: bytes, source: str) -> tuple[str, bool]:
        try:
            result = _store(raw, source)
        except DATABASE_ERRORS:
            raise  # stop this mailbox: nothing more can be stored now
        except Exception:  # noqa: BLE001 - left in the mailbox, fetched again next time
            log.exception("could not receive a message from %s", source)
            return "error", False
        return result.label, _should_mark(result)

    def progress(done: int, total: int, label: str) -> None:
        if echo and sys.stdout.isatty():
            click.echo(f"\r  {done}/{total} {label:<10}", nl=False)

    for url in config["IMAP_URL"]:
        mailbox = imap.Mailbox.from_url(url)
        try:
            got = imap.process(
                mailbox, handle, timeout=config["IMAP_TIMEOUT_SECONDS"],
                ca_file=config["IMAP_CA_FILE"], action=config["IMAP_DONE_ACTION"],
                done_folder=config["IMAP_DONE_FOLDER"], progress=progress,
                should_stop=stop.is_set,
            )  # fmt: skip
        except imap.MailboxError as exc:
            errors.append(str(exc))
            continue
        except DATABASE_ERRORS as exc:
            errors.append(f"{mailbox.label}: the database is unreachable "
                          f"({_database_reason(exc)}); the rest waits in the mailbox")  # fmt: skip
            continue
        if echo and sys.stdout.isatty() and got:
            click.echo("")
        if echo:
            click.echo(f"{mailbox.label}: {_summary(got)}")
        labels += got
    return labels, errors


@group.command("fetch")
@click.option(
    "--once/--loop",
    default=True,
    show_default=True,
    help="Fetch once and exit (cron), or keep fetching (a systemd service).",
)
@click.option("--interval", type=click.IntRange(1, 86_400), default=30, show_default=True,
              help="Seconds between fetches with --loop.")  # fmt: skip
def fetch_command(once: bool, interval: int) -> None:
    """Fetch new mail from every SUPPORTDESK_IMAP_URL mailbox and receive it.

    Each message is stored before it is moved to SUPPORTDESK_IMAP_DONE_FOLDER (or
    flagged deleted); two fetchers at once, or one that dies midway, never lose or
    double a message. SIGTERM or Ctrl-C stops after the message in hand.
    """
    if not current_app.config["IMAP_URL"]:
        raise click.ClickException(
            "No mailbox is set: give SUPPORTDESK_IMAP_URL, e.g. "
            "imaps://support%40acme.example:password@imap.acme.example:993/INBOX"
        )
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    while True:
        labels, errors = fetch_all(stop=stop)
        for error in errors:
            click.echo(f"Error: {error}", err=True)
        if len(current_app.config["IMAP_URL"]) > 1:
            click.echo(f"All mailboxes: {_summary(labels)}")
        if once:
            if errors:
                sys.exit(1)
            return
        if stop.wait(interval):
            click.echo("Fetcher stopped.")
            return


@group.command("prune-parked")
@click.option("--days", type=click.IntRange(1, 3650), default=None,
              help="Keep this many days (default: SUPPORTDESK_MAIL_PARKED_DAYS).")  # fmt: skip
def prune_parked_command(days: int | None) -> None:
    """Delete parked messages older than the retention period (for cron)."""
    keep = days or current_app.config["MAIL_PARKED_DAYS"]
    with acting_as("cli:mail-prune"), unit_of_work():
        removed = inbound.prune_parked(keep)
    click.echo(f"Deleted {removed} parked message(s) older than {keep} days.")
