"""``flask backup create|verify|restore``: the desk's database and files, consistent."""

from __future__ import annotations

import os
import subprocess  # nosec B404 - runs pg_dump, pg_restore and this interpreter, no shell
import sys
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from supportdesk.backup import service
from supportdesk.backup.service import BackupError

group = AppGroup("backup", help="Back up the desk, check a backup, restore one.")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _say(message: str) -> None:
    click.echo(message, err=True)


class _Bar:
    """A click progress bar on stderr, opened once the number of steps is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@group.command("create")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder that receives a new supportdesk-<time> backup folder.",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="Then delete all but the newest N backups in that folder (for cron).",
)
def create_command(target: Path, keep: int | None) -> None:
    """Back up the database and its attachments as one consistent snapshot."""
    bar = _Bar("Copying attachments")
    try:
        report = service.create(target, progress=_say, copy_progress=bar)
    except (BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    manifest = report.manifest
    tickets = manifest["tables"].get("tickets", {}).get("rows", 0)
    click.echo(f"Backup written: {report.folder}")
    click.echo(f"  {tickets} tickets, {manifest['attachments']} attachment files, "
               f"{_size(report.size)}, {report.seconds:.1f} s, revision "
               f"{manifest['alembic_revision']}")  # fmt: skip
    for note in report.notes:
        click.echo(f"  Note: {note}")
    if keep is not None:
        for old in service.rotate(target, keep):
            click.echo(f"  Removed the older backup {old.name}")


@group.command("verify")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
def verify_command(folder: Path) -> None:
    """Check every file of a backup against its manifest; exit 1 if anything is off."""
    problems = service.verify(folder)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{folder} is not whole: {len(problems)} problem(s).")
    manifest = service.read_manifest(folder)
    made = f"made {manifest['created_at']} by supportdesk {manifest['app_version']}"
    click.echo(f"OK: {len(manifest['files'])} files match the manifest of {folder.name} ({made}).")


@group.command("restore")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--into", "into", required=True,
              help="Database URL to restore into (an empty PostgreSQL database or a new "
                   "SQLite file).")  # fmt: skip
@click.option(
    "--attachments-to",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Attachment folder to fill (default: SUPPORTDESK_ATTACHMENT_DIR).",
)
@click.option("--force", is_flag=True, help="Replace whatever the target database holds.")
def restore_command(folder: Path, into: str, attachments_to: Path | None, force: bool) -> None:
    """Restore a backup, then prove it: row counts, checksums and the audit chain."""
    try:
        url = sa.make_url(into)
    except sa.exc.ArgumentError:
        raise click.ClickException(f"--into is not a database URL: {into!r}") from None
    shown = url.render_as_string(hide_password=True)
    files = attachments_to or Path(
        current_app.config["ATTACHMENT_DIR"] or Path(current_app.instance_path) / "attachments"
    )
    try:
        report = service.restore(folder, url, files, force=force, progress=_say)
    except (BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    manifest = report.manifest
    click.echo(f"Restored {folder.name} into {shown} and {files} in {report.seconds:.1f} s: "
               f"every table's rows and checksum match the backup.")  # fmt: skip
    for note in report.notes:
        click.echo(f"  Note: {note}")
    if report.notes:
        click.echo("  The audit chain is checked by `flask audit verify` after the upgrade.")
        return
    problem = _verify_audit(url, files)
    if problem is not None:
        raise click.ClickException(f"The restored audit trail does not verify: {problem}")
    seal = manifest["audit_seal"]
    click.echo("  Audit chain verified" + (f" up to seal {seal['id']}." if seal else "."))


def _verify_audit(url: sa.URL, files: Path) -> str | None:
    """Run ``flask audit verify`` against the restored database; return what is wrong.

    A process of its own: the restored database is not the one this app is bound to.
    The URL (and its password) travels in the environment, never on a command line.
    """
    config = current_app.config
    env = dict(os.environ, SUPPORTDESK_DATABASE_URL=url.render_as_string(hide_password=False),
               SUPPORTDESK_SECRET_KEY=str(config["SECRET_KEY"]),
               SUPPORTDESK_ATTACHMENT_DIR=str(files), SUPPORTDESK_ENV=config["ENV"])  # fmt: skip
    done = subprocess.run(  # noqa: S603  # nosec B603 - this interpreter, fixed arguments
        [sys.executable, "-m", "flask", "--app", "supportdesk:create_app", "audit", "verify"],
        env=env, capture_output=True, text=True, check=False, timeout=3600,
    )  # fmt: skip
    if done.returncode == 0:
        return None
    return (done.stderr.strip() or done.stdout.strip())[-2000:]
