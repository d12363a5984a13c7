"""Files attached to tickets and comments; the bytes live on disk by content hash."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportdesk.db import Base, TimestampMixin
from supportdesk.users.models import User


class Attachment(TimestampMixin, Base):
    """One uploaded file. Several rows may share one stored file (same content)."""

    __tablename__ = "attachments"
    __table_args__ = (
        sa.CheckConstraint("size >= 0", name="size_not_negative"),
        sa.Index("ix_attachments_ticket_id", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    uploader_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)

    uploader: Mapped[User] = relationship(lazy="raise_on_sql")

    @property
    def is_inline_image(self) -> bool:
        """Whether browsers may show it inline (raster images only; never SVG)."""
        return self.content_type in INLINE_TYPES

    @property
    def download_name(self) -> str:
        """The name a download is saved under: its extension always fits its content.

        ``invoice.html`` that was sniffed as plain text downloads as ``invoice.html.txt``
        (likewise ``.bat``, ``.js``, ``.hta``, ``.svg``): the operating system must not
        open it as something it is not. The page shows the name as uploaded.
        """
        allowed = EXTENSIONS.get(self.content_type, ())
        stem, dot, extension = self.filename.rpartition(".")
        if dot and stem and extension.lower() in allowed:
            return self.filename
        return f"{self.filename}.{allowed[0]}" if allowed else f"{self.filename}.bin"


INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Per accepted type: the extensions a download may keep (the first is added otherwise).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "text/plain": ("txt", "log", "csv", "tsv", "md", "ics", "eml", "json", "yaml", "yml"),
    "image/png": ("png",),
    "image/jpeg": ("jpg", "jpeg"),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "application/pdf": ("pdf",),
    "application/zip": ("zip",),
    "application/gzip": ("gz", "tgz"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
}


class AttachmentBlob(Base):
    """One chunk of a stored file when ``SUPPORTDESK_ATTACHMENT_STORAGE=database``.

    Content-addressed like the file store (one copy per SHA-256, shared by every row
    with that content), cut into 1 MiB chunks so that a download streams chunk by chunk
    and never holds a whole file in memory. Written in the upload's own transaction: a
    rolled-back upload leaves no orphan behind.
    """

    __tablename__ = "attachment_blobs"

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    chunk: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
