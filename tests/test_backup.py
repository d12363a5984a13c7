"""Backups (#22): a drill under load, damage found, a purge that waits, rotation."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import sqlite3
import stat
import threading
import time
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from supportdesk.attachments.service import store_lock, sweep_unreferenced_files
from supportdesk.audit import integrity
from supportdesk.audit.context import acting_as
from supportdesk.backup import service
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.seed import seed_demo_data
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD, make_app

EMAIL = "backup-agent@example.com"


def _ticket_with_file(client, n: int) -> None:
    content = f"log file {n}\n".encode() * (n + 1)
    response = client.post("/tickets/new", data={
        "requester": f"c{n}@example.org", "title": f"With a file {n}", "description": "d",
        "status": "open", "priority": "low", "assignee": "",
        "attachments": [(io.BytesIO(content), f"log{n}.txt")],
    }, content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 303, response.text[:300]


@pytest.fixture
def seeded(desk):
    """A desk with seeded tickets, files attached through the app and a sealed trail."""
    app, url = desk
    with app.app_context(), acting_as("test"), unit_of_work():
        seed_demo_data(tickets=2000, comments_per_ticket=1.5)
        create_user(EMAIL, full_name="Bea Backup", password=PASSWORD)
    client = app.test_client()
    assert client.post("/login", data={"email": EMAIL, "password": PASSWORD}).status_code == 303
    for n in range(6):
        _ticket_with_file(client, n)
    with app.app_context(), acting_as("test"), unit_of_work():
        # Seal everything written so far (seals leave the last 5 minutes out).
        assert integrity.seal(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)) is not None
    return app, url


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.glob("*/*") if p.is_file()}  # fmt: skip


def _count(app, table: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.text(f"SELECT count(*) FROM {table}"))  # noqa: S608


def test_restore_drill_while_the_desk_keeps_writing(seeded, new_database_url, tmp_path):
    app, _ = seeded
    stop, written = threading.Event(), []

    def keep_writing() -> None:
        writer = app.test_client()
        writer.post("/login", data={"email": EMAIL, "password": PASSWORD})
        while not stop.is_set():
            response = writer.post("/tickets/new", data={
                "requester": "busy@example.org", "title": f"Written during {len(written)}",
                "description": "d", "status": "open", "priority": "low", "assignee": "",
            })  # fmt: skip
            written.append(response.status_code)

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        while len(written) < 3:
            time.sleep(0.05)
        result = app.test_cli_runner().invoke(args=["backup", "create", "--to",
                                                    str(tmp_path / "backups")])  # fmt: skip
        during = len(written)
        while len(written) < during + 3:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 0, result.output
    assert set(written) == {303}
    (folder,) = (tmp_path / "backups").glob("supportdesk-*")
    manifest = json.loads((folder / "manifest.json").read_text())
    backed_up = manifest["tables"]["tickets"]["rows"]
    assert 2006 < backed_up < _count(app, "tickets")  # a moment in the middle of the writes
    assert manifest["attachments"] == 6
    assert manifest["audit_seal"] is not None
    # Owner only: the folder and every file in it.
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in folder.rglob("*"))

    verified = app.test_cli_runner().invoke(args=["backup", "verify", str(folder)])
    assert verified.exit_code == 0, verified.output

    target, files = new_database_url(), tmp_path / "restored-files"
    restored = app.test_cli_runner().invoke(args=[
        "backup", "restore", str(folder), "--into", target, "--attachments-to", str(files),
    ])  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert "every table's rows and checksum match" in restored.output
    assert "Audit chain verified up to seal" in restored.output
    with app.app_context():
        source_files = _files(service.storage_dir())
    assert _files(files) == {sha: sha for sha in source_files}  # every file, intact

    copy = make_app(target, tmp_path / "restored-instance", TESTING=False,
                    ATTACHMENT_DIR=str(files))  # fmt: skip
    assert _count(copy, "tickets") == backed_up
    audit = copy.test_cli_runner().invoke(args=["audit", "verify"])
    assert audit.exit_code == 0, audit.output
    client = copy.test_client()
    assert client.post("/login", data={"email": EMAIL, "password": PASSWORD}).status_code == 303
    assert client.get("/tickets/").status_code == 200
    with copy.app_context():
        number, attachment_id = db.session.execute(sa.text(
            "SELECT t.number, a.id FROM attachments a JOIN tickets t ON t.id = a.ticket_id "
            "ORDER BY a.id LIMIT 1")).one()  # fmt: skip
        db.engine.dispose()
    page = client.get(f"/tickets/{number}")
    assert page.status_code == 200
    assert "log0.txt" in page.text
    download = client.get(f"/attachments/{attachment_id}")
    assert download.status_code == 200
    assert download.data == b"log file 0\n"
    download.close()


def back_up_one_file(app, target: Path) -> Path:
    """Give the desk a user and a ticket with a file, back it up to ``target``; return the
    backup folder."""
    with app.app_context(), acting_as("test"), unit_of_work():
        create_user(EMAIL, full_name="Bea Backup", password=PASSWORD)
    client = app.test_client()
    client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    _ticket_with_file(client, 1)
    result = app.test_cli_runner().invoke(args=["backup", "create", "--to", str(target)])
    assert result.exit_code == 0, result.output
    (folder,) = target.glob("supportdesk-*")
    return folder


@pytest.fixture
def backup(desk, tmp_path):
    app, _ = desk
    return app, back_up_one_file(app, tmp_path / "b")


def _restore(app, folder, target, *extra):
    return app.test_cli_runner().invoke(args=["backup", "restore", str(folder), "--into",
                                              target, *extra])  # fmt: skip


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_truncated_dump_is_found_and_nothing_is_restored(backup, new_database_url):
    app, folder = backup
    manifest = json.loads((folder / "manifest.json").read_text())
    dump = folder / manifest["database_file"]
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    checked = app.test_cli_runner().invoke(args=["backup", "verify", str(folder)])
    assert checked.exit_code == 1
    assert f"damaged: {manifest['database_file']} has" in checked.output
    target = new_database_url()
    restored = _restore(app, folder, target)
    assert restored.exit_code == 1
    assert "not whole; nothing was restored" in restored.output
    assert _tables(target) == []


def test_a_missing_attachment_is_named(backup):
    app, folder = backup
    (missing,) = folder.glob("attachments/*/*")
    missing.unlink()
    checked = app.test_cli_runner().invoke(args=["backup", "verify", str(folder)])
    assert checked.exit_code == 1
    assert f"missing: attachments/{missing.parent.name}/{missing.name}" in checked.output


@pytest.mark.parametrize("offset", [10, 200, -40])
def test_a_flipped_byte_in_the_manifest_is_found(backup, offset):
    app, folder = backup
    path = folder / "manifest.json"
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))
    checked = app.test_cli_runner().invoke(args=["backup", "verify", str(folder)])
    assert checked.exit_code == 1
    assert "manifest.json is damaged" in checked.output


def test_a_backup_from_a_newer_version_is_refused_with_the_version_to_install(
    backup, new_database_url
):
    app, folder = backup
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(alembic_revision="f0f0f0f0f0f0", app_version="9.1.0")
    manifest["manifest_sha256"] = service._manifest_digest(manifest)
    path.write_text(json.dumps(manifest))
    target = new_database_url()
    restored = _restore(app, folder, target)
    assert restored.exit_code == 1
    assert "install supportdesk 9.1.0 or newer" in restored.output
    assert _tables(target) == []


def test_a_non_empty_target_is_refused_unless_forced(backup, new_database_url, tmp_path):
    app, folder = backup
    target = new_database_url()
    files = str(tmp_path / "files")
    assert _restore(app, folder, target, "--attachments-to", files).exit_code == 0
    again = _restore(app, folder, target, "--attachments-to", files)
    assert again.exit_code == 1
    assert "not empty; nothing was restored" in again.output
    forced = _restore(app, folder, target, "--attachments-to", files, "--force")
    assert forced.exit_code == 0, forced.output


def test_an_older_backup_is_restored_and_the_upgrade_is_asked_for(backup, new_database_url,
                                                                  tmp_path):  # fmt: skip
    app, folder = backup
    # A desk one revision behind, backed up by this version.
    old = make_app(new_database_url(), tmp_path / "old")
    with old.app_context():
        flask_migrate.upgrade(revision="d7f9b1c3e5a7")
    result = old.test_cli_runner().invoke(args=["backup", "create", "--to", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    (older,) = (tmp_path / "o").glob("supportdesk-*")
    restored = _restore(app, older, new_database_url(), "--attachments-to",
                        str(tmp_path / "of"))  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert "run `flask db upgrade`" in restored.output
    with old.app_context():
        db.engine.dispose()


def test_a_sweep_waits_for_a_backup_copying_files(desk, tmp_path):
    app, _ = desk
    with app.app_context():
        store = service.storage_dir()
    orphan = store / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"no row names me")
    swept: list[int] = []

    def sweep() -> None:
        with app.app_context():
            swept.append(sweep_unreferenced_files())

    with store_lock(store, shared=True):  # a backup between its snapshot and its copies
        thread = threading.Thread(target=sweep)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()
        assert orphan.exists()
    thread.join(timeout=10)
    assert swept == [1]
    assert not orphan.exists()


def test_keep_rotates_older_backups(desk, tmp_path):
    app, _ = desk
    runner = app.test_cli_runner()
    for _ in range(4):
        result = runner.invoke(args=["backup", "create", "--to", str(tmp_path), "--keep", "2"])
        assert result.exit_code == 0, result.output
    kept = sorted(p.name for p in tmp_path.glob("supportdesk-*"))
    assert len(kept) == 2
    assert "Removed the older backup" in result.output


def test_the_password_of_the_database_is_never_printed(desk, tmp_path, backend,
                                                       new_database_url):  # fmt: skip
    app, _ = desk
    if backend != "postgresql":
        pytest.skip("SQLite URLs hold no password")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", "create", "--to", str(tmp_path / "b")]).exit_code == 0
    (made,) = (tmp_path / "b").glob("supportdesk-*")
    target = sa.make_url(new_database_url()).set(password="s3cret-pw")  # trust ignores it
    result = runner.invoke(args=["backup", "restore", str(made), "--into",
                                 target.render_as_string(hide_password=False),
                                 "--attachments-to", str(tmp_path / "f")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "s3cret-pw" not in result.output
    assert "***" in result.output


def test_a_dump_broken_when_it_was_made_is_found_and_said(backup, new_database_url, backend):
    # The files match the manifest (damage before the checksums were taken): the load or
    # the comparison finds it, and says what became of the target.
    app, folder = backup
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    dump = folder / manifest["database_file"]
    raw = bytearray(dump.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 4096] = b"\0" * 4096
    dump.write_bytes(bytes(raw))
    manifest["files"][manifest["database_file"]] = {
        "sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw)}  # fmt: skip
    manifest["manifest_sha256"] = service._manifest_digest(manifest)
    path.write_text(json.dumps(manifest))
    target = new_database_url()
    restored = _restore(app, folder, target)
    assert restored.exit_code == 1
    if backend == "postgresql":
        said = ("rolled back and the target database holds nothing" in restored.output
                or "differs from the backup; do not use it" in restored.output)  # fmt: skip
        assert said, restored.output
    else:
        assert "was not touched" in restored.output or "cannot be read" in restored.output
        assert _tables(target) == []


def test_a_damaged_sqlite_desk_is_refused_at_backup_time(desk, tmp_path, backend):
    # The online backup copies pages as they are, and every checksum would be taken from
    # the damaged copy: SQLite's own check is what notices, before anything is written.
    if backend != "sqlite":
        pytest.skip("PostgreSQL's pg_dump reads rows, not pages (checked by the restore)")
    app, url = desk
    back_up_one_file(app, tmp_path / "good")  # a whole desk backs up
    path = sa.make_url(url).database
    with app.app_context():
        db.engine.dispose()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    root = connection.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'ix_tickets_live_created_at'"
    ).fetchone()[0]
    connection.close()
    with open(path, "r+b") as raw:  # an index page overwritten: the tables still read
        raw.seek((root - 1) * page_size)
        raw.write(b"\xff" * page_size)
    target = tmp_path / "bad"
    result = app.test_cli_runner().invoke(args=["backup", "create", "--to", str(target)])
    assert result.exit_code == 1
    assert "database is damaged; no backup was written" in result.output
    assert list(target.glob("supportdesk-*")) == []  # nothing half-written either
