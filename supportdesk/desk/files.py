"""Downloading attachments (staff only, never rendered by the browser as a page)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, abort, send_file
from flask.typing import ResponseReturnValue
from flask_login import current_user

from supportdesk.attachments.models import Attachment
from supportdesk.attachments.service import open_file
from supportdesk.extensions import db
from supportdesk.tickets.models import Ticket

bp = Blueprint("attachments", __name__, url_prefix="/attachments")


@bp.get("/<int:attachment_id>")
def download(attachment_id: int) -> ResponseReturnValue:
    """Send a file: inline only for raster images, as a download otherwise."""
    row = db.session.execute(
        sa.select(Attachment, Ticket.deleted_at)
        .join(Ticket, Ticket.id == Attachment.ticket_id)
        .where(Attachment.id == attachment_id)
    ).one_or_none()
    if row is None:
        abort(404, "There is no such attachment.")
    attachment, deleted_at = row
    if deleted_at is not None and not current_user.is_admin:
        abort(404, "There is no such attachment.")  # its ticket is in the trash
    stored = open_file(attachment.sha256)
    if stored is None:
        abort(404, "The file is missing from storage; ask an admin to check the server.")
    response = send_file(
        stored,
        mimetype=attachment.content_type,
        as_attachment=not attachment.is_inline_image,
        download_name=attachment.download_name,
        conditional=isinstance(stored, Path),  # ranges from a file; a stream from the database
        etag=attachment.sha256,
        max_age=0,
    )
    if not isinstance(stored, Path):
        response.content_length = attachment.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
