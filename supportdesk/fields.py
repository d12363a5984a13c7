"""Form fields shared by every feature's forms (plumbing: imports no feature)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from wtforms import DateField, DateTimeLocalField
from wtforms.validators import ValidationError

from supportdesk.rendering import reader_zone

# The dates a desk's filters can mean. Outside them, adding a day (the end of a range) or
# a time zone overflows Python's dates (year 1 and 9999 are the limits): the 500s found
# by the review (created_to=9999-12-31, date_to=0001-01-01).
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(9998, 12, 31)


def _in_range(form: Any, field: Any) -> None:
    if field.data is not None and not FIRST_DAY <= field.data <= LAST_DAY:
        field.data = None  # ignored, and named by the error
        raise ValidationError(f"Give a date between {FIRST_DAY} and {LAST_DAY}.")


class DayField(DateField):
    """A date (YYYY-MM-DD) within the range a filter can use; every date filter is one."""

    def __init__(self, label: str, validators: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(label, validators=[*(validators or []), _in_range], **kwargs)


class LocalDateTimeField(DateTimeLocalField):
    """A date and time typed in the reader's own time zone (``<input type=datetime-local>``).

    WTForms attaches the zone (``tz``, asked per request: the reader's profile) and shows
    an aware value in it again; ``data`` is timezone-aware, or None when left empty.
    """

    data: dt.datetime | None

    def __init__(self, label: str, validators: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(
            label, validators=validators, tz=reader_zone,
            format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
            invalid_value_message="Give a date and time, such as 2026-12-01 14:30.",
            **kwargs,
        )  # fmt: skip

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Parse the typed time; refuse one outside the years a due time can mean."""
        super().process_formdata(valuelist)
        if self.data is not None and not FIRST_DAY.year < self.data.year < LAST_DAY.year:
            self.data = None
            raise ValueError(f"Give a time between {FIRST_DAY.year + 1} and {LAST_DAY.year - 1}.")
