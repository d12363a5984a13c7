import io
import re

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from supportdesk.attachments.service import clean_filename, sniff
from supportdesk.extensions import db
from supportdesk.models import Attachment, Comment
from tests.factories import TicketFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def _download(client, attachment_id):
    response = client.get(f"/attachments/{attachment_id}")
    response.get_data()
    response.close()  # the file handle behind the response
    return response


def _upload(client, number, files, body="See attached", **extra):
    data = {"body": body, "attachments": [(io.BytesIO(c), n) for n, c in files], **extra}
    return client.post(f"/tickets/{number}/comments", data=data,
                       content_type="multipart/form-data")  # fmt: skip


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PNG, "image/png"),
        (PDF, "application/pdf"),
        (b"plain log line\nanother\n", "text/plain"),
        ("naïve café\n".encode(), "text/plain"),
        (EXE, None),
        (HTML, None),
        (SVG, None),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 60, None),
        (b"hello \x00 binary", None),
        (b"<?xml version='1.0'?><x/>", None),
    ],
)
def test_sniffing_trusts_content_not_names(content, expected):
    assert sniff(content) == expected


def test_filenames_lose_paths_and_control_characters():
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert clean_filename("a\x00b\nc.txt") == "abc.txt"
    assert clean_filename("") == "attachment"


def test_several_files_on_a_comment_and_download_headers(agent_client):
    ticket = TicketFactory()
    files = [("shot.png", PNG), ("invoice.pdf", PDF), ("app.log", b"ERROR x\n")]
    response = _upload(agent_client, ticket.number, files)
    assert response.status_code == 303
    comment = db.session.scalars(sa.select(Comment)).one()
    files = db.session.scalars(sa.select(Attachment).order_by(Attachment.id)).all()
    assert [(f.filename, f.content_type, f.comment_id) for f in files] == [
        ("shot.png", "image/png", comment.id),
        ("invoice.pdf", "application/pdf", comment.id),
        ("app.log", "text/plain", comment.id),
    ]
    page = agent_client.get(f"/tickets/{ticket.number}")
    assert page.headers["X-DB-Query-Count"] == "8"  # 5 + history, seen, deliveries (no macros)
    assert "invoice.pdf" in page.text

    image = _download(agent_client, files[0].id)
    assert image.status_code == 200
    assert image.data == PNG
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["Content-Disposition"].startswith("inline")
    pdf = _download(agent_client, files[1].id)
    assert pdf.headers["Content-Disposition"].startswith("attachment")
    assert "filename=invoice.pdf" in pdf.headers["Content-Disposition"]
    for download in (image, pdf):
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Cache-Control"] == "no-store"


def test_same_content_is_stored_once(agent_client, app):
    ticket = TicketFactory()
    _upload(agent_client, ticket.number, [("a.png", PNG)])
    _upload(agent_client, ticket.number, [("b.png", PNG)], body="again")
    shas = db.session.scalars(sa.select(Attachment.sha256)).all()
    assert len(shas) == 2
    assert len(set(shas)) == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [("photo.png", EXE), ("page.html", HTML), ("logo.svg", SVG), ("empty.txt", b"")],
)
def test_refused_files_keep_the_comment_text_and_save_nothing(agent_client, name, content):
    ticket = TicketFactory()
    response = _upload(agent_client, ticket.number, [("ok.png", PNG), (name, content)],
                       body="My long explanation")  # fmt: skip
    assert response.status_code == 422
    assert "My long explanation" in response.text
    assert name in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Comment)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


def test_a_file_over_the_limit_is_refused(agent_client, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_ATTACHMENT_MB", 1)
    ticket = TicketFactory()
    big = b"x" * (1024 * 1024 + 1)
    # Encoded in memory: the test client would spool a body this size to an unclosed
    # temporary file of its own.
    boundary, body = encode_multipart({
        "body": "too big", "csrf_token": agent_client.csrf_token(),
        "attachments": FileStorage(io.BytesIO(big), filename="big.log"),
    })  # fmt: skip
    content_type = f"multipart/form-data; boundary={boundary}"
    response = agent_client.post(
        f"/tickets/{ticket.number}/comments", data=body, content_type=content_type
    )
    assert response.status_code == 422
    assert "larger than 1 MB" in response.text


def test_attachments_on_a_new_ticket(agent_client):
    response = agent_client.post(
        "/tickets/new",
        data={
            "requester": "files@example.org",
            "title": "With files",
            "description": "d",
            "status": "open",
            "priority": "low",
            "assignee": "",
            "attachments": [(io.BytesIO(PDF), "spec.pdf")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    attachment = db.session.scalars(sa.select(Attachment)).one()
    assert attachment.comment_id is None
    page = agent_client.get(response.headers["Location"])
    assert "spec.pdf" in page.text


def test_anonymous_users_cannot_download(client, agent_client):
    ticket = TicketFactory()
    _upload(agent_client, ticket.number, [("a.png", PNG)])
    attachment = db.session.scalars(sa.select(Attachment)).one()
    agent_client.post("/logout")
    response = client.get(f"/attachments/{attachment.id}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_files_of_a_deleted_ticket_are_kept_for_admins_only(agent_client, admin, login_as):
    ticket = TicketFactory()
    _upload(agent_client, ticket.number, [("a.png", PNG)])
    attachment = db.session.scalars(sa.select(Attachment)).one()
    agent_client.post(f"/tickets/{ticket.number}/delete")
    assert agent_client.get(f"/attachments/{attachment.id}").status_code == 404
    agent_client.post("/logout")
    login_as(admin)
    assert _download(agent_client, attachment.id).status_code == 200


def test_unknown_attachment_is_404(agent_client):
    assert agent_client.get("/attachments/424242").status_code == 404
    assert re.search("no such attachment", agent_client.get("/attachments/424242").text)
