"""``flask attachments migrate``: move the stored files between the folder and the database."""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from supportdesk.attachments.models import Attachment
from supportdesk.attachments.service import copy_between_stores
from supportdesk.db import unit_of_work
from supportdesk.extensions import db

group = AppGroup("attachments", help="Attachment storage.")


@group.command("migrate")
@click.option("--to", "target", required=True, type=click.Choice(["database", "filesystem"]),
              help="The store to copy every file into.")  # fmt: skip
@click.option("--batch-size", default=50, show_default=True, type=click.IntRange(1, 10_000),
              help="Files per transaction (each batch is committed: a rerun resumes).")  # fmt: skip
def migrate_command(target: str, batch_size: int) -> None:
    """Copy every stored file into the other store, verified by SHA-256.

    Resumable (files already there are skipped) and safe while the desk runs: nothing is
    deleted. Then set SUPPORTDESK_ATTACHMENT_STORAGE, restart, and run it once more for
    files uploaded meanwhile; a database desk still reads older files from the folder.
    """
    hashes = list(db.session.scalars(sa.select(Attachment.sha256).distinct().order_by(
        Attachment.sha256)))  # fmt: skip
    db.session.rollback()
    copied = skipped = 0
    problems: list[str] = []
    with click.progressbar(length=len(hashes), label=f"Copying to the {target}",
                           file=sys.stderr) as bar:  # fmt: skip
        for start in range(0, len(hashes), batch_size):
            batch = hashes[start : start + batch_size]
            with unit_of_work():
                for sha in batch:
                    try:
                        with db.session.begin_nested():  # a bad copy is undone alone
                            done = copy_between_stores(sha, to_database=target == "database")
                        copied, skipped = copied + done, skipped + (not done)
                    except FileNotFoundError:
                        problems.append(f"missing from both stores: {sha}")
                    except ValueError as exc:
                        problems.append(f"damaged: {exc}")
            bar.update(len(batch))
    click.echo(f"{copied} file(s) copied to the {target}, {skipped} there already, "
               f"{len(problems)} problem(s).")  # fmt: skip
    for problem in problems:
        click.echo(f"  {problem}", err=True)
    if problems:
        raise SystemExit(1)
