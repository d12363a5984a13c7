"""Tag pages: everyone sees them; admins create, edit and delete."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from supportdesk.db import unit_of_work
from supportdesk.errors import ConflictError, DomainError
from supportdesk.extensions import db
from supportdesk.policy import admin_required
from supportdesk.tags import queries, service
from supportdesk.tags.forms import TagForm
from supportdesk.tags.models import Tag

bp = Blueprint("tags", __name__, url_prefix="/tags")


@bp.get("/")
def index() -> ResponseReturnValue:
    """List tags with how many live tickets carry each."""
    return render_template("tags/index.html", tags=queries.tags_with_counts())


def _get(tag_id: int) -> Tag:
    tag = db.session.get(Tag, tag_id)
    if tag is None:
        abort(404, "There is no such tag.")
    return tag


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create() -> ResponseReturnValue:
    """Create a tag."""
    return _form_page(TagForm(), None)


@bp.route("/<int:tag_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(tag_id: int) -> ResponseReturnValue:
    """Rename, recolour or redescribe a tag."""
    tag = _get(tag_id)
    return _form_page(TagForm(obj=tag), tag)


def _form_page(form: TagForm, tag: Tag | None) -> ResponseReturnValue:
    if form.validate_on_submit():
        values = {
            "name": form.name.data or "",
            "colour": form.colour.data or "",
            "description": form.description.data or "",
        }
        try:
            with unit_of_work():
                if tag is None:
                    saved = service.create_tag(values.pop("name"), **values)
                else:
                    saved = service.update_tag(tag, **values)
        except ConflictError as exc:
            form.name.errors = [*form.name.errors, str(exc)]
        except DomainError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(f"{'Created' if tag is None else 'Saved'} the tag {saved.name}.", "success")
            return redirect(url_for(".index"), code=303)
    code = 422 if form.is_submitted() else 200
    return render_template("tags/form.html", form=form, tag=tag), code


@bp.post("/<int:tag_id>/delete")
@admin_required
def delete(tag_id: int) -> ResponseReturnValue:
    """Delete a tag; one in use asks for confirmation (``confirm=1``) first."""
    tag = _get(tag_id)
    in_use = service.count_tag_links(tag)
    if in_use and request.form.get("confirm") != "1":
        return render_template("tags/confirm_delete.html", tag=tag, in_use=in_use)
    name = tag.name
    with unit_of_work():
        removed = service.delete_tag(tag)
    flash(f"Deleted the tag {name} (removed from {removed} tickets).", "success")
    return redirect(url_for(".index"), code=303)
