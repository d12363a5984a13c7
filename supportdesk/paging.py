"""Keyset paging: one signed, typed cursor for every keyset-paged page and API list.

A cursor carries the sort key of the row to continue after (or before), plus whatever
the page needs to check that the cursor belongs to it (its sort and direction). It is
signed with the app's secret, so a forged or altered cursor is refused with a message,
never used.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

DAMAGED = "The page link was damaged; showing the first page."
Kind = str | Callable[[Any], Any]  # "datetime", "int", "float", or a parser such as an enum


class InvalidCursorError(ValueError):
    """The paging cursor was altered, or belongs to another page or sort."""


def _serializer(secret: str, scope: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=f"supportdesk.{scope}.cursor")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def encode_cursor(secret: str, key: Sequence[Any], *, scope: str, **meta: str) -> str:
    """Return a signed cursor holding a row's sort ``key`` and the page's ``meta``."""
    return _serializer(secret, scope).dumps({**meta, "k": [_plain(v) for v in key]})


def decode_cursor(
    secret: str,
    token: str,
    *,
    scope: str,
    kinds: Sequence[Kind],
    expect: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[Any]]:
    """Return ``(meta, key values)`` of a cursor made by :func:`encode_cursor`.

    :param kinds: what each key value is, to read it back typed.
    :param expect: meta values the cursor must carry (e.g. the page's sort).
    :raises InvalidCursorError: the cursor is forged, damaged, or for another sort.
    """
    try:
        data = _serializer(secret, scope).loads(token)
    except BadSignature:
        raise InvalidCursorError(DAMAGED) from None
    if not isinstance(data, dict):
        raise InvalidCursorError(DAMAGED)
    if any(data.get(name) != value for name, value in (expect or {}).items()):
        raise InvalidCursorError("The page link belongs to another sort; showing the first page.")
    values = data.pop("k", None)
    if not isinstance(values, list) or len(values) != len(kinds):
        raise InvalidCursorError(DAMAGED)
    try:
        parsed = [_parse(kind, value) for kind, value in zip(kinds, values, strict=True)]
    except (TypeError, ValueError):
        raise InvalidCursorError(DAMAGED) from None
    return data, parsed


def _parse(kind: Kind, value: Any) -> Any:
    if callable(kind):
        return kind(value)
    if kind == "datetime":
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed
    if isinstance(value, bool):
        raise TypeError("not a number")
    if kind == "float":
        if not isinstance(value, int | float):
            raise TypeError("not a number")
        return float(value)
    if not isinstance(value, int):
        raise TypeError("not an integer")
    return value
