"""The bulk bar's form: the selection as the list showed it, one action and its value."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, SelectMultipleField, StringField
from wtforms.validators import Optional, ValidationError

from supportdesk.attachments import service as attachments
from supportdesk.db import parse_id
from supportdesk.desk.service import TicketValues
from supportdesk.tickets import conflicts
from supportdesk.tickets.forms import QuickUpdateForm, TicketFilterForm, TicketForm
from supportdesk.tickets.models import Ticket, TicketPriority, TicketStatus
from supportdesk.tickets.rules import UNSET

# The list sends one select per kind of value (a tag id must never be read as a person's
# id); scripts may send a plain "value".
VALUE_FIELD = {"status": "value_status", "assign": "value_person", "add_tag": "value_tag",
               "remove_tag": "value_tag", "macro": "value_macro"}  # fmt: skip
_VERSION_KEY = re.compile(r"v(\d{1,12})", re.ASCII)


class IdListField(SelectMultipleField):
    """Repeated ``ids``: well-formed ids are kept, anything else is dropped."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Keep the values that are ids."""
        self.data = [i for v in valuelist if (i := parse_id(str(v))) is not None]

    def pre_validate(self, form: Any) -> None:
        """Accept any id: whether it names a ticket is the service's question."""


class VersionsField(Field):
    """``v<id>=<version>`` pairs: the version of each ticket when the list was shown."""

    def process(self, formdata: Any, data: Any = None, extra_filters: Any = None) -> None:
        """Read every ``v<id>`` key of the form data."""
        self.process_errors: list[Any] = []
        self.data: dict[int, int] = {}
        for key in formdata or ():
            match = _VERSION_KEY.fullmatch(key)
            if match and (version := parse_id(formdata.get(key, ""))) is not None:
                self.data[int(match.group(1))] = version


class BulkForm(FlaskForm):
    """A bulk request from the list (POST /tickets/bulk)."""

    ids = IdListField()
    versions = VersionsField()
    action = StringField(validators=[Optional()])
    value = StringField(validators=[Optional()])
    value_status = StringField(validators=[Optional()])
    value_person = StringField(validators=[Optional()])
    value_tag = StringField(validators=[Optional()])
    value_macro = StringField(validators=[Optional()])
    loaded_at = HiddenField()
    select_all_matching = HiddenField()

    def validate_loaded_at(self, field: HiddenField) -> None:
        """Refuse a time without a zone (an "all matching" selection then asks for a reload)."""
        if field.data and self.loaded_time() is None:
            raise ValidationError("The list's time was damaged.")

    def loaded_time(self) -> dt.datetime | None:
        """Return when the list was loaded, or None when unknown or damaged."""
        try:
            loaded = dt.datetime.fromisoformat(self.loaded_at.data or "")
        except ValueError:
            return None
        return loaded if loaded.tzinfo is not None else None

    def chosen_value(self) -> str:
        """Return the value for the chosen action (a plain ``value`` wins)."""
        name = VALUE_FIELD.get(self.action.data or "")
        return self.value.data or (self[name].data if name else "") or ""

    @property
    def all_matching(self) -> bool:
        """Whether the request is for every ticket the filters match."""
        return self.select_all_matching.data == "1"


def list_filters(formdata: Any) -> TicketFilterForm:
    """Return the list's filter form read from the bulk request (its hidden fields)."""
    return TicketFilterForm(formdata=formdata, meta={"csrf": False})


def accept_uploads(field: Any) -> list[attachments.PendingFile] | None:
    """Check every uploaded file; on a refusal add the error to ``field`` and return None."""
    limit = current_app.config["MAX_ATTACHMENT_MB"] * 1024 * 1024
    pending: list[attachments.PendingFile] = []
    for upload in field.data or []:
        if not getattr(upload, "filename", None):
            continue  # an empty file input
        try:
            pending.append(attachments.accept_upload(upload.filename, upload.stream,
                                                     max_bytes=limit))  # fmt: skip
        except attachments.RejectedFileError as exc:
            attachments.discard(pending)
            field.errors = [*field.errors, f"{exc} Nothing was saved; choose the files again."]
            return None
    return pending


def quick_values(quick: QuickUpdateForm, ticket: Ticket) -> TicketValues:
    """Return the side panel's values as a whole edit (the fields it lacks stay as they are)."""
    return TicketValues(
        title=ticket.title, description=ticket.description,
        status=TicketStatus(quick.status.data), assignee_id=quick.assignee.data,
        priority=TicketPriority(quick.priority.data) if quick.priority.data else ticket.priority,
        tag_ids=quick.tags.data if quick.tags_shown.data else [t.id for t in ticket.tags],
        requester=conflicts.requester_text(ticket), cc=conflicts.cc_text(ticket.ccs),
        due=quick.due.data if quick.due.raw_data else UNSET,
    )  # fmt: skip


def invalid_quick_update(quick: QuickUpdateForm) -> str:
    """Return what was wrong with the side panel's values (nothing of it was saved)."""
    problems = [f"{quick[name].label.text}: {errors[0]}" for name, errors in quick.errors.items()
                if name in quick.data and errors]  # fmt: skip
    detail = " ".join(problems) or "A value was not valid."
    return f"The side panel was not saved. {detail}"


def ticket_values(form: TicketForm) -> TicketValues:
    """Return the ticket form's values, typed (a field the POST lacked is None)."""
    return TicketValues(
        title=form.title.data or "", description=form.description.data or "",
        status=TicketStatus(form.status.data), priority=TicketPriority(form.priority.data),
        assignee_id=form.assignee.data, tag_ids=form.tags.data or [],
        new_tag_names=form.new_tags.data or "",
        requester=(form.requester.data or "") if form.requester.raw_data else None,
        cc=(form.cc.data or "") if form.cc.raw_data else None,
        due=form.due.data if form.due.raw_data else UNSET,
    )  # fmt: skip
