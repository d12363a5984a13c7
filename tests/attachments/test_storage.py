"""Attachments kept in the database (#21, shared attachments): upload, streamed download,
one copy per content, the sweep, the migration between stores, mail and backups."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from supportdesk.attachments import service
from supportdesk.attachments.models import Attachment, AttachmentBlob
from supportdesk.extensions import db
from tests.factories import TicketFactory
from tests.test_backup import back_up_one_file

BIG = (b"0123456789abcdef" * 65536) * 2 + b"tail"  # 2 MiB + 4 bytes: three chunks


@pytest.fixture
def database_storage(app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "ATTACHMENT_STORAGE", "database")
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(tmp_path / "files"))
    return tmp_path / "files"


def _upload(client, number, name, content):
    # Encoded here, in memory: werkzeug's test client would spool a body this large to a
    # temporary file that nobody closes.
    fields = {"body": "See attached", "csrf_token": client.csrf_token(),
              "attachments": FileStorage(io.BytesIO(content), name)}  # fmt: skip
    boundary, body = encode_multipart(fields)
    response = client.post(f"/tickets/{number}/comments", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip
    assert response.status_code == 303, response.text[:300]


def _chunks(sha: str) -> list[int]:
    return list(db.session.scalars(sa.select(AttachmentBlob.chunk).where(
        AttachmentBlob.sha256 == sha).order_by(AttachmentBlob.chunk)))  # fmt: skip


def test_a_file_is_stored_in_chunks_and_streamed_back(agent_client, database_storage):
    ticket = TicketFactory()
    _upload(agent_client, ticket.number, "big.log", BIG)
    attachment = db.session.scalars(sa.select(Attachment)).one()
    sha = hashlib.sha256(BIG).hexdigest()
    assert attachment.sha256 == sha
    assert _chunks(sha) == [0, 1, 2]
    assert not any(database_storage.glob("*/*"))  # nothing in the folder
    response = agent_client.get(f"/attachments/{attachment.id}")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(BIG))
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["ETag"].strip('"') == sha
    assert response.data == BIG
    response.close()


def test_the_same_content_is_stored_once(agent_client, database_storage):
    ticket = TicketFactory()
    _upload(agent_client, ticket.number, "a.txt", b"same bytes\n")
    _upload(agent_client, ticket.number, "b.txt", b"same bytes\n")
    sha = hashlib.sha256(b"same bytes\n").hexdigest()
    assert len(db.session.scalars(sa.select(Attachment)).all()) == 2
    assert _chunks(sha) == [0]
    assert service.read_file(sha) == b"same bytes\n"


def test_the_sweep_removes_blobs_no_attachment_names(agent_client, database_storage):
    ticket = TicketFactory()
    _upload(agent_client, ticket.number, "keep.txt", b"keep me\n")
    db.session.add(AttachmentBlob(sha256="f" * 64, chunk=0, data=b"orphan"))
    db.session.flush()
    assert service.sweep_unreferenced_files() == 1
    assert _chunks("f" * 64) == []
    assert _chunks(hashlib.sha256(b"keep me\n").hexdigest()) == [0]


def test_migrating_files_into_the_database_and_back(app, agent_client, runner, monkeypatch,
                                                     tmp_path):  # fmt: skip
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(tmp_path / "files"))
    ticket = TicketFactory()
    contents = [b"first file\n", BIG, b"third\n"]
    for n, content in enumerate(contents):
        _upload(agent_client, ticket.number, f"f{n}.txt", content)  # into the folder
    hashes = [hashlib.sha256(c).hexdigest() for c in contents]
    assert all(_chunks(sha) == [] for sha in hashes)

    moved = runner.invoke(args=["attachments", "migrate", "--to", "database", "--batch-size", "2"])
    assert moved.exit_code == 0, moved.output
    assert "3 file(s) copied to the database, 0 there already, 0 problem(s)." in moved.output
    again = runner.invoke(args=["attachments", "migrate", "--to", "database"])
    assert "0 file(s) copied to the database, 3 there already" in again.output  # resumable

    # Switched: downloads come from the database even with the folder gone.
    monkeypatch.setitem(app.config, "ATTACHMENT_STORAGE", "database")
    for path in (tmp_path / "files").glob("*/*"):
        path.unlink()
    attachment = db.session.scalars(sa.select(Attachment).where(Attachment.sha256 == hashes[1])
                                    ).one()  # fmt: skip
    download = agent_client.get(f"/attachments/{attachment.id}")
    assert download.data == BIG
    download.close()

    back = runner.invoke(args=["attachments", "migrate", "--to", "filesystem"])
    assert back.exit_code == 0, back.output
    assert "3 file(s) copied to the filesystem" in back.output
    for sha, content in zip(hashes, contents, strict=True):
        assert service.stored_path(sha).read_bytes() == content


def test_a_damaged_or_missing_file_is_named_and_nothing_bad_is_copied(
    app, agent_client, runner, monkeypatch, tmp_path
):
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(tmp_path / "files"))
    ticket = TicketFactory()
    _upload(agent_client, ticket.number, "good.txt", b"good\n")
    _upload(agent_client, ticket.number, "bad.txt", b"bad\n")
    _upload(agent_client, ticket.number, "gone.txt", b"gone\n")
    bad, gone = hashlib.sha256(b"bad\n").hexdigest(), hashlib.sha256(b"gone\n").hexdigest()
    service.stored_path(bad).write_bytes(b"bit rot\n")
    service.stored_path(gone).unlink()
    result = runner.invoke(args=["attachments", "migrate", "--to", "database"])
    assert result.exit_code == 1
    assert f"missing from both stores: {gone}" in result.output
    assert "damaged:" in result.output
    assert _chunks(bad) == []
    assert _chunks(hashlib.sha256(b"good\n").hexdigest()) == [0]


def test_a_database_desk_still_reads_older_files_from_the_folder(
    app, agent_client, monkeypatch, tmp_path
):
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(tmp_path / "files"))
    ticket = TicketFactory()
    _upload(agent_client, ticket.number, "old.txt", b"from before the switch\n")
    monkeypatch.setitem(app.config, "ATTACHMENT_STORAGE", "database")
    attachment = db.session.scalars(sa.select(Attachment)).one()
    download = agent_client.get(f"/attachments/{attachment.id}")
    assert download.data == b"from before the switch\n"
    download.close()


def test_a_backup_of_a_database_desk_carries_the_files_in_its_dump(desk, tmp_path,
                                                                   new_database_url):  # fmt: skip
    app, _ = desk
    app.config["ATTACHMENT_STORAGE"] = "database"
    folder = back_up_one_file(app, tmp_path / "b")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["attachment_storage"] == "database"
    assert manifest["tables"]["attachment_blobs"]["rows"] == 1
    assert not any(folder.glob("attachments/*/*"))
    restored = app.test_cli_runner().invoke(args=[
        "backup", "restore", str(folder), "--into", new_database_url(),
        "--attachments-to", str(tmp_path / "unused")])  # fmt: skip
    assert restored.exit_code == 0, restored.output
