"""Reading a received message: headers, the text a person wrote, the files, the signals.

Parsed with the standard library's ``email`` package under the ``compat32`` policy, the
one that never raises on a malformed header: a message from the wild is read as far as
it can be, and what cannot be read is reported (``defects``), never thrown. Text is
decoded by hand with every charset Python's codecs know (declared ones first; UTF-8 and
Windows-1252 as fallbacks; bytes that still do not decode are replaced). HTML-only mail
is turned into Markdown by markdownify (MIT; html2text does the same under the GPL);
quoted history and signatures of replies are split off by mail-parser-reply, which
knows the "On … wrote:" lines of a dozen languages and Outlook's header blocks.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email
import email.header
import email.utils
import re
import unicodedata
from dataclasses import dataclass, field
from email import errors as email_errors
from email.message import Message
from typing import Any

import bs4
from mailparser_reply import EmailReplyParser
from markdownify import markdownify

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
_REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs", "ja", "zh", "ko"]
_REPLY_PARSER = EmailReplyParser(languages=_REPLY_LANGUAGES)
# Labels some clients declare that Python's codecs call otherwise, or supersets that
# decode what the label's users actually send.
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949", "x-sjis": "shift_jis", "iso-8859-8-i": "iso-8859-8",
    "ansi_x3.4-1968": "ascii", "us-ascii": "ascii", "unicode-1-1-utf-7": "utf-7",
}  # fmt: skip
# Defects that mean the MIME structure itself is broken (the parts cannot be trusted).
STRUCTURE_DEFECTS = (
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.CloseBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.NoBoundaryInMultipartDefect,
)
MAX_PARTS = 200  # a message of more parts is read no further (a zip-bomb of MIME)


class NotMailError(ValueError):
    """The bytes are not a mail message at all (empty, or no header of one)."""


@dataclass
class File:
    """An attachment or inline image of a message."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Parsed:
    """What the desk needs of a received message."""

    headers: Message
    message_id: str | None
    sender_name: str
    sender: str  # the From address as written ("" when there is none)
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    subject: str
    date: dt.datetime | None
    thread_ids: list[str]  # In-Reply-To first, then References, newest first
    text: str
    files: list[File] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    structure_broken: bool = False

    def header(self, name: str) -> str:
        """Return a header's decoded text ("" when absent)."""
        return decode_header(self.headers.get(name))


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` by its declared charset, else UTF-8, else Windows-1252; never raise."""
    names = []
    if charset:
        label = charset.strip().strip('"').lower()
        names.append(_CHARSET_ALIASES.get(label, label))
    names += ["utf-8", "cp1252"]
    for name in names:
        try:
            codecs.lookup(name)
            return data.decode(name)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("utf-8", errors="replace")


def clean(text: str, limit: int | None = None) -> str:
    """Return header text without control characters, whitespace collapsed."""
    text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())
    return text[:limit] if limit else text


def decode_header(value: Any, limit: int | None = None) -> str:
    """Return a header value decoded (RFC 2047 encoded words, raw 8-bit bytes)."""
    if value is None:
        return ""
    try:
        if isinstance(value, email.header.Header):
            chunks = email.header.decode_header(value)
        else:
            text = str(value)
            if any("\udc80" <= ch <= "\udcff" for ch in text):  # raw 8-bit header bytes
                text = decode_bytes(text.encode("ascii", "surrogateescape"), None)
            chunks = email.header.decode_header(text)
        decoded = "".join(
            chunk if isinstance(chunk, str) else decode_bytes(chunk, charset)
            for chunk, charset in chunks
        )
    except (email_errors.HeaderParseError, ValueError, LookupError, AssertionError):
        decoded = str(value).encode("utf-8", "replace").decode("utf-8", "replace")
    return clean(decoded, limit)


def addresses(message: Message, *names: str) -> list[tuple[str, str]]:
    """Return the (name, address) pairs of the named headers, decoded."""
    values = [decode_header(v) for name in names for v in message.get_all(name, [])]
    try:
        pairs = email.utils.getaddresses(values)
    except (ValueError, IndexError, TypeError):
        return []
    return [(clean(n, 120), a.strip()) for n, a in pairs if "@" in a]


def message_ids(text: str) -> list[str]:
    """Return the ``<id@host>`` tokens of a header, in order, without repeats."""
    return list(dict.fromkeys(_MESSAGE_ID.findall(text or "")))


def _date(message: Message) -> dt.datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(decode_header(message.get("Date")))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, AssertionError, LookupError):
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def part_text(part: Message) -> str:
    """Return a text part's content decoded by its charset."""
    return decode_bytes(_payload(part), part.get_content_charset()).replace("\r\n", "\n")


def html_to_text(html: str) -> str:
    """Return Markdown for an HTML body (scripts, styles and images dropped)."""
    soup = bs4.BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title", "meta", "link", "template"]):
        tag.decompose()
    for image in soup("img"):
        alt = clean(str(image.get("alt") or ""), 80)
        image.replace_with(f"[image: {alt}]" if alt else "")
    text = markdownify(str(soup), heading_style="ATX", bullets="-", escape_misc=False)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class _Reader:
    """Collects the text and files of a message, walking its MIME tree."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.files: list[File] = []
        self.parts = 0

    def read(self, part: Message, depth: int = 0) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS or depth > 20:
            return
        kind = part.get_content_type()
        if kind == "message/rfc822":
            self._forwarded(part, depth)
        elif kind.startswith("message/") and part.is_multipart():
            return  # a bounce's delivery-status blocks: read by the bounce check
        elif part.is_multipart():
            self._multipart(part, kind, depth)
        else:
            self._leaf(part, kind)

    def _multipart(self, part: Message, kind: str, depth: int) -> None:
        children = [p for p in part.get_payload() if isinstance(p, Message)]
        if kind == "multipart/alternative":
            chosen = next((p for p in children if p.get_content_type() == "text/plain"), None)
            chosen = chosen or next(
                (p for p in children if p.get_content_type() == "text/html"), None
            )
            if chosen is None and children:
                chosen = children[-1]
            if chosen is not None:
                self.read(chosen, depth + 1)
            # Files inside the other alternatives (a calendar invite's .ics) are kept.
            for child in children:
                if child is not chosen and _filename(child):
                    self.read(child, depth + 1)
            return
        for child in children:
            self.read(child, depth + 1)

    def _forwarded(self, part: Message, depth: int) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            return
        lines = ["---------- Forwarded message ----------"]
        for name in ("From", "Date", "Subject", "To"):
            value = decode_header(inner.get(name))
            if value:
                lines.append(f"{name}: {value}")
        self.texts.append("\n".join(lines))
        self.read(inner, depth + 1)

    def _leaf(self, part: Message, kind: str) -> None:
        disposition = (part.get_content_disposition() or "").lower()
        filename = _filename(part)
        if kind in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            text = part_text(part)
            self.texts.append(html_to_text(text) if kind == "text/html" else text)
            return
        if kind in ("message/delivery-status", "text/rfc822-headers"):
            return  # the machine-readable parts of a bounce
        data = _payload(part)
        if not data:
            return
        if not filename:
            content_id = decode_header(part.get("Content-ID")).strip("<>").split("@", 1)[0]
            stem = re.sub(r"[^\w.-]", "_", content_id)[:60] or f"part-{len(self.files) + 1}"
            extension = {"text/calendar": ".ics", "image/png": ".png", "image/jpeg": ".jpg",
                         "image/gif": ".gif"}.get(kind, "")  # fmt: skip
            filename = stem if stem.endswith(extension) else stem + extension
        self.files.append(File(filename, kind, data))


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()  # RFC 2231 (filename*=) collapsed by the email package
    except (ValueError, LookupError, TypeError, AssertionError):
        name = None
    return decode_header(name, 255) if name else ""


def parse(raw: bytes) -> Parsed:
    """Read a message's headers, body and files.

    :raises NotMailError: empty input, or nothing that looks like a header.
    """
    head = raw[:4096].lstrip()
    if not head or not re.match(rb"^[!-9;-~]+:", head):
        raise NotMailError("not a mail message: it does not start with a header")
    message = email.message_from_bytes(raw)
    sender_pairs = addresses(message, "From") or addresses(message, "Sender")
    sender_name, sender = sender_pairs[0] if sender_pairs else ("", "")
    reader = _Reader()
    reader.read(message)
    defects = [type(d).__name__ for part in message.walk() for d in part.defects]
    broken = any(isinstance(d, STRUCTURE_DEFECTS) for part in message.walk()
                 for d in part.defects)  # fmt: skip
    in_reply_to = message_ids(decode_header(message.get("In-Reply-To")))
    references = message_ids(" ".join(decode_header(v) for v in message.get_all("References", [])))
    ids = message_ids(decode_header(message.get("Message-ID")))
    return Parsed(
        headers=message,
        message_id=ids[0] if ids else None,
        sender_name=sender_name,
        sender=sender,
        to=addresses(message, "To"),
        cc=addresses(message, "Cc"),
        subject=decode_header(message.get("Subject"), 300),
        date=_date(message),
        thread_ids=list(dict.fromkeys(in_reply_to + list(reversed(references)))),
        text="\n\n".join(t.strip("\n") for t in reader.texts if t.strip()).strip(),
        files=reader.files,
        defects=defects,
        structure_broken=broken,
    )


def split_reply(text: str) -> tuple[str, str]:
    """Return (what the person wrote, the quoted history and signature after it).

    When the parser finds nothing above the quote (a bottom-post, or only a quote),
    the whole text is the reply.
    """
    try:
        replies = _REPLY_PARSER.read(text).replies
        latest = (replies[0].body or "").strip() if replies else ""
    except (re.error, IndexError, ValueError):
        latest = ""
    if not latest:
        return text, ""
    # Keep the reply as written where the parser's text is found in it (it may have
    # normalised whitespace; then its text is the reply and the whole is the rest).
    cut = text.find(latest)
    if cut < 0:
        return latest, text
    end = cut + len(latest)
    return text[:end].rstrip(), text[end:].strip()
