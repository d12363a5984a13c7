"""The ``supportdesk`` command: the Flask CLI bound to the desk, so nobody sets FLASK_APP.

``supportdesk db upgrade``, ``supportdesk create-user …``, ``supportdesk worker``, every
``flask`` command of this manual; ``supportdesk --version``.
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from supportdesk import ConfigError, create_app
from supportdesk.version import __version__


def _app() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        click.echo(f"supportdesk: configuration error: {exc}", err=True)
        raise SystemExit(1) from None


@click.group(cls=FlaskGroup, create_app=_app, add_version_option=False,
             help="The help desk's commands (SUPPORTDESK_* settings apply).")  # fmt: skip
@click.version_option(__version__, prog_name="supportdesk", message="%(prog)s %(version)s")
def cli() -> None:
    """Run a supportdesk command."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="supportdesk", args=sys.argv[1:])
