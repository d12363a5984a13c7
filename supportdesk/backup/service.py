"""Backups: one consistent, self-describing folder; a verify; a restore that checks itself.

A backup folder (``supportdesk-<UTC time>``) holds:

- ``database.dump`` (PostgreSQL: ``pg_dump --format=custom`` inside an exported snapshot,
  so the desk keeps running and writing) or ``database.sqlite3`` (SQLite's online backup
  API, never a copy of a live file);
- ``attachments/<sha[:2]>/<sha>``: the stored files the snapshot's ``attachments`` rows
  name, copied by that list (not by the folder's contents) while a shared lock keeps
  ``flask tickets purge`` from sweeping them away mid-copy;
- ``manifest.json``: when, which app version and Alembic revision, row count and a row
  checksum per table as of the snapshot, the SHA-256 of every file, the latest audit seal,
  and a SHA-256 of the manifest itself (a flipped byte anywhere is found).

Tools used rather than written: ``pg_dump``/``pg_restore`` (the only way to take and load
a consistent PostgreSQL dump) and Python's ``sqlite3.Connection.backup``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess  # nosec B404 - runs pg_dump, pg_restore and this interpreter, no shell
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app

from supportdesk.attachments.service import in_database, storage_dir, store_lock, stored_path
from supportdesk.extensions import db
from supportdesk.version import __version__

FORMAT = 1
# A row's checksum on PostgreSQL: the first 60 bits of the MD5 of its text form; a
# table's is their sum (numeric: no overflow), whatever the rows' physical order.
ROW_HASH = "('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint"
MANIFEST = "manifest.json"
PREFIX = "supportdesk-"


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why and what to do."""


@dataclass
class Report:
    """What a command did, for the CLI to print."""

    folder: Path
    manifest: dict[str, Any]
    seconds: float
    size: int
    notes: list[str] = field(default_factory=list)


# --- what both ends need ---------------------------------------------------------------


def app_version() -> str:
    """Return this supportdesk's version."""
    return __version__


def _script() -> ScriptDirectory:
    return ScriptDirectory(current_app.extensions["migrate"].directory)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _table_figures(connection: Any, dialect: str) -> dict[str, dict[str, Any]]:
    """Row count and an order-independent checksum of every table's rows.

    PostgreSQL sums 60-bit prefixes of each row's MD5 on the server (numeric sum: no
    overflow); SQLite hashes each row's values in Python. Equal figures after a restore
    mean the same rows, whatever their physical order.
    """
    figures: dict[str, dict[str, Any]] = {}
    # The tables the database has (an older revision has fewer than the models).
    for name in sorted(sa.inspect(connection).get_table_names()):
        table = sa.table(name).alias("t")  # quoted by SQLAlchemy
        if dialect == "postgresql":
            summed: sa.ColumnElement[Any] = sa.func.coalesce(
                sa.func.sum(sa.literal_column(ROW_HASH)), 0
            )
            statement = sa.select(sa.func.count(), summed.cast(sa.Text)).select_from(table)
            count, checksum = connection.execute(statement).one()
        else:
            count, total = 0, 0
            for row in connection.execute(sa.select(sa.literal_column("*")).select_from(table)):
                count += 1
                total += int(hashlib.md5(repr(tuple(row)).encode(), usedforsecurity=False)
                             .hexdigest()[:15], 16)  # fmt: skip
            checksum = str(total)
        figures[name] = {"rows": int(count), "checksum": str(checksum)}
    return figures


def _snapshot_facts(connection: Any, dialect: str) -> dict[str, Any]:
    revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    seal = connection.execute(sa.text(
        "SELECT id, last_log_id, digest, sealed_at FROM audit_seals ORDER BY id DESC LIMIT 1"
    )).first()  # fmt: skip
    hashes = sorted(set(connection.execute(sa.text("SELECT DISTINCT sha256 FROM attachments"))
                        .scalars()))  # fmt: skip
    return {
        "alembic_revision": revision,
        "tables": _table_figures(connection, dialect),
        "audit_seal": None if seal is None else {
            "id": seal.id, "last_log_id": seal.last_log_id, "digest": seal.digest,
            "sealed_at": str(seal.sealed_at),
        },
        "attachment_hashes": hashes,
    }  # fmt: skip


# --- create ----------------------------------------------------------------------------


def _libpq(url: sa.URL) -> tuple[list[str], dict[str, str]]:
    """Return ``pg_dump``/``pg_restore`` connection arguments and environment.

    The password goes in the environment, not the command line, where ``ps`` shows it.
    """
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = []
    if url.host:
        args += ["--host", str(url.host)]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", str(url.username)]
    for key, value in url.query.items():  # sslmode=require and the like
        env["PG" + key.upper()] = str(value)
    return args + ["--dbname", str(url.database)], env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client).")
    return found


def create(target: Path, *, progress: Callable[[str], None] = print,
           copy_progress: Callable[[int, int], None] | None = None) -> Report:  # fmt: skip
    """Write one backup folder under ``target``; return what was written.

    :raises BackupError: a tool is missing or failed; nothing half-written is left.
    """
    started = time.perf_counter()
    engine = db.engine
    dialect = engine.dialect.name
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    old_umask = os.umask(0o077)  # the folder and every file: owner only
    try:
        target.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{PREFIX}{stamp}-", dir=target))
        try:
            store = storage_dir()
            with store_lock(store, shared=True):  # before the snapshot, until files are copied
                if dialect == "postgresql":
                    facts = _dump_postgresql(engine, work / "database.dump", progress)
                    database_file = "database.dump"
                else:
                    facts = _copy_sqlite(engine, work / "database.sqlite3", progress)
                    database_file = "database.sqlite3"
                hashes = facts.pop("attachment_hashes")
                if in_database():  # the files are rows of the dump already
                    hashes = [h for h in hashes if stored_path(h).is_file()]  # older files
                progress(f"Copying {len(hashes)} attachment file(s) …")
                missing = _copy_attachments(store, work / "attachments", hashes, copy_progress)
            files: dict[str, str | None] = {database_file: None}
            for sha in hashes:
                if sha not in missing:
                    files[f"attachments/{sha[:2]}/{sha}"] = sha
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "app_version": app_version(),
                "backend": dialect,
                "database_file": database_file,
                **facts,
                "attachments": len(hashes) - len(missing),
                "attachment_storage": current_app.config["ATTACHMENT_STORAGE"],
                "attachments_missing_at_source": sorted(missing),
                "files": {},
            }
            size = 0
            for relative, known in files.items():
                path = work / relative
                digest = known or _sha256(path)
                manifest["files"][relative] = {"sha256": digest, "size": path.stat().st_size}
                size += path.stat().st_size
            manifest["manifest_sha256"] = _manifest_digest(manifest)
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            folder = target / f"{PREFIX}{stamp}"
            work.rename(folder)  # complete or absent: a crash leaves only a dot-folder
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    finally:
        os.umask(old_umask)
    notes = []
    if missing:
        notes.append(f"{len(missing)} attachment file(s) were already missing from the store "
                     "before this backup (listed in the manifest); `flask backup verify` of "
                     "the desk's store would have failed too.")  # fmt: skip
    return Report(folder, manifest, time.perf_counter() - started, size, notes)


def _dump_postgresql(engine: sa.Engine, out: Path, progress: Callable[[str], None]
                     ) -> dict[str, Any]:  # fmt: skip
    """Run ``pg_dump`` inside a snapshot exported by a REPEATABLE READ transaction.

    The same transaction reads the manifest's facts: dump and facts are one moment.
    """
    pg_dump = _tool("pg_dump")
    args, env = _libpq(engine.url)
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.execute(sa.text("SET TRANSACTION READ ONLY"))
            connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
            connection.execute(sa.text("SET LOCAL idle_in_transaction_session_timeout = 0"))
            connection.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
            snapshot = connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            progress("Dumping the database (pg_dump, one snapshot) …")
            dump = subprocess.Popen(  # noqa: S603  # nosec B603 - fixed arguments, no shell
                [pg_dump, *args, "--format=custom", "--no-owner", "--no-privileges",
                 f"--snapshot={snapshot}", f"--file={out}"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            progress("Counting rows and checksums in the same snapshot …")
            facts = _snapshot_facts(connection, "postgresql")
            _, err = dump.communicate()
            if dump.returncode != 0:
                raise BackupError(f"pg_dump failed: {err.decode(errors='replace').strip()}")
    return facts


def _copy_sqlite(engine: sa.Engine, out: Path, progress: Callable[[str], None]
                 ) -> dict[str, Any]:  # fmt: skip
    """SQLite's online backup into ``out``; the facts are read from the copy itself."""
    source_path = engine.url.database
    if not source_path or source_path == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up.")
    progress("Copying the database (SQLite online backup) …")
    source = sqlite3.connect(source_path)
    try:
        copy = sqlite3.connect(out)
        with copy:
            source.backup(copy)  # one step: a consistent copy however busy the desk
        copy.close()
    finally:
        source.close()
    progress("Checking the copy (PRAGMA integrity_check) …")
    if damage := _sqlite_damage(out):
        # The online backup copies pages as they are: a damaged desk gives a damaged copy,
        # which would pass every checksum taken from it. Say so now, not at restore time.
        raise BackupError("The desk's SQLite database is damaged; no backup was written "
                          "(restore the last good backup, or repair the file first):\n  "
                          + "\n  ".join(damage))  # fmt: skip
    copy_engine = sa.create_engine(f"sqlite:///{out}")
    try:
        with copy_engine.connect() as connection:
            return _snapshot_facts(connection, "sqlite")
    finally:
        copy_engine.dispose()


def _copy_attachments(store: Path, out: Path, hashes: list[str],
                      progress: Callable[[int, int], None] | None) -> set[str]:  # fmt: skip
    """Copy the listed files (the caller holds the store's lock); return missing ones."""
    missing: set[str] = set()
    for done, sha in enumerate(hashes, start=1):
        source = store / sha[:2] / sha
        target = out / sha[:2] / sha
        target.parent.mkdir(parents=True, exist_ok=True)
        if not source.is_file():
            missing.add(sha)
        else:
            shutil.copyfile(source, target)
        if progress is not None:
            progress(done, len(hashes))
    return missing


def rotate(target: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` complete backups in ``target``; return them."""
    backups = sorted(p for p in target.glob(f"{PREFIX}*") if (p / MANIFEST).is_file())
    doomed = backups[:-keep] if keep > 0 else []
    for path in doomed:
        shutil.rmtree(path)
    return doomed


# --- verify ----------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """Return the manifest of ``folder`` if it is whole.

    :raises BackupError: missing, not JSON, or changed since it was written.
    """
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"{folder} is not a backup: it has no {MANIFEST}.")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path} is damaged: not valid JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a backup manifest of format {FORMAT}.")
    if manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise BackupError(f"{path} is damaged: its content does not match its own checksum.")
    return manifest


def verify(folder: Path) -> list[str]:
    """Return what is missing or damaged in backup ``folder`` (empty: it is whole)."""
    try:
        manifest = read_manifest(folder)
    except BackupError as exc:
        return [str(exc)]
    problems = []
    for relative, expected in sorted(manifest["files"].items()):
        path = folder / relative
        if not path.is_file():
            problems.append(f"missing: {relative}")
        elif path.stat().st_size != expected["size"]:
            problems.append(f"damaged: {relative} has {path.stat().st_size} bytes, "
                            f"the manifest says {expected['size']}")  # fmt: skip
        elif _sha256(path) != expected["sha256"]:
            problems.append(f"damaged: {relative} does not match its SHA-256")
    return problems


# --- restore ---------------------------------------------------------------------------


def _known_revisions() -> set[str]:
    return {script.revision for script in _script().walk_revisions()}


def check_revision(manifest: dict[str, Any]) -> str | None:
    """Return a note if the backup is older than the code; raise if it is newer."""
    revision = manifest["alembic_revision"]
    if revision not in _known_revisions():
        raise BackupError(
            f"This backup was made by supportdesk {manifest['app_version']} at schema "
            f"revision {revision}, which this installation ({app_version()}) does not know: "
            f"install supportdesk {manifest['app_version']} or newer to restore it."
        )
    if revision != _script().get_current_head():
        return ("The backup's schema is older than this version's: run `flask db upgrade` "
                "against the restored database before starting the desk.")  # fmt: skip
    return None


def _is_empty(url: sa.URL) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return not sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()


def restore(folder: Path, into: sa.URL, attachments_to: Path, *, force: bool,
            progress: Callable[[str], None] = print) -> Report:  # fmt: skip
    """Restore backup ``folder`` into database ``into`` and store ``attachments_to``.

    The backup is verified first (a damaged one never touches the target). PostgreSQL
    loads in one transaction (all or nothing); SQLite is written beside the target and
    renamed into place. Then row counts and checksums are compared with the manifest.

    :raises BackupError: damaged backup, newer schema, non-empty target without
        ``force``, a failed load, or a restored database that differs from the manifest.
    """
    started = time.perf_counter()
    problems = verify(folder)
    if problems:
        raise BackupError("The backup is not whole; nothing was restored:\n  "
                          + "\n  ".join(problems))  # fmt: skip
    manifest = read_manifest(folder)
    notes = [note] if (note := check_revision(manifest)) else []
    backend = into.get_backend_name()
    if backend != manifest["backend"]:
        raise BackupError(f"This is a {manifest['backend']} backup; it restores into "
                          f"{manifest['backend']} only, not {backend}.")  # fmt: skip
    if backend == "postgresql":
        _restore_postgresql(folder / manifest["database_file"], into, force, progress)
        progress("Comparing row counts and checksums with the manifest …")
        wrong = _differences(into, manifest)
        if wrong:
            raise BackupError("The restored database differs from the backup; do not use it "
                              "(restore again, or another backup):\n  "
                              + "\n  ".join(wrong))  # fmt: skip
    else:
        _restore_sqlite(folder / manifest["database_file"], into, force, manifest, progress)
    progress("Copying attachments …")
    for relative in manifest["files"]:
        if relative.startswith("attachments/"):
            target = attachments_to / relative.removeprefix("attachments/")
            if target.is_file() and _sha256(target) == manifest["files"][relative]["sha256"]:
                continue  # the same content is there already (content-addressed)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.restoring")
            shutil.copyfile(folder / relative, partial)
            partial.replace(target)
    size = sum(f["size"] for f in manifest["files"].values())
    return Report(folder, manifest, time.perf_counter() - started, size, notes)


def _differences(url: sa.URL, manifest: dict[str, Any]) -> list[str]:
    """Compare every table's row count and checksum at ``url`` with the manifest."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if url.get_backend_name() == "postgresql":
                connection.execute(sa.text("SET TIME ZONE 'UTC'"))
            figures = _table_figures(connection, url.get_backend_name())
    except sa.exc.DBAPIError as exc:
        return [f"the database cannot be read: {exc.orig}"]
    finally:
        engine.dispose()
    return [f"{name}: {figures.get(name)} restored, {expected} in the backup"
            for name, expected in manifest["tables"].items()
            if figures.get(name) != expected]  # fmt: skip


def _restore_postgresql(dump: Path, into: sa.URL, force: bool,
                        progress: Callable[[str], None]) -> None:  # fmt: skip
    pg_restore = _tool("pg_restore")
    if not _is_empty(into):
        if not force:
            raise BackupError("The target database is not empty; nothing was restored "
                              "(--force replaces everything in it).")  # fmt: skip
        engine = sa.create_engine(into)
        try:
            with engine.begin() as connection:
                connection.execute(sa.text("DROP SCHEMA public CASCADE"))
                connection.execute(sa.text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    args, env = _libpq(into)
    progress("Loading the database (pg_restore, one transaction) …")
    done = subprocess.run(  # noqa: S603  # nosec B603 - fixed arguments, no shell
        [pg_restore, *args, "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", str(dump)],
        env=env, capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BackupError("pg_restore failed; the load was rolled back and the target "
                          "database holds nothing of the backup:\n"
                          + done.stderr.decode(errors="replace").strip()[-2000:])  # fmt: skip


def _sqlite_damage(path: Path) -> list[str]:
    """Return what SQLite's own check finds wrong with the file (nothing: it is whole)."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [row[0] for row in connection.execute("PRAGMA integrity_check(20)")]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return [f"the database cannot be read: {exc}"]
    return [] if rows == ["ok"] else [f"the database file is damaged: {row}" for row in rows]


def _restore_sqlite(copy: Path, into: sa.URL, force: bool, manifest: dict[str, Any],
                    progress: Callable[[str], None]) -> None:  # fmt: skip
    """Copy the database beside the target, check it, then rename it into place."""
    if not into.database or into.database == ":memory:":
        raise BackupError("Restore into a SQLite file: sqlite:////path/to/desk.db")
    target = Path(into.database)
    if target.exists() and target.stat().st_size and not _is_empty(into) and not force:
        raise BackupError(f"{target} is not empty; nothing was restored "
                          "(--force replaces it).")  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    progress("Copying the database …")
    partial = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(copy, partial)
    progress("Checking the database file (PRAGMA integrity_check) …")
    # Row counts and checksums read the tables only: a damaged index or free page would
    # pass them and fail the desk later (the restore test's damaged page found it).
    wrong = _sqlite_damage(partial)
    if not wrong:
        progress("Comparing row counts and checksums with the manifest …")
        wrong = _differences(into.set(database=str(partial)), manifest)
    if wrong:
        partial.unlink()
        raise BackupError(f"The backup's database does not match its manifest; {target} was "
                          "not touched:\n  " + "\n  ".join(wrong))  # fmt: skip
    for suffix in ("-wal", "-shm"):  # an old write-ahead log must not replay over it
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    partial.replace(target)
