"""CSV streaming shared by every export: constant memory, formula cells neutralised."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

FLUSH_BYTES = 64 * 1024
# A spreadsheet runs a cell that starts like a formula (CSV injection); a leading quote
# makes it text. Tab and carriage return count too (some spreadsheets strip them first).
# Full-width forms count: spreadsheets fold them to ASCII. Invisible characters before
# them (a byte-order mark, zero-width spaces and joiners) are skipped by some spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
JOINED = "; "  # how multi-value cells (a ticket's tags) are joined; each part is checked


def _neutral(text: str) -> str:
    return "'" + text if text.lstrip(INVISIBLE).startswith(FORMULA_STARTS) else text


def csv_cell(value: Any, *, joined: bool = False) -> str:
    """Return ``value`` as CSV cell text, neutralised if it would start a formula.

    ``joined``: the cell holds several values joined by :data:`JOINED`; each is checked
    (a spreadsheet may split them into cells of their own).
    """
    if isinstance(value, dict):
        value = json.dumps(value, sort_keys=True)
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    text = "" if value is None else str(value)
    if joined:
        return JOINED.join(_neutral(part) for part in text.split(JOINED))
    return _neutral(text)


def stream_csv(header: Sequence[str], rows: Iterable[Sequence[Any]],
               joined: Iterable[str] = ()) -> Iterator[str]:  # fmt: skip
    """Yield CSV text in chunks of about FLUSH_BYTES: a header line, then ``rows``.

    ``joined`` names the multi-value columns (see :func:`csv_cell`).
    """
    multi = [name in set(joined) for name in header]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v, joined=m) for v, m in zip(row, multi, strict=True)])
        if buffer.tell() > FLUSH_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
