"""``flask tokens``: personal access tokens for the API, made and revoked by an admin."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work, utcnow
from supportdesk.errors import DomainError
from supportdesk.users import tokens
from supportdesk.users.models import TokenScope
from supportdesk.users.service import find_user_by_email

group = AppGroup("tokens", help="Personal access tokens for the API.")


@group.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for.")
@click.option(
    "--scope",
    type=click.Choice([s.value for s in TokenScope]),
    default="read",
    show_default=True,
    help="read; write (also changes); admin (also the audit).",
)
@click.option(
    "--expires-days",
    type=click.IntRange(1, tokens.MAX_EXPIRY_DAYS),
    default=None,
    help="Days until it expires (default: never).",
)
def create_command(email: str, name: str, scope: str, expires_days: int | None) -> None:
    """Make a token for the staff member EMAIL; print it (alone) on standard output.

    It is stored hashed: copy it now, it cannot be shown again.
    """
    with acting_as("cli"), unit_of_work(expire=False):
        user = find_user_by_email(email)
        if user is None:
            raise click.ClickException(f"There is no staff member {email}.")
        try:
            made = tokens.create_token(user, name=name, scope=TokenScope(scope),
                                       expires_days=expires_days)  # fmt: skip
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(made.secret)
    click.echo(f"Token {made.token.id} “{made.token.name}” ({scope}) for {user.email}; "
               "copy it now, it is not shown again.", err=True)  # fmt: skip


@group.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**31 - 1))
def revoke_command(token_id: int) -> None:
    """Revoke the token TOKEN_ID (its next request gets 401)."""
    with acting_as("cli"), unit_of_work():
        try:
            token = tokens.revoke(token_id)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Revoked token {token.id} “{token.name}”.")


@group.command("list")
@click.argument("email")
def list_command(email: str) -> None:
    """List the tokens of EMAIL (never the tokens themselves)."""
    user = find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"There is no staff member {email}.")
    now = utcnow()
    for token in tokens.tokens_of(user):
        used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "never"
        click.echo(
            f"{token.id}\t{token.prefix}…\t{token.scope.value}\t"
            f"{tokens.status_of(token, user, now)}\tlast used {used}\t{token.name}"
        )
