"""Macro pages: staff see the list; admins create, edit and delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from supportdesk.db import unit_of_work
from supportdesk.errors import DomainError
from supportdesk.macros import placeholders, queries, service
from supportdesk.macros.forms import MacroForm
from supportdesk.macros.models import AssignMode, Macro
from supportdesk.policy import admin_required
from supportdesk.tickets.forms import choices
from supportdesk.tickets.models import TicketPriority, TicketStatus
from supportdesk.tickets.queries import filter_options

bp = Blueprint("macros", __name__, url_prefix="/macros")


@bp.get("/")
def index() -> ResponseReturnValue:
    """List macros with what each one does."""
    options = filter_options()
    return render_template(
        "macros/index.html",
        macros=queries.all_macros(),
        tag_names={o.id: o.label for o in options.tags},
    )


def _get(macro_id: int) -> Macro:
    macro = service.get_macro(macro_id)
    if macro is None:
        abort(404, "There is no such macro.")
    return macro


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create() -> ResponseReturnValue:
    """Create a macro or canned reply."""
    return _form_page(MacroForm(), None)


@bp.route("/<int:macro_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(macro_id: int) -> ResponseReturnValue:
    """Edit a macro (a save over another admin's newer save is refused, text kept)."""
    macro = _get(macro_id)
    form = MacroForm(
        data={
            "name": macro.name,
            "body": macro.body,
            "is_internal": macro.is_internal,
            "set_status": macro.set_status.value if macro.set_status else "",
            "set_priority": macro.set_priority.value if macro.set_priority else "",
            "assign": macro.assign.value,
            "assign_user": macro.assign_user_id,
            "add_tags": macro.add_tag_ids,
            "remove_tags": macro.remove_tag_ids,
            "version": macro.version,
        }
    )
    return _form_page(form, macro)


def _fill_choices(form: MacroForm) -> None:
    options = filter_options()
    form.assign_user.choices = choices([("", "—"), *((o.id, o.label) for o in options.staff)])
    tags = choices((o.id, o.label) for o in options.tags)
    form.add_tags.choices = tags
    form.remove_tags.choices = list(tags)


def _values(form: MacroForm) -> service.MacroValues:
    return service.MacroValues(
        name=form.name.data or "",
        body=form.body.data or "",
        is_internal=bool(form.is_internal.data),
        set_status=TicketStatus(form.set_status.data) if form.set_status.data else None,
        set_priority=TicketPriority(form.set_priority.data) if form.set_priority.data else None,
        assign=AssignMode(form.assign.data),
        assign_user_id=form.assign_user.data,
        add_tag_ids=form.add_tags.data or [],
        remove_tag_ids=form.remove_tags.data or [],
    )


def _form_page(form: MacroForm, macro: Macro | None) -> ResponseReturnValue:
    _fill_choices(form)
    if form.validate_on_submit():
        actor = current_user._get_current_object()
        try:
            with unit_of_work():
                if macro is None:
                    saved = service.create_macro(_values(form), actor=actor)
                else:
                    saved = service.update_macro(
                        macro, _values(form), actor=actor, expected_version=form.version.data
                    )
                name = saved.name
        except service.StaleMacroError as exc:
            form.form_errors.append(str(exc))
            form.version.data, form.version.raw_data = macro.version if macro else None, None
        except service.InvalidMacroError as exc:
            target = getattr(form, exc.field) if exc.field else None
            if target is not None:
                target.errors = [*target.errors, str(exc)]
            else:
                form.form_errors.append(str(exc))
        except DomainError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(f"{'Created' if macro is None else 'Saved'} the macro {name}.", "success")
            return redirect(url_for(".index"), code=303)
    code = 422 if form.is_submitted() else 200
    return render_template(
        "macros/form.html", form=form, macro=macro, placeholders=list(placeholders.help_items()),
        filters=placeholders.FILTERS,
    ), code  # fmt: skip


@bp.post("/<int:macro_id>/delete")
@admin_required
def delete(macro_id: int) -> ResponseReturnValue:
    """Delete a macro."""
    macro = _get(macro_id)
    name = macro.name
    with unit_of_work():
        service.delete_macro(macro)
    flash(f"Deleted the macro {name}.", "success")
    return redirect(url_for(".index"), code=303)


def describe(macro: Macro, tag_names: dict[int, str]) -> list[str]:
    """Return what the macro does, in words, for the macros page."""
    parts: list[str] = []
    if macro.body:
        parts.append("adds an internal note" if macro.is_internal else "adds a public reply")
    if macro.set_status:
        parts.append(f"sets status {macro.set_status.label}")
    if macro.set_priority:
        parts.append(f"sets priority {macro.set_priority.label}")
    assign: dict[AssignMode, Any] = {
        AssignMode.ME: "assigns the agent applying it",
        AssignMode.NOBODY: "unassigns",
        AssignMode.USER: f"assigns {macro.assign_user.full_name}" if macro.assign_user else "",
    }
    if assign.get(macro.assign):
        parts.append(assign[macro.assign])

    def names(ids: list[int]) -> str:
        return ", ".join(tag_names.get(i, f"#{i}") for i in ids)

    if macro.add_tag_ids:
        parts.append(f"adds tags {names(macro.add_tag_ids)}")
    if macro.remove_tag_ids:
        parts.append(f"removes tags {names(macro.remove_tag_ids)}")
    return parts


bp.add_app_template_global(describe, "describe_macro")
